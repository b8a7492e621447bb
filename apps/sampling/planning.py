"""Planning a sampling plan's items: which groups of generations, in which order, with what counts.

Reads only (selectors and the pure strategies); apps.sampling.services.plans writes the result.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from apps.items.building import (
    Group,
    ItemRow,
    StagedItems,
    gc_paused,
    item_content_hash,
    item_rows_stage,
    items_stage,
    iter_item_groups,
    plan_item_groups,
)
from apps.items.models import ItemKind
from apps.sampling.models import SamplingStrategy
from apps.sampling.selectors import (
    existing_generation_groups,
    existing_item_hashes,
    generations_by_prompt,
    pairwise_votes,
    stratified_candidates,
)
from apps.sampling.strategies import adaptive_pairs, pairing_label, stratified_pick

STREAMED_STRATEGIES = (SamplingStrategy.EACH, SamplingStrategy.ALL_PAIRS, SamplingStrategy.K_PAIRS)


@dataclass
class PlannedBatch:
    """The items a plan would create: groups of generations in display order.

    Every item gets `metadata`, unless `group_metadata` gives one dict per group
    (stratified plans record each item's stratum). Plain tuples rather than a
    row object per item: a plan may hold a million of them.
    """

    groups: list[Group] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    group_metadata: list[dict[str, Any]] | None = None
    priority: int = 0
    candidates: int = 0
    prompts: int = 0
    planned: int = 0
    duplicates: int = 0
    breakdown: dict[str, Any] = field(default_factory=dict)

    def staged(self, size: int) -> Iterator[StagedItems]:
        """The groups formatted for the insert, `size` at a time (pure Python: see PlanStream)."""
        with gc_paused():
            for start in range(0, len(self.groups), size):
                stop = start + size
                if self.group_metadata is None:
                    yield items_stage(self.groups[start:stop], metadata=self.metadata, priority=self.priority)
                else:
                    yield item_rows_stage(
                        ItemRow(prompt_id, ids, metadata, self.priority)
                        for (prompt_id, ids), metadata in zip(
                            self.groups[start:stop], self.group_metadata[start:stop], strict=True
                        )
                    )


@dataclass
class PlanStream:
    """A plan whose every planned item is wanted (no budget, no cap), planned batch by batch.

    `staged` is pure Python (no database access), so the executor runs it in a second
    thread: planning and formatting the next batch overlaps with PostgreSQL writing the
    last one. `batch` holds the counts and breakdown once `staged` is exhausted; its
    `groups` stay empty (a million tuples need not be kept).
    """

    batch: PlannedBatch
    staged: Iterator[StagedItems]


def _pairing_labels(shown: Counter[tuple[str, ...]]) -> dict[str, int]:
    """{label: items} from counts of display-ordered model tuples (both orders count alike)."""
    counts: Counter[tuple[str, ...]] = Counter()
    for names, n in shown.items():
        counts[tuple(sorted(names))] += n
    labelled = {pairing_label(*names) if len(names) == 2 else " + ".join(names): n for names, n in counts.items()}
    return dict(sorted(labelled.items()))


def _pairing_counts(groups: list[Group], model_of: dict[int, str]) -> dict[str, int]:
    # Count model tuples first (a few distinct ones) and label once: this runs over every planned item.
    model = model_of.__getitem__
    return _pairing_labels(Counter(tuple(map(model, generation_ids)) for _, generation_ids in groups))


def _item_mode(strategy: str) -> str:
    return {SamplingStrategy.EACH: "each", SamplingStrategy.ALL_PAIRS: "all_pairs", SamplingStrategy.K_PAIRS: "k_pairs"}[
        SamplingStrategy(strategy)
    ]


def plan_stream(
    *,
    project,  # type: ignore[no-untyped-def]
    strategy: str,
    config: dict[str, Any],
    seed: int,
    batch_size: int,
    plan_id: int | None = None,
    priority: int = 0,
) -> PlanStream | None:
    """The plan as a stream of formatted batches, or None when it must be planned whole
    (adaptive and stratified plans, or a budget: both choose among all candidates).

    Plans the same items in the same order as plan_build(check_existing=False). Reads the
    candidates now, in the caller's thread; everything after is pure.
    """
    if strategy not in STREAMED_STRATEGIES or config.get("budget"):
        return None
    mode = _item_mode(strategy)
    grouped = generations_by_prompt(project=project, config=config)
    batch = PlannedBatch(metadata={"sampling_plan": plan_id} if plan_id else {}, priority=priority)
    batch.candidates = sum(len(generations) for generations in grouped.values())

    def staged() -> Iterator[StagedItems]:
        shown: Counter[tuple[str, ...]] = Counter()
        last_prompt = None
        with gc_paused():
            groups = iter_item_groups(grouped, mode=mode, k=config.get("k", 1), seed=seed, shown=shown)
            while chunk := list(islice(groups, batch_size)):
                batch.planned += len(chunk)
                prompts = {prompt_id for prompt_id, _ in chunk}
                batch.prompts += len(prompts) - (last_prompt in prompts)  # a prompt may span two chunks
                last_prompt = chunk[-1][0]
                yield items_stage(chunk, metadata=batch.metadata, priority=priority)
        batch.breakdown = {"pairings" if mode != "each" else "models": _pairing_labels(shown)}

    return PlanStream(batch=batch, staged=staged())


def plan_build(
    *,
    project,  # type: ignore[no-untyped-def]
    strategy: str,
    config: dict[str, Any],
    seed: int,
    limit: int | None = None,
    plan_id: int | None = None,
    priority: int = 0,
    check_existing: bool = True,
) -> PlannedBatch:
    """The items a plan would create now, deterministic for the seed and data.

    With check_existing (previews, and any capped run, which must fill its cap with
    new items) groups that exist already are left out and counted as duplicates;
    without it they stay in and the insert skips them (a million-item plan saves a
    second round of hashing and lookups).
    """
    budget = config.get("budget")
    cap = min(x for x in (budget, limit) if x is not None) if (budget or limit) else None
    check_existing = check_existing or cap is not None
    # Provenance only: every key here is another entry in the items' metadata GIN index.
    base_metadata: dict[str, Any] = {"sampling_plan": plan_id} if plan_id else {}
    batch = PlannedBatch(metadata=base_metadata, priority=priority)
    if strategy == SamplingStrategy.STRATIFIED:
        candidates = stratified_candidates(project=project, config=config)
        done = {next(iter(group)) for group in existing_generation_groups(project=project, kind=ItemKind.SINGLE)}
        fresh = [c for c in candidates if c.generation_id not in done]
        batch.candidates, batch.duplicates = len(candidates), len(candidates) - len(fresh)
        picked, per_stratum = stratified_pick(((c, c.stratum) for c in fresh), cap or 0, seed=seed)
        keys = config.get("strata") or ["model"]
        batch.group_metadata = []
        for candidate in sorted(picked, key=lambda c: c.generation_id):
            batch.groups.append((candidate.prompt_id, (candidate.generation_id,)))
            batch.group_metadata.append({**base_metadata, "stratum": dict(zip(keys, candidate.stratum, strict=True))})
        batch.prompts = len({c.prompt_id for c in picked})
        batch.planned = len(batch.groups)
        batch.breakdown = {
            "strata": {" / ".join(stratum): count for stratum, count in sorted(per_stratum.items())},
            "strata_available": dict(sorted(Counter(" / ".join(c.stratum) for c in fresh).items())),
        }
        return batch
    grouped = generations_by_prompt(project=project, config=config)
    model_of = {gen_id: model for generations in grouped.values() for gen_id, model in generations}
    batch.candidates = len(model_of)
    if strategy == SamplingStrategy.ADAPTIVE:
        existing = existing_generation_groups(project=project, kind=ItemKind.PAIR)
        plan = adaptive_pairs(grouped, votes=pairwise_votes(project=project), budget=cap or 0, seed=seed, existing=existing)
        groups: list[Group] = list(plan.groups)
        batch.breakdown = {
            "pairings": plan.pairings,
            "win_probability": plan.win_probability,
            "strengths": plan.strengths,
            "votes": plan.votes,
        }
    else:
        mode = _item_mode(strategy)
        groups = plan_item_groups(grouped, mode=mode, k=config.get("k", 1), seed=seed)
        batch.planned = len(groups)
        if check_existing:
            hashes = [item_content_hash(prompt_id, ids) for prompt_id, ids in groups]
            existing_hashes = existing_item_hashes(project=project, hashes=hashes)
            fresh = [group for group, digest in zip(groups, hashes, strict=True) if digest not in existing_hashes]
            batch.duplicates = len(groups) - len(fresh)
            if cap is not None and len(fresh) > cap:
                # A seeded sample keeps a budgeted plan representative rather than the lowest prompt ids.
                rng = random.Random(f"{seed}:budget")
                fresh = sorted(rng.sample(fresh, cap))
            groups = fresh
        batch.breakdown = {"pairings" if mode != "each" else "models": _pairing_counts(groups, model_of)}
    batch.groups = groups
    batch.prompts = len({prompt_id for prompt_id, _ in groups})
    if strategy == SamplingStrategy.ADAPTIVE:
        batch.planned = len(groups)
    return batch


def gold_needed(*, project, created: int) -> int:  # type: ignore[no-untyped-def]
    ratio = float(project.gold_ratio or 0)
    if ratio <= 0 or created <= 0:
        return 0
    return created if ratio >= 1 else round(created * ratio / (1 - ratio))
