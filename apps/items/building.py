"""Turning generations into items: which responses go together, in which order.

Shared by imports (apps.items) and sampling plans (apps.sampling).

`plan_item_groups` is pure and deterministic for a seed. `items_insert` (shared
values) and `item_rows_insert` (per-row values) write planned groups with one COPY
and one statement (no per-row ORM save) and skip groups whose content hash already
exists, so re-running an import or a plan never creates duplicates.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from operator import itemgetter
from typing import Any

import psycopg2
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.items.bulk import copy_value, stage_table
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
    groups = iter_item_groups(generations_by_prompt, mode=mode, k=k, seed=seed)
    with gc_paused():
        return list(groups)


def iter_item_groups(
    generations_by_prompt: dict[int, list[tuple[int, str]]],
    *,
    mode: str,
    k: int = 1,
    seed: int = 0,
    shown: Counter[tuple[str, ...]] | None = None,
) -> Iterator[Group]:
    """plan_item_groups one group at a time, prompt by prompt, so a caller can write the first
    items while later ones are planned.

    `shown`, when given, receives how many groups show each tuple of model names (in
    display order) once the iterator is exhausted.
    """
    if mode not in ITEM_MODES:
        raise ValueError(f"unknown item mode {mode!r}; expected one of {', '.join(ITEM_MODES)}")
    if mode == "k_pairs" and k < 1:
        raise ValueError("k must be at least 1")
    if mode == "each":
        return _iter_each(generations_by_prompt, shown=shown)
    return _iter_pairs(generations_by_prompt, choose=mode == "k_pairs", k=k, seed=seed, shown=shown)


def _iter_each(
    generations_by_prompt: dict[int, list[tuple[int, str]]], *, shown: Counter[tuple[str, ...]] | None
) -> Iterator[Group]:
    models: Counter[str] = Counter()
    for prompt_id in sorted(generations_by_prompt):
        for gen_id, model in _sorted_generations(generations_by_prompt[prompt_id]):
            models[model] += 1
            yield prompt_id, (gen_id,)
    if shown is not None:
        shown.update({(model,): count for model, count in models.items()})


def _iter_pairs(
    generations_by_prompt: dict[int, list[tuple[int, str]]],
    *,
    choose: bool,
    k: int,
    seed: int,
    shown: Counter[tuple[str, ...]] | None,
) -> Iterator[Group]:
    # The hot loop of a million-item plan. Model names become small ints, so counters are
    # flat lists indexed by left * n + right; a prompt's candidate pairs depend only on its
    # models, and the balanced choice only on those, the shuffle and how far each candidate's
    # pairing is ahead of the least used one, so both are computed once per distinct case.
    names = sorted({name for generations in generations_by_prompt.values() for _, name in generations})
    model_index = {name: i for i, name in enumerate(names)}
    n = len(names)
    pair_use = [0] * (n * n)  # chosen k_pairs per (left, right) model pairing, left <= right by name
    first_use = [0] * (n * n)  # pairs shown with model `first` first, per (first, second)
    layouts: dict[tuple[int, ...], list[tuple[int, int, int]]] = {}
    decisions: dict[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]], list[int]] = {}
    rng = random.Random()
    reseed, shuffle, draw = rng.seed, rng.shuffle, rng.random
    for prompt_id in sorted(generations_by_prompt):
        generations = _sorted_generations(generations_by_prompt[prompt_id])
        if len(generations) < 2:
            continue
        reseed(f"{seed}:{prompt_id}")
        models = tuple([model_index[name] for _, name in generations])
        candidates = layouts.get(models)
        if candidates is None:
            # (left position, right position, pairing key); combinations keep left <= right by model name.
            candidates = [(i, j, models[i] * n + models[j]) for i, j in combinations(range(len(models)), 2)]
            layouts[models] = candidates
        if choose:
            order = list(range(len(candidates)))
            shuffle(order)  # the same draws as shuffling the candidates themselves
            uses = [pair_use[candidates[c][2]] for c in order]
            least = min(uses)
            case = (models, tuple(order), tuple([use - least for use in uses]))
            picked = decisions.get(case)
            if picked is None:
                if len(decisions) >= _MAX_CACHED_DECISIONS:
                    decisions.clear()
                picked = decisions[case] = _choose_balanced(
                    [candidates[c] for c in order], order, k=k, pair_use=pair_use, positions=len(models)
                )
            for c in picked:
                pair_use[candidates[c][2]] += 1
            chosen = [candidates[c] for c in picked]
        else:
            chosen = candidates
        for i, j, _ in chosen:
            left_model, right_model = models[i], models[j]
            forward, backward = left_model * n + right_model, right_model * n + left_model
            left_first, right_first = first_use[forward], first_use[backward]
            # The same draws as ever: rng.random() only on ties (reproducible with older plans).
            swap = draw() < 0.5 if left_first == right_first else left_first > right_first
            if swap:
                first_use[backward] += 1
                yield prompt_id, (generations[j][0], generations[i][0])
            else:
                first_use[forward] += 1
                yield prompt_id, (generations[i][0], generations[j][0])
    if shown is not None:
        shown.update(
            {(names[at // n], names[at % n]): count for at, count in enumerate(first_use) if count}
        )


_MAX_CACHED_DECISIONS = 100_000


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while millions of small acyclic tuples are made: each
    collection would walk all of them, and they hold no cycles to collect."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _sorted_generations(generations: list[tuple[int, str]]) -> list[tuple[int, str]]:
    # Sorted so the plan does not depend on the order the caller collected rows in.
    return sorted(set(generations), key=_BY_MODEL_THEN_ID)


_BY_MODEL_THEN_ID = itemgetter(1, 0)


def _choose_balanced(
    shuffled: list[tuple[int, int, int]],
    order: list[int],
    *,
    k: int,
    pair_use: list[int],
    positions: int,
) -> list[int]:
    """Greedy: the least used model pairing first, then the pair whose responses were used least
    in this prompt; ties keep the seeded shuffle order (the first minimum wins). Returns the
    chosen candidates' indexes (`order` maps shuffled positions to them), in choice order;
    leaves `pair_use` as it was."""
    use = {key: pair_use[key] for _, _, key in shuffled}
    remaining = list(range(len(shuffled)))
    chosen: list[int] = []
    in_prompt = [0] * positions
    # One int per candidate orders like the tuple (pairing use, uses in prompt), the second
    # part being at most 2k.
    shift = (2 * k + 1).bit_length()
    while remaining and len(chosen) < k:
        best_at, best_score = 0, -1
        for at, position in enumerate(remaining):
            i, j, key = shuffled[position]
            score = (use[key] << shift) + in_prompt[i] + in_prompt[j]
            if best_score < 0 or score < best_score:
                best_at, best_score = at, score
        position = remaining.pop(best_at)
        i, j, key = shuffled[position]
        chosen.append(order[position])
        use[key] += 1
        in_prompt[i] += 1
        in_prompt[j] += 1
    return chosen


def item_content_hash(prompt_id: int, generation_ids: Sequence[int]) -> str:
    """Identity of an item: its prompt and its generations in display order.

    The prompt id in fixed-width hex leads, then 48 hex digits (192 bits) of a SHA-256:
    an item batch (prompt by prompt) then lands together in the (project, content_hash)
    unique index instead of at random pages all over it, which keeps bulk inserts cheap
    as a project grows. apps.items.importing.writers computes the same in SQL, and
    migration items 0007 rewrote older hashes to this form.
    """
    return _content_hash(prompt_id, ",".join(map(str, generation_ids)))


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
    """Insert items for planned groups that share metadata, priority and gold answers;
    returns (created, duplicates).

    Groups whose (prompt, ordered generations) hash already exists in the
    project are skipped and counted as duplicates. The caller vouches that
    the generation ids belong to the prompt and the project.
    """
    staged = items_stage(groups, metadata=metadata, priority=priority, is_gold=is_gold, gold_answers=gold_answers)
    return staged_items_insert(project=project, staged=staged)


def item_rows_insert(*, project, rows: Sequence[ItemRow]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Insert items with per-row metadata and gold answers; returns (created, duplicates)."""
    return staged_items_insert(project=project, staged=item_rows_stage(rows))


