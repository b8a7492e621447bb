"""Turning generations into items: which responses go together, in which order.

Shared by imports (apps.items) and sampling plans (apps.sampling).

`plan_item_groups` is pure and deterministic for a seed. `items_insert` writes
the planned groups in a few set-based statements (no per-row ORM save) and
skips groups whose content hash already exists, so re-running an import or a
plan never creates duplicates.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from django.db import connection, transaction

from apps.items.bulk import CopyLine, copy_rows, copy_value, stage_table
from apps.items.models import Item, ItemGeneration, ItemKind

ITEM_MODES = ("each", "all_pairs", "k_pairs")

Group = tuple[int, tuple[int, ...]]


def plan_item_groups(
    generations_by_prompt: dict[int, list[tuple[int, str]]],
    *,
    mode: str,
    k: int = 1,
    seed: int = 0,
) -> list[Group]:
    """Plan items from {prompt_id: [(generation_id, model_name), ...]}.

    - "each": one item per generation.
    - "all_pairs": every pair of generations of a prompt.
    - "k_pairs": k pairs per prompt, chosen so that each model pairing is used
      about equally often across the prompts of this call, and within a prompt
      models repeat as little as possible.

    For pairs, which response is shown first is balanced per model pairing
    (counters position bias) with seeded random tie-breaks, so the same input
    and seed always give the same groups in the same display order.
    """
    if mode not in ITEM_MODES:
        raise ValueError(f"unknown item mode {mode!r}; expected one of {', '.join(ITEM_MODES)}")
    if mode == "k_pairs" and k < 1:
        raise ValueError("k must be at least 1")
    groups: list[Group] = []
    pair_use: Counter[tuple[str, str]] = Counter()
    first_use: Counter[tuple[str, str]] = Counter()
    for prompt_id in sorted(generations_by_prompt):
        # Sorted so the plan does not depend on the order the caller collected rows in.
        generations = sorted(set(generations_by_prompt[prompt_id]), key=lambda g: (g[1], g[0]))
        if mode == "each":
            groups.extend((prompt_id, (gen_id,)) for gen_id, _ in generations)
            continue
        rng = random.Random(f"{seed}:{prompt_id}")
        candidates = list(combinations(generations, 2))
        if mode == "k_pairs":
            candidates = _choose_balanced(candidates, k=k, pair_use=pair_use, rng=rng)
        for left, right in candidates:
            groups.append((prompt_id, _orient(left, right, first_use=first_use, rng=rng)))
    return groups


def _model_key(a: tuple[int, str], b: tuple[int, str]) -> tuple[str, str]:
    return (a[1], b[1]) if a[1] <= b[1] else (b[1], a[1])


def _choose_balanced(
    candidates: list[tuple[tuple[int, str], tuple[int, str]]],
    *,
    k: int,
    pair_use: Counter[tuple[str, str]],
    rng: random.Random,
) -> list[tuple[tuple[int, str], tuple[int, str]]]:
    rng.shuffle(candidates)  # random tie-breaks; the stable min() below keeps this order among equals
    chosen: list[tuple[tuple[int, str], tuple[int, str]]] = []
    in_prompt: Counter[int] = Counter()
    while candidates and len(chosen) < k:
        best = min(
            candidates,
            key=lambda c: (pair_use[_model_key(*c)], in_prompt[c[0][0]] + in_prompt[c[1][0]]),
        )
        candidates.remove(best)
        chosen.append(best)
        pair_use[_model_key(*best)] += 1
        in_prompt[best[0][0]] += 1
        in_prompt[best[1][0]] += 1
    return chosen


def _orient(
    left: tuple[int, str], right: tuple[int, str], *, first_use: Counter[tuple[str, str]], rng: random.Random
) -> tuple[int, int]:
    left_first, right_first = first_use[(left[1], right[1])], first_use[(right[1], left[1])]
    if left_first == right_first:
        swap = rng.random() < 0.5
    else:
        swap = left_first > right_first
    first, second = (right, left) if swap else (left, right)
    first_use[(first[1], second[1])] += 1
    return (first[0], second[0])


def item_content_hash(prompt_id: int, generation_ids: Sequence[int]) -> str:
    """Identity of an item: its prompt and its generations in display order."""
    raw = f"item\x1f{prompt_id}\x1f{','.join(str(g) for g in generation_ids)}"
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class ItemRow:
    """One item to insert, with its own metadata and gold answers (imports need per-row values)."""

    prompt_id: int
    generation_ids: tuple[int, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    is_gold: bool = False
    gold_answers: Any = None
    metadata_json: str | None = None  # `metadata` already serialised, when the caller has it


def items_insert(
    *,
    project,  # type: ignore[no-untyped-def]
    groups: Iterable[Group],
    metadata: dict[str, Any] | None = None,
    priority: int = 0,
    is_gold: bool = False,
    gold_answers: Any = None,
) -> tuple[int, int]:
    """Insert items for planned groups; returns (created, duplicates).

    Groups whose (prompt, ordered generations) hash already exists in the
    project are skipped and counted as duplicates. The caller vouches that
    the generation ids belong to the prompt and the project.
    """
    rows = [
        ItemRow(
            prompt_id=prompt_id,
            generation_ids=tuple(generation_ids),
            metadata=dict(metadata or {}),
            priority=priority,
            is_gold=is_gold,
            gold_answers=gold_answers,
        )
        for prompt_id, generation_ids in groups
    ]
    return item_rows_insert(project=project, rows=rows)


def _kind(count: int) -> str:
    return ItemKind.SINGLE if count == 1 else ItemKind.PAIR if count == 2 else ItemKind.MULTI


def _item_line(row: ItemRow, content_hash: str) -> CopyLine:
    metadata = copy_value(row.metadata_json) if row.metadata_json is not None else copy_value(row.metadata or {})
    return CopyLine(
        f"{row.prompt_id}\t{_kind(len(row.generation_ids))}\t{metadata}\t{row.priority}\t{content_hash}\t"
        f"{'t' if row.is_gold else 'f'}\t{copy_value(row.gold_answers)}"
    )


def item_rows_insert(*, project, rows: Sequence[ItemRow]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Set-based insert of items and their ordered generation links; returns (created, duplicates).

    Rows are COPYed into a staging table and moved with ON CONFLICT DO NOTHING
    on (project, content_hash); links of the new items are COPYed directly.
    """
    rows = [row for row in rows if row.generation_ids]
    if not rows:
        return 0, 0
    hashes = [item_content_hash(row.prompt_id, row.generation_ids) for row in rows]
    by_hash = dict(zip(hashes, rows, strict=True))
    item_table = Item._meta.db_table
    with transaction.atomic():
        stage = stage_table(
            "item_stage",
            "prompt_id bigint, kind text, metadata jsonb, priority int, content_hash text, is_gold boolean, "
            "gold_answers jsonb",
        )
        copy_rows(
            stage,
            ["prompt_id", "kind", "metadata", "priority", "content_hash", "is_gold", "gold_answers"],
            (_item_line(row, content_hash) for row, content_hash in zip(rows, hashes, strict=True)),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {item_table} (project_id, prompt_id, kind, metadata, priority, state, content_hash,
                    is_gold, gold_answers, required_annotations, active_count, annotation_count, has_pii,
                    is_harmful, created_at, updated_at)
                SELECT %s, prompt_id, kind, metadata, priority, 'open', content_hash, is_gold, gold_answers, %s,
                    0, 0, false, false, now(), now()
                FROM {stage}
                ON CONFLICT (project_id, content_hash) DO NOTHING
                RETURNING id, content_hash
                """,
                [project.pk, project.annotations_per_item],
            )
            created = cursor.fetchall()
        copy_rows(
            ItemGeneration._meta.db_table,
            ["item_id", "generation_id", "position"],
            (
                (item_id, generation_id, position)
                for item_id, content_hash in created
                for position, generation_id in enumerate(by_hash[content_hash].generation_ids)
            ),
        )
    return len(created), len(rows) - len(created)
