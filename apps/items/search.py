"""Full-text search over prompts and responses (PostgreSQL tsvector + GIN).

Vectors live in PromptSearch / GenerationSearch and are computed after an
import, in chunks, by `search_index_pending` (a Celery task queues it when an
import finishes; in-process imports call it directly). Anything that creates
prompts or generations outside imports calls `search_index_queue(project_id=…)`.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from apps.items.models import (
    SEARCH_CONFIG,
    Generation,
    GenerationSearch,
    Item,
    ItemGeneration,
    Prompt,
    PromptSearch,
)

CHUNK = 2000


def _index_table(*, source: str, target: str, key: str, project_id: int, after_id: int) -> int:
    """Insert vectors for rows of `source` without one, in windows of ids, one transaction each.

    Fixed id windows (not `ORDER BY id LIMIT n`) bound each statement's work whatever plan
    PostgreSQL picks: right after a large import its statistics are stale, and a sorted
    scan of the whole project per chunk would make indexing quadratic.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {source} WHERE project_id = %s", [project_id])
        last_id = cursor.fetchone()[0] or 0
    total = 0
    low = after_id
    while low < last_id:
        high = low + CHUNK
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(
                f"""
                INSERT INTO {target} ({key}, project_id, vector)
                SELECT s.id, s.project_id, to_tsvector(%s::regconfig, s.text)
                FROM {source} s
                WHERE s.project_id = %s AND s.id > %s AND s.id <= %s
                  AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.{key} = s.id)
                ON CONFLICT DO NOTHING
                """,
                [SEARCH_CONFIG, project_id, low, high],
            )
            total += cursor.rowcount
        low = high
    return total


def search_index_pending(*, project_id: int, after_prompt_id: int = 0, after_generation_id: int = 0) -> int:
    """Compute missing vectors of a project (from the given ids on); idempotent. Returns rows indexed."""
    count = _index_table(
        source=Prompt._meta.db_table, target=PromptSearch._meta.db_table, key="prompt_id",
        project_id=project_id, after_id=after_prompt_id,
    )
    count += _index_table(
        source=Generation._meta.db_table, target=GenerationSearch._meta.db_table, key="generation_id",
        project_id=project_id, after_id=after_generation_id,
    )
    return count


def search_index_queue(*, project_id: int, after_prompt_id: int = 0, after_generation_id: int = 0) -> None:
    from apps.items.tasks import search_index_task

    transaction.on_commit(lambda: search_index_task.delay(project_id, after_prompt_id, after_generation_id))


def items_matching(queryset: QuerySet[Item], *, project_id: int, text: str) -> QuerySet[Item]:
    """Items whose prompt or any response matches a web-style query ("a b", "\\"a b\\"", -c, or)."""
    query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
    prompts = PromptSearch.objects.filter(project_id=project_id, vector=query).values("prompt_id")
    generations = GenerationSearch.objects.filter(project_id=project_id, vector=query).values("generation_id")
    linked = ItemGeneration.objects.filter(generation_id__in=generations).values("item_id")
    return queryset.filter(Q(prompt_id__in=prompts) | Q(pk__in=linked))