@dataclass
class StagedItems:
    """Items formatted for COPY without touching the database, so a thread can format the
    next batch while the database writes this one. Unique by content hash.

    Each entry is one item's columns as COPY text (prompt, kind, metadata, priority,
    is_gold, gold_answers, content_hash; the insert adds the rest) and its generation ids
    in display order.
    """

    items: list[tuple[str, tuple[int, ...]]]
    planned: int  # groups given, duplicates within the batch included
    lowest_hash: str = ""
    highest_hash: str = ""


def items_stage(
    groups: Iterable[Group],
    *,
    metadata: dict[str, Any] | None = None,
    priority: int = 0,
    is_gold: bool = False,
    gold_answers: Any = None,
) -> StagedItems:
    # The values every item shares are formatted once.
    shared = f"{copy_value(metadata or {})}\t{priority}\t{'t' if is_gold else 'f'}\t{copy_value(gold_answers)}"
    items: list[tuple[str, tuple[int, ...]]] = []
    append = items.append
    seen: set[str] = set()
    planned = 0
    for prompt_id, generation_ids in groups:
        if not generation_ids:
            continue
        planned += 1
        content_hash = _content_hash(prompt_id, ",".join(map(str, generation_ids)))
        if content_hash in seen:
            continue
        seen.add(content_hash)
        append((f"{prompt_id}\t{_KINDS.get(len(generation_ids), 'multi')}\t{shared}\t{content_hash}", generation_ids))
    return StagedItems(items, planned, min(seen, default=""), max(seen, default=""))


