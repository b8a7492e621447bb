"""Reading what an export needs, as a stream of per-item bundles.

Items are read through a server-side cursor, ordered
by prompt so all items of a prompt are adjacent (the redaction cache hits, and
per-prompt de-duplication needs no global memory), each with its response ids and
the number of items in the stream. For each chunk of items one query each fetches
prompts, responses, annotations, reviews and (when the quality app has them)
aggregates. Memory is bounded by the chunk size, never by the project.

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
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection, reset_queries
from django.db.models import BooleanField, Count, Exists, OuterRef, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Annotation, Flag, Review, ReviewDecision
from apps.exports.aggregation import Aggregate
from apps.exports.options import ExportOptions
from apps.items.models import Generation, Item, ItemGeneration, Prompt
from apps.projects.models import Project

CHUNK_SIZE = 2000

# A streamed item: id, prompt id, is_gold, response (generation) ids in display order,
# and how many items the stream has in all.
ItemRow = tuple[int, int, bool, list[int], int]


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

    def __init__(self, queryset: QuerySet[Any], column: str, json_columns: tuple[int, ...] = (),
                 wrap: str = "{}"):
        """`wrap`: an outer query around the compiled one (`{}`), e.g. to group rows per item."""
        table = queryset.model._meta.db_table
        condition = RawSQL(f'"{table}"."{column}" = ANY(%s::bigint[])', (self._SENTINEL,), output_field=BooleanField())
        sql, params = queryset.filter(condition).query.sql_with_params()
        self.sql = wrap.format(sql)
        self.params = list(params)
        self.slot = next(i for i, p in enumerate(self.params) if p is self._SENTINEL)
        self.json_columns = json_columns

    def _execute(self, ids: list[int]) -> list[tuple[Any, ...]]:
        params = list(self.params)
        # One array literal: parsed as a single constant, cheaper than ARRAY[...] of 2000 values.
        params[self.slot] = "{" + ",".join(map(str, ids)) + "}"
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            return cursor.fetchall()

    def document(self, ids: list[int]) -> Any:
        """The one JSON value a wrapping query built from all the rows (None when there were none)."""
        value = self._execute(ids)[0][0]
        return orjson.loads(value) if isinstance(value, str) else value

    def rows(self, ids: list[int]) -> list[tuple[Any, ...]]:
        rows = self._execute(ids)
        if not self.json_columns:
            return rows
        loads = orjson.loads
        decoded = []
        for row in rows:
            values = list(row)
            for index in self.json_columns:
                if isinstance(values[index], str):
                    values[index] = loads(values[index])
            decoded.append(tuple(values))
        return decoded


class ChunkLoader:
    """Everything one chunk of items needs, in one query per table.

    Annotations come as one JSON document per chunk (`json_agg`, grouped per item): PostgreSQL
    builds it on its own core, and Python decodes it in one call instead of creating a row
    tuple per annotation (a third of the fetch's CPU at a million annotations).
    """

    def __init__(self, project: Project, options: ExportOptions, snapshot_at: datetime):
        # Raw exports need every annotation field, with Python datetimes: one row per annotation.
        # The compilers only read ids, answers and guideline versions: JSON, grouped per item.
        self.full = options.kind == "raw"
        annotations = annotation_queryset(project, options, snapshot_at)
        if self.full:
            self.annotations = ChunkQuery(
                annotations.order_by("item_id", "id").values_list(
                    "item_id", "id", "annotator_id", "answers", "guideline_version", "time_spent_ms",
                    "submitted_at", "too_fast"),
                "item_id", (3,))
        else:
            # [[item id, [[id, annotator id, answers, guideline version], ...]], ...]: one document per chunk.
            self.annotations = ChunkQuery(
                annotations.order_by().values_list("item_id", "id", "annotator_id", "answers", "guideline_version"),
                "item_id",
                wrap="SELECT json_agg(json_build_array(g.item_id, g.annotations))::text FROM ("
                     "SELECT a.item_id, json_agg(json_build_array(a.id, a.annotator_id, a.answers, "
                     "a.guideline_version) ORDER BY a.id) AS annotations FROM ({}) a GROUP BY a.item_id) g")
        self.prompts = ChunkQuery(Prompt.objects.values_list("id", "text", "messages", "content_hash"), "id", (2,))
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

    def fetch(self, chunk: list[ItemRow]) -> dict[str, Any]:
        """All queries of one chunk (may run in a prefetch thread, on that thread's connection)."""
        item_ids = [row[0] for row in chunk]
        prompt_ids = sorted({row[1] for row in chunk})
        generation_ids = sorted({g for row in chunk for g in row[3]})
        return {
            "prompts": self.prompts.rows(prompt_ids),
            "generations": self.generations.rows(generation_ids),
            "pii_prompts": self.pii[0].rows(prompt_ids) if self.pii is not None else [],
            "pii_generations": self.pii[1].rows(generation_ids) if self.pii is not None else [],
            "annotations": self.annotations.rows(item_ids) if self.full else self.annotations.document(item_ids) or [],
            "reviews": self.reviews.rows(item_ids),
            "quality": self.quality.rows(item_ids) if self.quality is not None else [],
        }

    def load(self, chunk: list[ItemRow], fetched: dict[str, Any] | None = None) -> Iterator[Bundle]:
        fetched = fetched if fetched is not None else self.fetch(chunk)
        prompts = {row[0]: row[1:] for row in fetched["prompts"]}
        generations = {pk: Response(pk, model, text) for pk, model, text in fetched["generations"]}
        per_item: dict[int, list[AnnotationRow]]
        if self.full:
            per_item = defaultdict(list)
            for row in fetched["annotations"]:
                per_item[row[0]].append(AnnotationRow(*row[1:]))
        else:
            per_item = {item_id: [AnnotationRow(*values) for values in annotations]
                        for item_id, annotations in fetched["annotations"]}
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
        for item_id, prompt_id, is_gold, generation_ids, _ in chunk:
            text, messages, content_hash = prompts[prompt_id]
            responses = [generations[g] for g in generation_ids if g in generations]
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
                # Personal data is in few texts: most chunks have no spans at all.
                pii_generations={r.id: generation_pii[r.id] for r in responses if r.id in generation_pii}
                if generation_pii else {},
                pii_prompt=prompt_pii.get(prompt_id, {}),
            )


def iter_bundles(
    project: Project,
    options: ExportOptions,
    snapshot_at: datetime,
    *,
    chunk_size: int = CHUNK_SIZE,
    on_chunk: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    prefetch: bool = True,
) -> Iterator[Bundle]:
    """Bundles in (prompt, item) order. `on_total(items)` is called once the first chunk has
    arrived (PostgreSQL has counted them while sorting: no second pass over the annotations),
    `on_chunk(items)` after each chunk's bundles were consumed."""
    links = ItemGeneration.objects.filter(item=OuterRef("pk")).order_by("position").values("generation_id")
    rows = (
        item_queryset(project, options, snapshot_at)
        .order_by("prompt_id", "id")
        # Per item, an index lookup on (item, position); as a query per chunk, PostgreSQL scanned the table.
        .annotate(generation_ids=ArraySubquery(links), total=Window(Count("*")))
        .values_list("id", "prompt_id", "is_gold", "generation_ids", "total")
    )
    loader = ChunkLoader(project, options, snapshot_at)
    chunks = _item_chunks(rows, chunk_size)
    if connection.in_atomic_block or not prefetch:
        # Inside a transaction (tests) another connection would not see its rows.
        for chunk in chunks:
            if on_total:
                on_total(chunk[0][4])
                on_total = None
            yield from loader.load(chunk)
            if on_chunk:
                on_chunk(len(chunk))
        return

    # All reading happens in one thread, on that thread's connection: the next chunk of items
    # (the server-side cursor) and its queries run while this thread compiles and writes the
    # current one (psycopg2 releases the GIL while PostgreSQL works, on the other core).
    def fetch_next() -> tuple[list[ItemRow], dict[str, Any]] | None:
        chunk = next(chunks, None)
        if chunk is None:
            return None
        fetched = loader.fetch(chunk)
        # With DEBUG on, Django keeps a connection's last 9,000 statements, and each chunk query
        # carries its 2,000 ids: memory would grow with the project, up to ~100 MB.
        reset_queries()
        return chunk, fetched

    def close() -> None:
        chunks.close()  # closes the server-side cursor
        connection.close()  # the thread's connection is its own and must not leak

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-prefetch",
                            initializer=_tune_stream_connection) as pool:
        pending: Future[tuple[list[ItemRow], dict[str, Any]] | None] = pool.submit(fetch_next)
        try:
            while (ready := pending.result()) is not None:
                pending = pool.submit(fetch_next)
                chunk, fetched = ready
                if on_total:
                    on_total(chunk[0][4])
                    on_total = None
                yield from loader.load(chunk, fetched)
                if on_chunk:
                    on_chunk(len(chunk))
        finally:
            # Also when the consumer stops early (cancelled, failed): after the fetch in flight.
            pool.submit(close).result()


def _tune_stream_connection() -> None:
    """Run first in the prefetch thread, whose connection serves this export only.

    JIT compilation pays off for long analytic queries; the item stream's estimated cost is
    high enough to trigger it with inlining and optimisation, which took seconds before the
    first row at a million annotations, and the chunk queries are index lookups.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")


def _item_chunks(rows: QuerySet[Any], size: int) -> Iterator[list[ItemRow]]:
    """The query's rows in lists of `size`, from a server-side cursor. psycopg2's tuples as they
    are: going through the queryset's iterator cost ~4 µs per row in Django's row converters."""
    sql, params = rows.query.sql_with_params()
    # As QuerySet.iterator(): a client-side cursor behind a transaction-pooling proxy.
    server_side = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    with connection.chunked_cursor() if server_side else connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(size):
            yield chunk
