"""Inter-annotator agreement from vote-count matrices (one row per unit, one column per value).

A *unit* is what several annotators answered: an item, or one response of an
item for per-response questions. Krippendorff's α comes from the `krippendorff`
package; Fleiss' κ and percent agreement are the textbook formulas on the same
counts (a few lines of numpy, so no statsmodels dependency).
"""

from __future__ import annotations

import math

import krippendorff
import numpy as np

LEVEL_FOR_TYPE = {
    "single_choice": "nominal",
    "multi_choice": "nominal",  # each option as a present/absent unit
    "pairwise": "nominal",
    "rating": "ordinal",  # Likert points are ordered but not evenly spaced
    "ranking": "ordinal",  # rank positions of each response
}


def vote_counts(unit: np.ndarray, code: np.ndarray, n_units: int, n_codes: int) -> np.ndarray:
    """Units × values matrix of how many annotators chose each value."""
    flat = np.bincount(unit.astype(np.int64) * n_codes + code.astype(np.int64), minlength=n_units * n_codes)
    return flat.reshape(n_units, n_codes)


def _clean(value: float) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def alpha(counts: np.ndarray, level: str, value_domain: list | None = None) -> float | None:
    """Krippendorff's α over the pairable units; None when it is undefined (no pairs, one value)."""
    pairable = counts[counts.sum(axis=1) >= 2]
    if len(pairable) == 0 or np.count_nonzero(pairable.sum(axis=0)) < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        value = krippendorff.alpha(
            value_counts=pairable,
            level_of_measurement=level,
            value_domain=value_domain if value_domain is not None else list(range(counts.shape[1])),
        )
    return _clean(value)


def unit_agreement(counts: np.ndarray, tolerance_matrix: np.ndarray | None = None) -> np.ndarray:
    """Per unit: the share of annotator pairs that agree (NaN below two annotators).

    With `tolerance_matrix` (values × values, 1 where two values count as agreeing),
    near-misses count too (ratings within the tolerance).
    """
    n = counts.sum(axis=1).astype(float)
    if tolerance_matrix is None:
        agreeing = (counts * (counts - 1)).sum(axis=1)
    else:
        agreeing = ((counts @ tolerance_matrix) * counts).sum(axis=1) - n
    with np.errstate(divide="ignore", invalid="ignore"):
        share = agreeing / (n * (n - 1))
    share[n < 2] = np.nan
    return share


def percent_agreement(counts: np.ndarray) -> float | None:
    shares = unit_agreement(counts)
    shares = shares[~np.isnan(shares)]
    return float(shares.mean()) if len(shares) else None


def fleiss_kappa(counts: np.ndarray) -> tuple[float | None, int | None]:
    """Fleiss' κ over the units rated by the most common number of raters (it needs a fixed n).

    Returns (κ, raters per unit); (None, None) where undefined.
    """
    n = counts.sum(axis=1)
    n = n[n >= 2]
    if len(n) == 0:
        return None, None
    raters = int(np.bincount(n).argmax())
    rows = counts[counts.sum(axis=1) == raters].astype(float)
    if len(rows) < 2:
        return None, raters
    p_i = ((rows * rows).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar = p_i.mean()
    p_j = rows.sum(axis=0) / (len(rows) * raters)
    p_e = float((p_j * p_j).sum())
    if p_e >= 1.0:
        return None, raters
    return _clean((p_bar - p_e) / (1.0 - p_e)), raters


def leave_one_out_categorical(counts: np.ndarray, unit: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Per vote: agreement with the majority of the *other* votes on the unit (NaN when alone).

    A tie among the others gives partial credit (1 / number of tied values) when
    the vote is one of them, so agreement is not inflated by coin flips.
    """
    others = counts[unit].astype(float)
    others[np.arange(len(unit)), code] -= 1
    total = others.sum(axis=1)
    best = others.max(axis=1)
    tied = (others == best[:, None]).sum(axis=1)
    own = others[np.arange(len(unit)), code]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(own == best, 1.0 / tied, 0.0)
    score[total < 1] = np.nan
    return score


def leave_one_out_numeric(unit: np.ndarray, value: np.ndarray, n_units: int, tolerance: float) -> np.ndarray:
    """Per vote: 1 if within `tolerance` of the mean of the other votes on the unit, else 0."""
    sums = np.bincount(unit, weights=value, minlength=n_units)
    n = np.bincount(unit, minlength=n_units)
    others = n[unit] - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_others = (sums[unit] - value) / others
    score = (np.abs(value - mean_others) <= tolerance + 1e-9).astype(float)
    score[others < 1] = np.nan
    return score


def tolerance_matrix(n_values: int, tolerance: int) -> np.ndarray:
    positions = np.arange(n_values)
    return (np.abs(positions[:, None] - positions[None, :]) <= tolerance).astype(float)