def item_rows_stage(rows: Iterable[ItemRow]) -> StagedItems:
    items: list[tuple[str, tuple[int, ...]]] = []
    append = items.append
    seen: set[str] = set()
    planned = 0
    for row in rows:
        generation_ids = tuple(row.generation_ids)
        if not generation_ids:
            continue
        planned += 1
        content_hash = _content_hash(row.prompt_id, ",".join(map(str, generation_ids)))
        if content_hash in seen:
            continue
        seen.add(content_hash)
        metadata = copy_value(row.metadata_json) if row.metadata_json is not None else copy_value(row.metadata or {})
        append((
            f"{row.prompt_id}\t{_KINDS.get(len(generation_ids), 'multi')}\t{metadata}\t{row.priority}\t"
            f"{'t' if row.is_gold else 'f'}\t{copy_value(row.gold_answers)}\t{content_hash}",
            generation_ids,
        ))
    return StagedItems(items, planned, min(seen, default=""), max(seen, default=""))


_KINDS = {1: ItemKind.SINGLE.value, 2: ItemKind.PAIR.value}
_STAGED_COLUMNS = ["prompt_id", "kind", "metadata", "priority", "is_gold", "gold_answers", "content_hash"]
_STAGE = (
    "item_stage",
    "prompt_id bigint, kind text, metadata jsonb, priority int, is_gold boolean, gold_answers jsonb, "
    "content_hash text, generation_ids bigint[]",
)


def _content_hash(prompt_id: int, joined_ids: str) -> str:
    # item_content_hash with the ids already joined.
    raw = f"item\x1f{prompt_id}\x1f{joined_ids}"
    return f"{prompt_id:016x}{hashlib.sha256(raw.encode()).hexdigest()[:48]}"


