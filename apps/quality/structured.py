"""Agreement and aggregation for structured answers: rankings and spans, item by item.

Rankings aggregate by Borda count (mean position); agreement is Kendall's tau
mapped to 0..1 as (1 + tau) / 2, and Krippendorff's α (ordinal) on each
response's position. Spans aggregate by character-level majority vote and agree
by mean pairwise overlap F1 (apps.quality.spans).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from apps.quality import agreement as ag
from apps.quality.aggregation import QuestionResult, _figures, _round, empty_result
from apps.quality.spans import mean_pairwise_f1, span_f1, span_vote


def _tau(left: list[float], right: list[float]) -> float:
    if len(left) < 2:
        return 1.0
    value = kendalltau(left, right).statistic
    return 1.0 if value != value else float(value)  # NaN when one side is all ties


def _consensus(positions: np.ndarray) -> np.ndarray:
    """Consensus position of each response (0 = best) from the annotators' positions (rows)."""
    mean = positions.mean(axis=0)
    order = np.lexsort((np.arange(len(mean)), mean))
    consensus = np.empty(len(mean))
    consensus[order] = np.arange(len(mean))
    return consensus


def aggregate_ranking(question: dict[str, Any], votes: pd.DataFrame) -> QuestionResult:
    votes = votes[votes["value"].map(lambda v: isinstance(v, list) and len(v) > 0)]
    if votes.empty:
        return empty_result(question)
    rows, loo, alpha_rows = [], {}, []
    longest = int(votes["value"].map(len).max())
    for item_id, group in votes.groupby("item_id", sort=True):
        generations = sorted({int(g) for order in group["value"] for g in order})
        index = {g: i for i, g in enumerate(generations)}
        orders = [[int(g) for g in order] for order in group["value"]]
        valid = [o for o in orders if sorted(o) == generations]
        ids = [vid for vid, o in zip(group["id"], orders, strict=True) if sorted(o) == generations]
        if not valid:
            continue
        positions = np.array([[order.index(g) for g in generations] for order in valid], dtype=float)
        consensus = _consensus(positions)
        answer = [generations[i] for i in np.argsort(consensus, kind="stable")]
        taus = [_tau(list(p), list(consensus)) for p in positions]
        pair_scores = [
            (1 + _tau(list(positions[i]), list(positions[j]))) / 2
            for i in range(len(positions)) for j in range(i + 1, len(positions))
        ]
        for k, vote_id in enumerate(ids):
            if len(positions) >= 2:
                others = np.delete(positions, k, axis=0)
                loo[vote_id] = (1 + _tau(list(positions[k]), list(_consensus(others)))) / 2
        for g in generations:
            counts = np.bincount(positions[:, index[g]].astype(int), minlength=longest)
            alpha_rows.append(counts)
        rows.append({
            "item_id": item_id, "response": 0, "answer": answer,
            "confidence": round(float(np.mean([(1 + t) / 2 for t in taus])), 4),
            "agreement": float(np.mean(pair_scores)) if pair_scores else np.nan, "n": len(valid),
            "details": {"method": "borda", "n": len(valid),
                        "mean_position": {str(g): round(float(positions[:, index[g]].mean()) + 1, 3) for g in generations}},
        })
    if not rows:
        return empty_result(question)
    units = pd.DataFrame(rows)
    counts = np.array(alpha_rows)
    figures = _figures(
        question, alpha=_round(ag.alpha(counts, "ordinal")), units=len(units), votes=int(units["n"].sum()),
        percent_agreement=_round(float(units["agreement"].dropna().mean()) if units["agreement"].notna().any() else None),
        method="borda",
    )
    return QuestionResult(question, units, figures, pd.Series(loo, dtype=float))


def aggregate_spans(question: dict[str, Any], votes: pd.DataFrame) -> QuestionResult:
    votes = votes[votes["value"].map(lambda v: isinstance(v, list))]
    if votes.empty:
        return empty_result(question)
    rows, loo = [], {}
    label_votes: Counter[str] = Counter()
    label_aggregated: Counter[str] = Counter()
    for item_id, group in votes.groupby("item_id", sort=True):
        lists = list(group["value"])
        consensus = span_vote(lists)
        agreement = mean_pairwise_f1(lists)
        for k, vote_id in enumerate(group["id"]):
            if len(lists) >= 2:
                loo[vote_id] = span_f1(lists[k], span_vote(lists[:k] + lists[k + 1:]))
        for spans in lists:
            label_votes.update(str(s["label"]) for s in spans)
        label_aggregated.update(str(s["label"]) for s in consensus)
        rows.append({
            "item_id": item_id, "response": 0, "answer": consensus,
            "confidence": None if agreement is None else round(agreement, 4),
            "agreement": np.nan if agreement is None else agreement, "n": len(lists),
            "details": {"method": "span_vote", "n": len(lists), "spans_per_annotator": [len(s) for s in lists]},
        })
    units = pd.DataFrame(rows)
    labels = [label["value"] for label in question.get("labels", [])]
    span_agreement = units["agreement"].dropna()
    figures = _figures(
        question, span_f1=_round(float(span_agreement.mean())) if len(span_agreement) else None,
        percent_agreement=_round(float(span_agreement.mean())) if len(span_agreement) else None,
        units=len(units), votes=int(units["n"].sum()), method="span_vote",
        distribution={"labels": labels, "votes": [label_votes[label] for label in labels],
                      "aggregated": [label_aggregated[label] for label in labels]},
    )
    return QuestionResult(question, units, figures, pd.Series(loo, dtype=float))
