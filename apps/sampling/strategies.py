"""Pure planning for sampling plans and prompt selection: no ORM, deterministic for a seed.

- `allocate_evenly` / `stratified_pick`: a budget spread evenly across strata; a stratum
  smaller than its share gives the rest to the others (water-filling).
- `bradley_terry`: model strengths from pairwise votes (ties count half to each side).
- `adaptive_pairs`: the next pairs where the outcome is most uncertain, p(1 - p) under the
  current strengths, so close models are compared more; with no votes every pairing weighs
  the same and the allocation is uniform.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

LENGTH_BUCKETS = ((500, "short"), (2000, "medium"))  # characters; longer is "long"


def length_bucket(length: int | None) -> str:
    for limit, name in LENGTH_BUCKETS:
        if (length or 0) < limit:
            return name
    return "long"


def _largest_remainder(exact: dict[K, float], total: int, rng: random.Random) -> dict[K, int]:
    floors = {key: int(math.floor(value)) for key, value in exact.items()}
    left = total - sum(floors.values())
    keys = sorted(exact, key=repr)
    rng.shuffle(keys)  # seeded tie-breaks between equal remainders
    keys.sort(key=lambda key: exact[key] - floors[key], reverse=True)
    for key in keys[: max(0, left)]:
        floors[key] += 1
    return floors


def allocate_weighted(capacity: dict[K, int], weights: dict[K, float], budget: int, rng: random.Random) -> dict[K, int]:
    """Split `budget` in proportion to `weights`, never above a key's capacity."""
    allocation = dict.fromkeys(capacity, 0)
    remaining = min(budget, sum(capacity.values()))
    while remaining > 0:
        open_keys = [key for key in capacity if allocation[key] < capacity[key] and weights.get(key, 0) > 0]
        if not open_keys:
            break
        total_weight = sum(weights[key] for key in open_keys)
        exact = {key: remaining * weights[key] / total_weight for key in open_keys}
        # Cap in real numbers first so spare budget flows to the keys that can take it.
        capped = {key: min(value, capacity[key] - allocation[key]) for key, value in exact.items()}
        if all(capped[key] == exact[key] for key in open_keys):
            shares = _largest_remainder(exact, remaining, rng)
            for key, share in shares.items():
                share = min(share, capacity[key] - allocation[key])
                allocation[key] += share
                remaining -= share
            continue
        for key in open_keys:
            if capped[key] < exact[key]:
                remaining -= capacity[key] - allocation[key]
                allocation[key] = capacity[key]
    return allocation


def allocate_evenly(sizes: dict[K, int], budget: int, rng: random.Random) -> dict[K, int]:
    return allocate_weighted(sizes, dict.fromkeys(sizes, 1.0), budget, rng)


def stratified_pick(members: Iterable[tuple[T, Hashable]], budget: int, *, seed: int | str) -> tuple[list[T], dict[Any, int]]:
    """Pick `budget` members evenly across their strata; returns (picked, count per stratum)."""
    rng = random.Random(f"{seed}:stratified")
    by_stratum: dict[Any, list[T]] = defaultdict(list)
    for member, stratum in members:
        by_stratum[stratum].append(member)
    allocation = allocate_evenly({key: len(values) for key, values in by_stratum.items()}, budget, rng)
    picked: list[T] = []
    for stratum in sorted(by_stratum, key=repr):
        pool = sorted(by_stratum[stratum], key=repr)
        picked.extend(rng.sample(pool, allocation[stratum]))
    return picked, {stratum: count for stratum, count in allocation.items() if count}


# --- Bradley–Terry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    first: str  # the model shown first ("a")
    second: str
    outcome: str  # "a" | "b" | "tie"


