"""Reading what an export needs, as a stream of per-item bundles.

Items are read through a server-side cursor (`.iterator(chunk_size=...)`), ordered
by prompt so all items of a prompt are adjacent (the redaction cache hits, and
per-prompt de-duplication needs no global memory). For each chunk of items one
query each fetches prompts, responses, annotations, reviews and (when the quality
app has them) aggregates. Memory is bounded by the chunk size, never by the project.

Filters applied here: snapshot instant, gold, unresolved flags, surplus annotations,
suspended annotators, annotations rejected by a reviewer, guideline version, date range.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from django.apps import apps as django_apps
from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Annotation, Flag, Review, ReviewDecision
from apps.exports.aggregation import Aggregate
from apps.exports.options import ExportOptions
from apps.items.models import Generation, Item, ItemGeneration, Prompt
from apps.projects.models import Project

CHUNK_SIZE = 2000


@dataclass(slots=True)
class Response:
    id: int
    model: str
    text: str


@dataclass(slots=True)
class AnnotationRow:
    id: int
    annotator_id: int
    answers: dict[str, Any]
    guideline_version: int
    # Read for raw exports only.
    time_spent_ms: int = 0
    submitted_at: datetime | None = None
    too_fast: bool = False


@dataclass(slots=True)
class Bundle:
    item_id: int
    prompt_id: int
    prompt_hash: str
    prompt_text: str
    prompt_messages: list[dict[str, Any]] | None
    is_gold: bool
    responses: list[Response]
    annotations: list[AnnotationRow]
    review: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    aggregate: Aggregate | None = None
    # Personal data the privacy scan stored: per generation id, and per prompt message index
    # (None: the prompt's plain text). (start, end, type) over the original text.
    pii_generations: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)
    pii_prompt: dict[int | None, list[tuple[int, int, str]]] = field(default_factory=dict)
    # Filled by the pipeline: harmful spans per target ("prompt" or a generation id).
    harm: dict[Any, list[tuple[int, int, str]]] = field(default_factory=dict)

    @property
    def generation_ids(self) -> list[int]:
        return [r.id for r in self.responses]


def quality_aggregate_model() -> Any | None:
    """apps.quality's ItemAggregate when that app provides it (built in parallel; optional)."""
    try:
        return django_apps.get_model("quality", "ItemAggregate")
    except LookupError:
        return None


def _day_start(value: str) -> datetime:
    return timezone.make_aware(datetime.combine(date.fromisoformat(value), datetime.min.time()))


def annotation_queryset(project: Project, options: ExportOptions, snapshot_at: datetime) -> QuerySet[Annotation]:
    annotations = Annotation.objects.filter(project=project, surplus=False, submitted_at__lte=snapshot_at)
    annotations = annotations.exclude(
        Exists(Review.objects.filter(annotation=OuterRef("pk"), decision=ReviewDecision.REJECT))
    )
    if options.exclude_suspended:
        suspended = ProjectMembership.objects.filter(project=project, suspended_at__isnull=False).values("user_id")
        annotations = annotations.exclude(annotator_id__in=suspended)
    if options.guideline_version:
        annotations = annotations.filter(guideline_version=options.guideline_version)
    if options.date_from:
        annotations = annotations.filter(submitted_at__gte=_day_start(options.date_from))
    if options.date_to:
        annotations = annotations.filter(submitted_at__lt=_day_start(options.date_to) + timedelta(days=1))
    return annotations


def item_queryset(project: Project, options: ExportOptions, snapshot_at: datetime) -> QuerySet[Item]:
    items = Item.objects.filter(project=project, created_at__lte=snapshot_at)
    if options.exclude_gold:
        items = items.filter(is_gold=False)
    if options.exclude_flagged:
        items = items.exclude(Exists(Flag.objects.filter(item=OuterRef("pk"), resolved_at__isnull=True)))
    # Only items with at least one annotation that passes the filters: nothing to compile otherwise.
    return items.filter(Exists(annotation_queryset(project, options, snapshot_at).filter(item=OuterRef("pk"))))


def uses_quality_aggregates(options: ExportOptions) -> bool:
    """The quality app aggregates all valid annotations; with a narrower annotation filter we vote ourselves."""
    return (
        quality_aggregate_model() is not None
        and options.exclude_suspended
        and not options.guideline_version
        and not options.date_from
        and not options.date_to
    )


