"""Reads of the items app: the item browser's filtered, keyset-paged lists, imports and their errors.

Pages stay fast on a project of a million items: lists are keyset-paged on the
id (no OFFSET), counts are capped (`COUNT` over at most CAP+1 rows, shown as
"10,000+"), and the model filter's choices come from a loose index scan
instead of `DISTINCT` over the generations' model names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from apps.accounts.models import ProjectRole
from apps.core.models import JobStatus
from apps.items.models import (
    Generation,
    GenerationSource,
    ImportJob,
    ImportRowError,
    Item,
    ItemGeneration,
    ItemState,
)
from apps.items.search import items_matching
from apps.projects.access import project_for_user
from apps.projects.models import Project

COUNT_CAP = 10_000
PAGE_SIZE = 50
_BOOL = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


class FilterError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ItemFilters:
    state: str = ""
    model: str = ""
    source: str = ""
    meta_key: str = ""
    meta_value: str = ""
    has_pii: bool | None = None
    gold: bool | None = None
    q: str = ""

    def as_query(self) -> dict[str, str]:
        out = {}
        for key, value in asdict(self).items():
            if value in ("", None):
                continue
            out[key] = ("1" if value else "0") if isinstance(value, bool) else value
        return out

    @property
    def active(self) -> bool:
        return bool(self.as_query())


def item_filters_parse(params: Any) -> ItemFilters:
    """Filters from query parameters; FilterError names each bad parameter."""
    errors: dict[str, str] = {}

    def text(name: str, limit: int = 200) -> str:
        value = (params.get(name) or "").strip()
        if len(value) > limit:
            errors[name] = f"at most {limit} characters"
            return ""
        if "\x00" in value:
            errors[name] = "contains a NUL character"
            return ""
        return value

    def flag(name: str) -> bool | None:
        value = (params.get(name) or "").strip().lower()
        if value in ("", "any"):
            return None
        if value not in _BOOL:
            errors[name] = "must be 1 or 0"
            return None
        return _BOOL[value]

    state = text("state")
    if state and state not in ItemState.values:
        errors["state"] = f"must be one of {', '.join(ItemState.values)}"
    source = text("source")
    if source and source not in GenerationSource.values:
        errors["source"] = f"must be one of {', '.join(GenerationSource.values)}"
    meta_key, meta_value = text("meta_key", 100), text("meta_value")
    if meta_value and not meta_key:
        errors["meta_key"] = "give the metadata key to match the value against"
    filters = ItemFilters(
        state=state, model=text("model"), source=source, meta_key=meta_key, meta_value=meta_value,
        has_pii=flag("has_pii"), gold=flag("gold"), q=text("q", 500),
    )
    if errors:
        raise FilterError(errors)
    return filters


def _metadata_q(key: str, value: str) -> Q:
    if not value:
        return Q(metadata__has_key=key)
    condition = Q(metadata__contains={key: value})
    try:
        parsed = json.loads(value)  # "3" also matches 3, "true" matches true
    except ValueError:
        return condition
    if parsed != value and not isinstance(parsed, dict | list):
        condition |= Q(metadata__contains={key: parsed})
    return condition


def items_filtered(*, project: Project, filters: ItemFilters) -> QuerySet[Item]:
    items = Item.objects.filter(project=project)
    if filters.state:
        items = items.filter(state=filters.state)
    if filters.gold is not None:
        items = items.filter(is_gold=filters.gold)
    if filters.has_pii is not None:
        items = items.filter(has_pii=filters.has_pii)
    if filters.meta_key:
        items = items.filter(_metadata_q(filters.meta_key, filters.meta_value))
    if filters.model or filters.source:
        links = ItemGeneration.objects.filter(item_id=OuterRef("pk"))
        if filters.model:
            links = links.filter(generation__model_name=filters.model)
        if filters.source:
            links = links.filter(generation__source=filters.source)
        items = items.filter(Exists(links))
    if filters.q:
        items = items_matching(items, project_id=project.pk, text=filters.q)
    return items


def _with_display(items: QuerySet[Item]) -> QuerySet[Item]:
    links = (
        ItemGeneration.objects.select_related("generation")
        .only("id", "item_id", "position", "generation_id", "generation__model_name", "generation__source")
        .order_by("position")
    )
    return items.select_related("prompt").defer("gold_answers").prefetch_related(
        Prefetch("item_generations", queryset=links)
    )


@dataclass
class ItemPage:
    items: list[Item]
    next_after: int | None
    prev_before: int | None


def item_page(*, project: Project, filters: ItemFilters, after: int | None = None, before: int | None = None,
              size: int = PAGE_SIZE) -> ItemPage:
    """One page in id order: `after` walks forward, `before` walks back (keyset, no OFFSET)."""
    items = items_filtered(project=project, filters=filters)
    if before is not None:
        rows = list(_with_display(items.filter(pk__lt=before).order_by("-pk"))[: size + 1])
        has_more_back = len(rows) > size
        rows = list(reversed(rows[:size]))
        return ItemPage(rows, next_after=rows[-1].pk if rows else None,
                        prev_before=rows[0].pk if rows and has_more_back else None)
    if after is not None:
        items = items.filter(pk__gt=after)
    rows = list(_with_display(items.order_by("pk"))[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    return ItemPage(rows, next_after=rows[-1].pk if has_more else None,
                    prev_before=rows[0].pk if rows and after is not None else None)


def item_count_capped(*, project: Project, filters: ItemFilters, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, capped): counts at most cap+1 rows, so it stays cheap on huge projects."""
    count = items_filtered(project=project, filters=filters).values("pk")[: cap + 1].count()
    return min(count, cap), count > cap


