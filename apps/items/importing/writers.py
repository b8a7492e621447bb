"""Set-based writes of one batch: COPY into staging tables, then INSERT … SELECT … ON CONFLICT.

`batch_prepare` formats a batch's COPY text in pure Python; the pipeline runs it in the
reading thread so the writing thread only ships text to PostgreSQL. Generations refer to
their prompt by content hash and items to their generation by content hash, so no ids
travel back to Python on the common path: PostgreSQL resolves them through the
(project, content_hash) unique indexes, and computes item hashes exactly as
apps.items.building.item_content_hash does. The lookups are LATERAL subqueries with
LIMIT 1 (the hash is unique) so the planner probes the index once per staged row; a
plain join let it hash the project's whole table on every batch (staging tables have no
statistics), a cost that grows with the project.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.db import connection

from apps.items.bulk import copy_value, stage_table
from apps.items.importing.shapes import ParsedRow
from apps.items.models import Generation, ImportJobGeneration, Item, ItemGeneration, Prompt

PROMPT_STAGE = "prompt_stage"
GENERATION_STAGE = "generation_stage"
SINGLE_ITEM_STAGE = "single_item_stage"
_STAGES = {
    PROMPT_STAGE: "external_id text, text text, messages jsonb, content_hash text",
    GENERATION_STAGE: (
        "prompt_hash text, model_name text, parameters jsonb, text text, prompt_tokens int, completion_tokens int, "
        "latency_ms int, finish_reason text, metadata jsonb, content_hash text"
    ),
    SINGLE_ITEM_STAGE: "generation_hash text, metadata jsonb, priority int, is_gold boolean",
}
_COLUMNS = {
    PROMPT_STAGE: ["external_id", "text", "messages", "content_hash"],
    GENERATION_STAGE: ["prompt_hash", "model_name", "parameters", "text", "prompt_tokens", "completion_tokens",
                       "latency_ms", "finish_reason", "metadata", "content_hash"],
    SINGLE_ITEM_STAGE: ["generation_hash", "metadata", "priority", "is_gold"],
}


@dataclass
class Prepared:
    prompt_copy: str = ""
    generation_copy: str = ""
    single_item_copy: str = ""
    generations_total: int = 0  # occurrences in the batch, duplicates included


def _optional(value: int | None) -> str:
    return "\\N" if value is None else str(value)


def batch_prepare(rows: list[ParsedRow], *, single_items: bool, priority: int) -> Prepared:
    """COPY text of a batch's prompts, generations and (for one item per generation) items."""
    prompts, generations, items = io.StringIO(), io.StringIO(), io.StringIO()
    seen_prompts: set[str] = set()
    seen_generations: set[str] = set()
    total = 0
    for row in rows:
        if row.prompt_hash not in seen_prompts:
            seen_prompts.add(row.prompt_hash)
            prompts.write(
                f"{copy_value(row.external_id)}\t{copy_value(row.prompt_text)}\t"
                f"{copy_value(row.prompt_messages)}\t{row.prompt_hash}\n"
            )
        for g in row.generations:
            total += 1
            if g.content_hash in seen_generations:
                continue
            seen_generations.add(g.content_hash)
            metadata = copy_value(g.metadata_json())
            generations.write(
                f"{row.prompt_hash}\t{copy_value(g.model_name)}\t{copy_value(g.parameters or {})}\t"
                f"{copy_value(g.text)}\t{_optional(g.prompt_tokens)}\t{_optional(g.completion_tokens)}\t"
                f"{_optional(g.latency_ms)}\t{copy_value(g.finish_reason)}\t{metadata}\t{g.content_hash}\n"
            )
            if single_items:
                items.write(f"{g.content_hash}\t{metadata}\t{priority}\t{'t' if row.is_gold else 'f'}\n")
    return Prepared(prompts.getvalue(), generations.getvalue(), items.getvalue(), total)


def _copy(stage: str, text: str) -> None:
    stage_table(stage, _STAGES[stage])
    if text:
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {stage} ({', '.join(_COLUMNS[stage])}) FROM STDIN", io.StringIO(text))