class ChunkQuery:
    """An ORM query compiled to SQL once, then run per chunk with the chunk's ids as one array.

    Compiling `filter(item_id__in=[...1000 ids])` for every chunk, and the planner's handling
    of a 1000-literal IN list, cost more than the queries themselves at a million rows;
    `= ANY(%s)` with an array parameter is one bind value.
    """

    _SENTINEL = object()

    def __init__(self, queryset: QuerySet[Any], column: str, json_columns: tuple[int, ...] = ()):
        table = queryset.model._meta.db_table
        condition = RawSQL(f'"{table}"."{column}" = ANY(%s::bigint[])', (self._SENTINEL,), output_field=BooleanField())
        self.sql, params = queryset.filter(condition).query.sql_with_params()
        self.params = list(params)
        self.slot = next(i for i, p in enumerate(self.params) if p is self._SENTINEL)
        self.json_columns = json_columns

    def rows(self, ids: list[int]) -> list[tuple[Any, ...]]:
        params = list(self.params)
        # One array literal: parsed as a single constant, cheaper than ARRAY[...] of 2000 values.
        params[self.slot] = "{" + ",".join(map(str, ids)) + "}"
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if not self.json_columns:
            return rows
        decoded = []
        for row in rows:
            row = list(row)
            for index in self.json_columns:
                if isinstance(row[index], str):
                    row[index] = orjson.loads(row[index])
            decoded.append(tuple(row))
        return decoded


class ChunkLoader:
    """Everything one chunk of items needs, in one query per table."""

    def __init__(self, project: Project, options: ExportOptions, snapshot_at: datetime):
        # Raw exports need every annotation field; the compilers only read answers and annotators.
        self.full = options.kind == "raw"
        columns = ["item_id", "id", "annotator_id", "answers", "guideline_version"]
        if self.full:
            columns += ["time_spent_ms", "submitted_at", "too_fast"]
        self.annotations = ChunkQuery(
            annotation_queryset(project, options, snapshot_at).order_by("item_id", "id").values_list(*columns),
            "item_id", (3,))
        self.prompts = ChunkQuery(Prompt.objects.values_list("id", "text", "messages", "content_hash"), "id", (2,))
        self.links = ChunkQuery(ItemGeneration.objects.order_by("item_id", "position")
                                .values_list("item_id", "generation_id"), "item_id")
        self.generations = ChunkQuery(Generation.objects.values_list("id", "model_name", "text"), "id")
        self.reviews = ChunkQuery(
            Review.objects.filter(decision__in=[ReviewDecision.ACCEPT, ReviewDecision.CORRECT])
            .order_by("item_id", "created_at", "id").values_list("item_id", "decision", "answers", "annotation_id"),
            "item_id", (2,))
        self.pii = None
        if options.redact_pii and options.pii_source == "scan":
            from apps.privacy.models import PiiSpan

            spans = PiiSpan.objects.values_list("prompt_id", "message_index", "generation_id", "start", "end", "type")
            self.pii = (ChunkQuery(spans, "prompt_id"), ChunkQuery(spans, "generation_id"))
        self.quality = None
        self.quality_fields: list[str] = []
        if uses_quality_aggregates(options):
            model = quality_aggregate_model()
            names = {f.name for f in model._meta.get_fields()}
            self.quality_fields = [f for f in ("answers", "confidence", "min_confidence", "agreement",
                                               "annotation_count", "reviewed") if f in names]
            self.quality = ChunkQuery(model.objects.values_list("item_id", *self.quality_fields), "item_id",
                                      tuple(i + 1 for i, f in enumerate(self.quality_fields)
                                            if f in ("answers", "confidence")))

    def fetch(self, chunk: list[tuple[int, int, bool]]) -> dict[str, Any]:
        """All queries of one chunk (may run in a prefetch thread, on that thread's connection)."""
        item_ids = [row[0] for row in chunk]
        links = self.links.rows(item_ids)
        prompt_ids = sorted({row[1] for row in chunk})
        generation_ids = sorted({g for _, g in links})
        return {
            "prompts": self.prompts.rows(prompt_ids),
            "links": links,
            "generations": self.generations.rows(generation_ids),
            "pii_prompts": self.pii[0].rows(prompt_ids) if self.pii is not None else [],
            "pii_generations": self.pii[1].rows(generation_ids) if self.pii is not None else [],
            "annotations": self.annotations.rows(item_ids),
            "reviews": self.reviews.rows(item_ids),
            "quality": self.quality.rows(item_ids) if self.quality is not None else [],
        }

    def load(self, chunk: list[tuple[int, int, bool]], fetched: dict[str, Any] | None = None) -> Iterator[Bundle]:
        fetched = fetched if fetched is not None else self.fetch(chunk)
        item_ids = [row[0] for row in chunk]
        prompts = {row[0]: row[1:] for row in fetched["prompts"]}
        links: dict[int, list[int]] = defaultdict(list)
        for item_id, generation_id in fetched["links"]:
            links[item_id].append(generation_id)
        generations = {pk: Response(pk, model, text) for pk, model, text in fetched["generations"]}
        per_item: dict[int, list[AnnotationRow]] = defaultdict(list)
        for row in fetched["annotations"]:
            per_item[row[0]].append(AnnotationRow(*row[1:]))
        # The latest accept/correct decision per item wins.
        reviews = {item_id: {"decision": decision, "answers": answers, "annotation_id": annotation_id}
                   for item_id, decision, answers, annotation_id in fetched["reviews"]}
        prompt_pii: dict[int, dict[int | None, list[tuple[int, int, str]]]] = defaultdict(lambda: defaultdict(list))
        generation_pii: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        for prompt_id, index, _, start, end, kind in fetched["pii_prompts"]:
            prompt_pii[prompt_id][index].append((start, end, kind))
        for _, _, generation_id, start, end, kind in fetched["pii_generations"]:
            generation_pii[generation_id].append((start, end, kind))
        quality = {row[0]: dict(zip(self.quality_fields, row[1:], strict=True)) for row in fetched["quality"]}
        del item_ids
        for item_id, prompt_id, is_gold in chunk:
            text, messages, content_hash = prompts[prompt_id]
            responses = [generations[g] for g in links.get(item_id, ()) if g in generations]
            yield Bundle(
                item_id=item_id,
                prompt_id=prompt_id,
                prompt_hash=content_hash,
                prompt_text=text,
                prompt_messages=messages or None,
                is_gold=is_gold,
                responses=responses,
                annotations=per_item.get(item_id, []),
                review=reviews.get(item_id),
                quality=quality.get(item_id),
                pii_generations={r.id: generation_pii[r.id] for r in responses if r.id in generation_pii},
                pii_prompt=prompt_pii.get(prompt_id, {}),
            )