def bradley_terry(models: Sequence[str], votes: Iterable[Vote], *, prior: float = 1.0) -> dict[str, float]:
    """Log-strengths (mean 0) by Hunter's MM algorithm.

    Ties count as half a win for each side. `prior` adds that many virtual ties
    between every pair of models: estimates stay finite with few or one-sided
    votes and shrink towards "equal" until the data says otherwise.
    """
    # Imported here: this module is loaded by every web and Celery process, few of which rank models.
    import numpy as np

    names = sorted(set(models))
    if not names:
        return {}
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    wins = np.zeros(n)
    games = np.full((n, n), float(prior))
    np.fill_diagonal(games, 0.0)
    wins += prior * (n - 1) / 2
    for vote in votes:
        if vote.first not in index or vote.second not in index or vote.first == vote.second:
            continue
        i, j = index[vote.first], index[vote.second]
        games[i, j] += 1
        games[j, i] += 1
        if vote.outcome == "a":
            wins[i] += 1
        elif vote.outcome == "b":
            wins[j] += 1
        else:
            wins[i] += 0.5
            wins[j] += 0.5
    strength = np.ones(n)
    for _ in range(500):
        denominator = (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        updated = np.where(denominator > 0, wins / np.where(denominator > 0, denominator, 1), strength)
        updated /= np.exp(np.log(updated).mean())
        if np.max(np.abs(updated - strength)) < 1e-9:
            strength = updated
            break
        strength = updated
    logs = np.log(strength)
    return {name: float(logs[index[name]]) for name in names}


def win_probability(scores: dict[str, float], first: str, second: str) -> float:
    return 1.0 / (1.0 + math.exp(scores.get(second, 0.0) - scores.get(first, 0.0)))


# --- adaptive arena pairs --------------------------------------------------------------------


@dataclass
class AdaptivePlan:
    groups: list[tuple[int, tuple[int, int]]] = field(default_factory=list)
    pairings: dict[str, int] = field(default_factory=dict)
    win_probability: dict[str, float] = field(default_factory=dict)
    strengths: dict[str, float] = field(default_factory=dict)
    votes: int = 0


def pairing_label(first: str, second: str) -> str:
    return f"{first} vs {second}"


def adaptive_pairs(
    generations_by_prompt: dict[int, list[tuple[int, str]]],
    *,
    votes: Sequence[Vote],
    budget: int,
    seed: int,
    existing: set[frozenset[int]] | None = None,
) -> AdaptivePlan:
    """Choose `budget` new pairs of generations from different models, most uncertain first.

    Each model pairing gets a share of the budget proportional to p(1 - p), p being
    the current Bradley–Terry win probability; the prompts within a pairing are a
    seeded random sample. Pairs already made (either order) are skipped.
    """
    rng = random.Random(f"{seed}:adaptive")
    existing = existing or set()
    available: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
    models: set[str] = set()
    for prompt_id in sorted(generations_by_prompt):
        generations = sorted(set(generations_by_prompt[prompt_id]), key=lambda g: (g[1], g[0]))
        models.update(model for _, model in generations)
        for (gen_a, model_a), (gen_b, model_b) in combinations(generations, 2):
            if model_a == model_b or frozenset((gen_a, gen_b)) in existing:
                continue
            available[(model_a, model_b)].append((prompt_id, gen_a, gen_b))
    scores = bradley_terry(sorted(models), votes)
    weights = {}
    probabilities = {}
    for key in available:
        p = win_probability(scores, *key)
        probabilities[pairing_label(*key)] = round(p, 4)
        weights[key] = p * (1 - p)
    allocation = allocate_weighted({key: len(value) for key, value in available.items()}, weights, budget, rng)
    plan = AdaptivePlan(strengths={m: round(s, 4) for m, s in scores.items()}, votes=len(votes))
    plan.win_probability = probabilities
    first_use: Counter[tuple[str, str]] = Counter()
    for key in sorted(available):
        count = allocation.get(key, 0)
        if not count:
            continue
        plan.pairings[pairing_label(*key)] = count
        for prompt_id, gen_a, gen_b in rng.sample(available[key], count):
            plan.groups.append((prompt_id, _orient(key, gen_a, gen_b, first_use, rng)))
    return plan


def _orient(key: tuple[str, str], gen_a: int, gen_b: int, first_use: Counter[tuple[str, str]], rng: random.Random) -> tuple[int, int]:
    """Balance which model is shown first per pairing (position bias), random on ties."""
    forward, backward = first_use[key], first_use[(key[1], key[0])]
    swap = rng.random() < 0.5 if forward == backward else forward > backward
    first_use[(key[1], key[0]) if swap else key] += 1
    return (gen_b, gen_a) if swap else (gen_a, gen_b)