def staged_items_insert(*, project, staged: StagedItems) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Insert the staged items and their ordered links; returns (created, duplicates).

    The common case, a batch of new items (hashes lead with the prompt id, so one index
    probe tells whether the project has any item in the batch's hash range), is COPYed
    straight into the items and links tables with ids drawn from the items' sequence
    first: COPY writes whole pages of rows per WAL record, which costs PostgreSQL far
    less than INSERT … SELECT row by row. Otherwise, or should another writer commit
    one of the same items meanwhile (the unique index stops the COPY), the batch goes
    through a staging table and `INSERT … ON CONFLICT DO NOTHING`.
    """
    if not staged.planned:
        return 0, 0
    if not staged.items:
        return 0, staged.planned
    with transaction.atomic():
        if not _project_has_items_between(project, staged.lowest_hash, staged.highest_hash):
            try:
                with transaction.atomic():
                    created = _copy_new_items(project, staged)
                return created, staged.planned - created
            except (IntegrityError, psycopg2.IntegrityError):  # COPY's errors reach us unwrapped
                pass
        created = _insert_through_stage(project, staged)
    return created, staged.planned - created


def _project_has_items_between(project, lowest_hash: str, highest_hash: str) -> bool:  # type: ignore[no-untyped-def]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {Item._meta.db_table} WHERE project_id = %s "
            "AND content_hash BETWEEN %s AND %s)",
            [project.pk, lowest_hash, highest_hash],
        )
        return bool(cursor.fetchone()[0])


def _copy_new_items(project, staged: StagedItems) -> int:  # type: ignore[no-untyped-def]
    now = timezone.now().isoformat()
    # The columns after content_hash, the same for every new item.
    rest = f"open\t{project.annotations_per_item}\t0\t0\tf\tf\t{now}\t{now}"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Item._meta.db_table, len(staged.items)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        project_id = project.pk
        items = "".join(
            [f"{item_id}\t{project_id}\t{columns}\t{rest}\n" for item_id, (columns, _) in zip(ids, staged.items, strict=True)]
        )
        cursor.copy_expert(
            f"COPY {Item._meta.db_table} (id, project_id, {', '.join(_STAGED_COLUMNS)}, state, required_annotations, "
            "active_count, annotation_count, has_pii, is_harmful, created_at, updated_at) FROM STDIN",
            io.StringIO(items),
        )
        del items
        links = "".join(
            [
                f"{item_id}\t{generation_id}\t{position}\n"
                for item_id, (_, generation_ids) in zip(ids, staged.items, strict=True)
                for position, generation_id in enumerate(generation_ids)
            ]
        )
        cursor.copy_expert(
            f"COPY {ItemGeneration._meta.db_table} (item_id, generation_id, position) FROM STDIN", io.StringIO(links)
        )
    return len(ids)


def _insert_through_stage(project, staged: StagedItems) -> int:  # type: ignore[no-untyped-def]
    """Stage the batch, then insert the items whose hash is new and their links in one
    statement (links joined back by hash, so no ids travel to Python)."""
    name, definition = _STAGE
    item_table = Item._meta.db_table
    stage_table(name, definition)
    lines = "".join(f"{columns}\t{{{','.join(map(str, ids))}}}\n" for columns, ids in staged.items)
    with connection.cursor() as cursor:
        # The stage has no statistics and the items table's may be those of an empty
        # table, so estimates are wild: the planner would JIT-compile the statement (a
        # third of a second per batch), sort on disk, and probe for existing hashes with
        # a sequential scan of the items table, which grows with every row inserted.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.copy_expert(f"COPY {name} ({', '.join([*_STAGED_COLUMNS, 'generation_ids'])}) FROM STDIN",
                           io.StringIO(lines))
        cursor.execute(
            f"""
            WITH created AS (
                INSERT INTO {item_table} (project_id, {', '.join(_STAGED_COLUMNS)}, state, required_annotations,
                    active_count, annotation_count, has_pii, is_harmful, created_at, updated_at)
                SELECT %s, {', '.join('s.' + column for column in _STAGED_COLUMNS)}, 'open', %s,
                    0, 0, false, false, now(), now()
                FROM {name} s
                LEFT JOIN LATERAL (  -- LIMIT 1: an index probe per row, never a hash of the whole project
                    SELECT true AS found FROM {item_table} i
                    WHERE i.project_id = %s AND i.content_hash = s.content_hash LIMIT 1
                ) e ON true
                WHERE e.found IS NULL
                ON CONFLICT (project_id, content_hash) DO NOTHING
                RETURNING id, content_hash
            ), links AS (
                INSERT INTO {ItemGeneration._meta.db_table} (item_id, generation_id, position)
                SELECT c.id, g.generation_id, g.position - 1
                FROM created c
                JOIN {name} s ON s.content_hash = c.content_hash
                CROSS JOIN LATERAL unnest(s.generation_ids) WITH ORDINALITY AS g(generation_id, position)
            )
            SELECT count(*) FROM created
            """,
            [project.pk, project.annotations_per_item, project.pk],
        )
        return cursor.fetchone()[0]