def project_model_names(*, project: Project, limit: int = 200) -> list[str]:
    """Distinct model names via a loose index scan on (project_id, model_name): one index probe per name."""
    table = Generation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE names(model_name) AS (
                (SELECT model_name FROM {table} WHERE project_id = %s ORDER BY model_name LIMIT 1)
                UNION ALL
                SELECT (SELECT g.model_name FROM {table} g WHERE g.project_id = %s AND g.model_name > n.model_name
                        ORDER BY g.model_name LIMIT 1)
                FROM names n WHERE n.model_name IS NOT NULL
            )
            SELECT model_name FROM names WHERE model_name IS NOT NULL LIMIT %s
            """,
            [project.pk, project.pk, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def item_for_user(user, item_id: int | str, *, role: str = ProjectRole.REVIEWER) -> Item:  # type: ignore[no-untyped-def]
    """The item if the caller has `role` in its project; 404 for other tenants (and for unknown ids)."""
    try:
        pk = int(item_id)
    except (TypeError, ValueError):
        raise Http404("No such item") from None
    item = Item.objects.select_related("prompt").filter(pk=pk).first()
    if item is None:
        raise Http404("No such item")
    item.project = project_for_user(user, item.project_id, role=role)
    return item


def item_for_annotator(user, item_id: int | str) -> Item:  # type: ignore[no-untyped-def]
    """Annotators may read an item they were assigned, nothing else (gold stays hidden: see the API)."""
    item = item_for_user(user, item_id, role=ProjectRole.ANNOTATOR)
    if item.project.caller_role == ProjectRole.ANNOTATOR:  # type: ignore[attr-defined]
        from apps.annotations.models import Assignment

        if not Assignment.objects.filter(item=item, annotator=user).exists():
            raise Http404("No such item")
    return item


def with_responses(items: QuerySet[Item]) -> QuerySet[Item]:
    """Prompt and ordered generations in two extra queries for the whole page."""
    links = ItemGeneration.objects.select_related("generation").order_by("position")
    return items.select_related("prompt").prefetch_related(Prefetch("item_generations", queryset=links))


def item_responses(item: Item) -> list[Generation]:
    """The item's generations in display order (from the prefetch when there is one)."""
    cache = getattr(item, "_prefetched_objects_cache", {})
    if "item_generations" in cache:
        return [link.generation for link in sorted(cache["item_generations"], key=lambda link: link.position)]
    return item.ordered_generations()


def import_job_for_user(user, job_id: int | str) -> ImportJob:  # type: ignore[no-untyped-def]
    """Imports are a manager's business: other tenants get 404, other roles 403."""
    try:
        pk = int(job_id)
    except (TypeError, ValueError):
        raise Http404("No such import") from None
    job = ImportJob.objects.select_related("upload").filter(pk=pk).first()
    if job is None:
        raise Http404("No such import")
    job.project = project_for_user(user, job.project_id, role=ProjectRole.MANAGER)
    return job


def import_jobs_recent(*, project: Project, limit: int = 20) -> list[ImportJob]:
    return list(ImportJob.objects.filter(project=project).select_related("upload").order_by("-created_at")[:limit])


def import_jobs_unindexed(*, project: Project) -> int:
    """Finished imports whose rows are not searchable yet."""
    return ImportJob.objects.filter(
        project=project, status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED], search_indexed_at__isnull=True
    ).count()


def import_errors(job: ImportJob) -> Iterator[ImportRowError]:
    return ImportRowError.objects.filter(job=job).order_by("line", "pk").iterator(chunk_size=2000)
