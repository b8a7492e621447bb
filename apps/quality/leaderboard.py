"""Model leaderboards from pairwise votes (Bradley–Terry with bootstrap intervals) and bias checks.

Bradley–Terry is fitted with Hunter's (2004) MM iteration on the win matrix —
models are few, so each fit is a handful of small matrix operations and a
bootstrap of several hundred refits takes milliseconds. The bootstrap resamples
comparisons: drawing n comparisons with replacement is a multinomial draw over
the distinct (winner, loser | tie) cells, so no per-vote loop is needed.
Scores are on the familiar Elo-like scale: 1000 + 400·log10(strength / mean).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

BOOTSTRAP_SAMPLES = 400
# One virtual tie per compared pair keeps a model with no wins at a finite score.
PRIOR_TIES = 0.5
BIAS_P_VALUE = 0.01


def fit_bradley_terry(wins: np.ndarray, iterations: int = 500, tol: float = 1e-8) -> np.ndarray:
    """Log-strengths (natural log, mean 0) from wins[i, j] = times i beat j (ties as half wins).

    `wins` may carry leading batch dimensions (bootstrap samples are fitted together).
    """
    k = wins.shape[-1]
    games = wins + np.swapaxes(wins, -1, -2)
    prior = np.where(games > 0, PRIOR_TIES, 0.0) * (1 - np.eye(k))
    w = wins + prior
    n = w + np.swapaxes(w, -1, -2)
    total_wins = w.sum(axis=-1)
    p = np.ones(wins.shape[:-1])
    for _ in range(iterations):
        denom = (n / (p[..., :, None] + p[..., None, :])).sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(denom > 0, total_wins / denom, p)
        new = np.maximum(new, 1e-12)
        new /= np.exp(np.log(new).mean(axis=-1, keepdims=True))
        converged = np.max(np.abs(new - p)) < tol
        p = new
        if converged:
            break
    logs = np.log(p)
    return logs - logs.mean(axis=-1, keepdims=True)


def _elo(log_strength: np.ndarray) -> np.ndarray:
    return 1000.0 + 400.0 * log_strength / np.log(10.0)


def leaderboard(
    comparisons: list[tuple[str, str, float]], *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> dict:
    """Rank models from (left, right, outcome) votes: outcome 1 = left won, 0 = right won, 0.5 = tie."""
    if not comparisons:
        return {"comparisons": 0, "bootstrap": 0, "models": []}
    models = sorted({m for left, right, _ in comparisons for m in (left, right)})
    index = {m: i for i, m in enumerate(models)}
    left = np.array([index[c[0]] for c in comparisons])
    right = np.array([index[c[1]] for c in comparisons])
    outcome = np.array([c[2] for c in comparisons], dtype=float)
    return leaderboard_from_arrays(models, left, right, outcome, samples=samples, seed=seed)


def leaderboard_from_arrays(
    models: list[str], left: np.ndarray, right: np.ndarray, outcome: np.ndarray,
    *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0,
) -> dict:
    """The leaderboard from vote arrays (model indices into `models`; outcome 1, 0 or 0.5).

    Returns {"comparisons", "bootstrap", "models": [{model, rank, score, ci_low, ci_high,
    wins, losses, ties}]} best first; the interval is the 2.5–97.5 percentile of the
    bootstrap scores.
    """
    keep = left != right
    left, right, outcome = left[keep], right[keep], outcome[keep]
    if len(left) == 0:
        return {"comparisons": 0, "bootstrap": 0, "models": []}
    k = len(models)
    is_tie = outcome == 0.5
    winner = np.where(outcome >= 1, left, right)
    loser = np.where(outcome >= 1, right, left)
    # Ties are stored with the smaller index first so equal ties land in one cell.
    winner = np.where(is_tie, np.minimum(left, right), winner)
    loser = np.where(is_tie, np.maximum(left, right), loser)
    wins_count = np.bincount(winner[~is_tie], minlength=k)
    losses_count = np.bincount(loser[~is_tie], minlength=k)
    ties_count = np.bincount(left[is_tie], minlength=k) + np.bincount(right[is_tie], minlength=k)
    code = (winner.astype(np.int64) * k + loser) * 2 + is_tie
    cell_codes, counts = np.unique(code, return_counts=True)
    counts = counts.astype(float)
    ties = (cell_codes % 2).astype(bool)
    rows = (cell_codes // 2) // k
    cols = (cell_codes // 2) % k

    def wins_matrix(weights: np.ndarray) -> np.ndarray:
        """Win matrices for weights of shape (cells,) or (samples, cells)."""
        matrix = np.zeros(weights.shape[:-1] + (k, k))
        decisive = ~ties
        np.add.at(matrix, (..., rows[decisive], cols[decisive]), weights[..., decisive])
        np.add.at(matrix, (..., rows[ties], cols[ties]), weights[..., ties] / 2.0)
        np.add.at(matrix, (..., cols[ties], rows[ties]), weights[..., ties] / 2.0)
        return matrix

    point = _elo(fit_bradley_terry(wins_matrix(counts)))
    rng = np.random.default_rng(seed)
    total = int(counts.sum())
    if samples:
        draws = rng.multinomial(total, counts / counts.sum(), size=samples)
        boot = _elo(fit_bradley_terry(wins_matrix(draws.astype(float))))
        low, high = np.percentile(boot, 2.5, axis=0), np.percentile(boot, 97.5, axis=0)
    else:
        low = high = point
    order = np.argsort(-point)
    rows_out = []
    for rank, i in enumerate(order, start=1):
        rows_out.append(
            {
                "model": models[i],
                "rank": rank,
                "score": round(float(point[i]), 1),
                "ci_low": round(float(low[i]), 1),
                "ci_high": round(float(high[i]), 1),
                "wins": int(wins_count[i]),
                "losses": int(losses_count[i]),
                "ties": int(ties_count[i]),
            }
        )
    return {"comparisons": int(len(left)), "bootstrap": samples, "models": rows_out}


def share_test(successes: int, failures: int) -> dict:
    """Share of successes against 50% with a two-sided exact binomial test."""
    trials = successes + failures
    if trials == 0:
        return {"share": None, "p_value": None, "biased": False}
    p_value = float(binomtest(successes, trials, 0.5).pvalue)
    return {"share": successes / trials, "p_value": p_value, "biased": p_value < BIAS_P_VALUE}


def position_bias(a_wins: int, b_wins: int) -> dict:
    """Do annotators pick the response shown first ("a") more often than chance?"""
    result = share_test(a_wins, b_wins)
    return {"a_wins": a_wins, "b_wins": b_wins, "share_a": result["share"], "p_value": result["p_value"], "biased": result["biased"]}


def length_bias(longer_wins: int, shorter_wins: int) -> dict:
    """Do annotators pick the longer response more often than chance (equal lengths left out)?"""
    result = share_test(longer_wins, shorter_wins)
    return {
        "longer_wins": longer_wins,
        "shorter_wins": shorter_wins,
        "share_longer": result["share"],
        "p_value": result["p_value"],
        "biased": result["biased"],
    }