def iter_bundles(
    project: Project,
    options: ExportOptions,
    snapshot_at: datetime,
    *,
    chunk_size: int = CHUNK_SIZE,
    on_chunk: Callable[[int], None] | None = None,
    prefetch: bool = True,
) -> Iterator[Bundle]:
    rows = (
        item_queryset(project, options, snapshot_at)
        .order_by("prompt_id", "id")
        .values_list("id", "prompt_id", "is_gold")
    )
    loader = ChunkLoader(project, options, snapshot_at)
    chunks = _chunked(rows.iterator(chunk_size=chunk_size), chunk_size)
    if connection.in_atomic_block or not prefetch:
        # Inside a transaction (tests) another connection would not see its rows.
        for chunk in chunks:
            yield from loader.load(chunk)
            if on_chunk:
                on_chunk(len(chunk))
        return
    # The next chunk's queries run in a thread (psycopg2 releases the GIL while PostgreSQL works,
    # on the other core) while this thread compiles and writes the current one.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-prefetch") as pool:
        pending: tuple[list[tuple[int, int, bool]], Future[dict[str, Any]]] | None = None
        for chunk in chunks:
            upcoming = (chunk, pool.submit(loader.fetch, chunk))
            if pending is not None:
                yield from loader.load(pending[0], pending[1].result())
                if on_chunk:
                    on_chunk(len(pending[0]))
            pending = upcoming
        try:
            if pending is not None:
                yield from loader.load(pending[0], pending[1].result())
                if on_chunk:
                    on_chunk(len(pending[0]))
        finally:
            pool.submit(_close_thread_connection).result()


def _close_thread_connection() -> None:
    """Run in the prefetch thread: its Django connection is its own and must not leak."""
    connection.close()


def _chunked(rows: Iterator[tuple[int, int, bool]], size: int) -> Iterator[list[tuple[int, int, bool]]]:
    chunk: list[tuple[int, int, bool]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