def prompts_write(project_id: int, prepared: Prepared) -> list[int]:
    """Insert new prompts; returns the ids created."""
    _copy(PROMPT_STAGE, prepared.prompt_copy)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Prompt._meta.db_table} (project_id, external_id, text, messages, metadata, content_hash,
                created_at)
            SELECT %s, external_id, text, messages, '{{}}'::jsonb, content_hash, now() FROM {PROMPT_STAGE}
            ON CONFLICT (project_id, content_hash) DO NOTHING
            RETURNING id
            """,
            [project_id],
        )
        return [row[0] for row in cursor.fetchall()]


def generations_write(project_id: int, prepared: Prepared) -> list[int]:
    """Insert new generations (prompt ids resolved by hash); returns the ids created."""
    _copy(GENERATION_STAGE, prepared.generation_copy)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Generation._meta.db_table} (project_id, prompt_id, model_name, parameters, text,
                prompt_tokens, completion_tokens, latency_ms, finish_reason, source, metadata, content_hash,
                created_at)
            SELECT %s, p.id, s.model_name, s.parameters, s.text, s.prompt_tokens, s.completion_tokens,
                s.latency_ms, s.finish_reason, 'imported', s.metadata, s.content_hash, now()
            FROM {GENERATION_STAGE} s
            CROSS JOIN LATERAL (
                SELECT id FROM {Prompt._meta.db_table} WHERE project_id = %s AND content_hash = s.prompt_hash LIMIT 1
            ) p
            ON CONFLICT (project_id, content_hash) DO NOTHING
            RETURNING id
            """,
            [project_id, project_id],
        )
        return [row[0] for row in cursor.fetchall()]


def generation_ids(project_id: int) -> dict[str, tuple[int, int]]:
    """{content_hash: (generation id, prompt id)} for the staged generations (new and existing)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT g.content_hash, g.id, g.prompt_id FROM {GENERATION_STAGE} s CROSS JOIN LATERAL ("
            f"SELECT content_hash, id, prompt_id FROM {Generation._meta.db_table} "
            "WHERE project_id = %s AND content_hash = s.content_hash LIMIT 1) g",
            [project_id],
        )
        return {content_hash: (gid, pid) for content_hash, gid, pid in cursor.fetchall()}


def single_items_write(project, prepared: Prepared) -> int:  # type: ignore[no-untyped-def]
    """One item per staged generation, links included, in one statement; returns items created.

    The hash expression must equal apps.items.building.item_content_hash(prompt_id, (generation_id,)).
    """
    _copy(SINGLE_ITEM_STAGE, prepared.single_item_copy)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH src AS (
                SELECT g.prompt_id, g.id AS generation_id, s.metadata, s.priority, s.is_gold,
                    lpad(to_hex(g.prompt_id), 16, '0') || left(encode(sha256(convert_to(
                        'item' || chr(31) || g.prompt_id::text || chr(31) || g.id::text, 'UTF8')), 'hex'), 48)
                        AS content_hash
                FROM {SINGLE_ITEM_STAGE} s
                CROSS JOIN LATERAL (
                    SELECT id, prompt_id FROM {Generation._meta.db_table}
                    WHERE project_id = %s AND content_hash = s.generation_hash LIMIT 1
                ) g
            ), created AS (
                INSERT INTO {Item._meta.db_table} (project_id, prompt_id, kind, metadata, priority, state,
                    content_hash, is_gold, gold_answers, required_annotations, active_count, annotation_count,
                    has_pii, is_harmful, created_at, updated_at)
                SELECT %s, prompt_id, 'single', metadata, priority, 'open', content_hash, is_gold, NULL, %s,
                    0, 0, false, false, now(), now()
                FROM src
                ON CONFLICT (project_id, content_hash) DO NOTHING
                RETURNING id, content_hash
            ), links AS (
                INSERT INTO {ItemGeneration._meta.db_table} (item_id, generation_id, position)
                SELECT c.id, src.generation_id, 0 FROM created c JOIN src ON src.content_hash = c.content_hash
            )
            SELECT count(*) FROM created
            """,
            [project.pk, project.pk, project.annotations_per_item],
        )
        return cursor.fetchone()[0]


def staging_write(job_id: int, project_id: int) -> None:
    """Remember which generations this job loaded, to build pairs across rows at the end."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {ImportJobGeneration._meta.db_table} (job_id, prompt_id, generation_id)
            SELECT %s, g.prompt_id, g.id FROM {GENERATION_STAGE} s
            CROSS JOIN LATERAL (
                SELECT id, prompt_id FROM {Generation._meta.db_table}
                WHERE project_id = %s AND content_hash = s.content_hash LIMIT 1
            ) g
            ON CONFLICT (job_id, generation_id) DO NOTHING
            """,
            [job_id, project_id],
        )
