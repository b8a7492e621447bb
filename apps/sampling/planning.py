"""Planning a sampling plan's items: which groups of generations, in which order, with what counts.

Reads only (selectors and the pure strategies); apps.sampling.services.plans writes the result.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from apps.items.building import ItemRow, item_content_hash, plan_item_groups
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


@dataclass
class PlannedBatch:
    rows: list[ItemRow] = field(default_factory=list)
    candidates: int = 0
    prompts: int = 0
    planned: int = 0
    duplicates: int = 0
    breakdown: dict[str, Any] = field(default_factory=dict)


def _pairing_counts(groups: list[tuple[int, tuple[int, ...]]], model_of: dict[int, str]) -> dict[str, int]:
    # Count on model tuples first and label once: this runs over every planned item.
    counts: Counter[tuple[str, ...]] = Counter(
        tuple(sorted(model_of[g] for g in generation_ids)) for _, generation_ids in groups
    )
    labelled = {pairing_label(*names) if len(names) == 2 else " + ".join(names): n for names, n in counts.items()}
    return dict(sorted(labelled.items()))


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
    batch = PlannedBatch()
    if strategy == SamplingStrategy.STRATIFIED:
        candidates = stratified_candidates(project=project, config=config)
        done = {next(iter(group)) for group in existing_generation_groups(project=project, kind=ItemKind.SINGLE)}
        fresh = [c for c in candidates if c.generation_id not in done]
        batch.candidates, batch.duplicates = len(candidates), len(candidates) - len(fresh)
        picked, per_stratum = stratified_pick(((c, c.stratum) for c in fresh), cap or 0, seed=seed)
        keys = config.get("strata") or ["model"]
        for candidate in sorted(picked, key=lambda c: c.generation_id):
            metadata = {**base_metadata, "stratum": dict(zip(keys, candidate.stratum, strict=True))}
            batch.rows.append(ItemRow(candidate.prompt_id, (candidate.generation_id,), metadata, priority))
        batch.prompts = len({c.prompt_id for c in picked})
        batch.planned = len(batch.rows)
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
        groups: list[tuple[int, tuple[int, ...]]] = list(plan.groups)
        batch.breakdown = {
            "pairings": plan.pairings,
            "win_probability": plan.win_probability,
            "strengths": plan.strengths,
            "votes": plan.votes,
        }
    else:
        mode = {SamplingStrategy.EACH: "each", SamplingStrategy.ALL_PAIRS: "all_pairs", SamplingStrategy.K_PAIRS: "k_pairs"}[
            SamplingStrategy(strategy)
        ]
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
    # One shared metadata dict: the insert only reads it.
    batch.rows = [ItemRow(prompt_id, ids, base_metadata, priority) for prompt_id, ids in groups]
    batch.prompts = len({prompt_id for prompt_id, _ in groups})
    if strategy == SamplingStrategy.ADAPTIVE:
        batch.planned = len(batch.rows)
    return batch


def gold_needed(*, project, created: int) -> int:  # type: ignore[no-untyped-def]
    ratio = float(project.gold_ratio or 0)
    if ratio <= 0 or created <= 0:
        return 0
    return created if ratio >= 1 else round(created * ratio / (1 - ratio))
