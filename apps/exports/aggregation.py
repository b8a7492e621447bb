"""Per-item aggregated answers: the quality app's when it has them, majority vote otherwise.

The result keeps the project's answer format (apps.projects.schema) with these
aggregated forms:

    single_choice   the most chosen value (ties: the earlier option)
    multi_choice    the values chosen by more than half of the annotators
    rating          the mean (a float)
    pairwise        {"choice": most chosen, "strength": mean strength of those votes (when asked),
                     "share": that choice's share of the votes}; an a/b tie of votes is "tie"
    ranking         Borda count, best first (ties: display order)
    each_response   {"<generation id>": aggregated value}

Text, rewrite and spans answers are not aggregated (exports read them per annotation).
`question_confidence` is, per question, the share of annotators agreeing with the
aggregated answer (for ratings: within one point of the mean; each_response questions
take their lowest response), as in apps.quality's ItemAggregate; `confidence` is the
lowest of them. `agreement` is the mean pairwise agreement among annotators on
categorical answers (None with fewer than two annotations).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

NOT_AGGREGATED = ("text", "rewrite", "spans")


@dataclass(slots=True)
class Aggregate:
    answers: dict[str, Any]
    confidence: float
    agreement: float | None
    annotation_count: int
    reviewed: bool = False
    source: str = "majority_vote"
    question_confidence: dict[str, float] = field(default_factory=dict)
    # Ranking questions: Borda points per generation id, for preference margins.
    borda: dict[str, dict[int, float]] = field(default_factory=dict)


def _pairwise_agreement(values: list[Any]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    counts = Counter(values)
    return sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))


def _share(values: list[Any], winner: Any) -> float:
    return sum(1 for v in values if v == winner) / len(values) if values else 0.0


def _aggregate_value(question: dict[str, Any], values: list[Any], generation_ids: list[int]
                     ) -> tuple[Any, float, float | None, dict[int, float] | None]:
    """(aggregated value, confidence, agreement, borda points) for one question and target."""
    qtype = question["type"]
    if qtype == "pairwise":
        # The hot path of preference exports, once per item: checked first, and plain loops
        # (each comprehension is a function call, and there are only a few votes).
        counts: dict[str, int] = {}
        for v in values:
            choice = v["choice"]
            counts[choice] = counts.get(choice, 0) + 1
        top = max(counts.values())
        leaders = 0
        for candidate, votes in counts.items():
            if votes == top:
                leaders += 1
                choice = candidate
        if leaders > 1:
            choice = "tie"
        n = len(values)
        share = counts.get(choice, 0) / n
        result: dict[str, Any] = {"choice": choice, "share": share}
        strengths: list[Any] = []
        for v in values:
            if v["choice"] == choice and "strength" in v:
                strengths.append(v["strength"])
        if strengths:
            result["strength"] = sum(strengths) / len(strengths)
        if n < 2:
            return result, share, None, None
        pairs = 0
        for votes in counts.values():
            pairs += votes * (votes - 1)
        return result, share, pairs / (n * (n - 1)), None
    if qtype == "single_choice":
        order = [o["value"] for o in question.get("options", [])]
        counts = Counter(values)
        best = max(counts.items(), key=lambda kv: (kv[1], -order.index(kv[0]) if kv[0] in order else 0))[0]
        return best, _share(values, best), _pairwise_agreement(values), None
    if qtype == "multi_choice":
        counts = Counter(v for chosen in values for v in chosen)
        order = [o["value"] for o in question.get("options", [])]
        chosen = [v for v in order if counts[v] * 2 > len(values)]
        shares = [max(counts[v], len(values) - counts[v]) / len(values) for v in order] or [1.0]
        return chosen, sum(shares) / len(shares), _pairwise_agreement([tuple(v) for v in values]), None
    if qtype == "rating":
        mean = sum(values) / len(values)
        # Confidence: annotators within one point of the mean.
        return mean, _share([abs(v - mean) <= 1 for v in values], True), _pairwise_agreement(values), None
    if qtype == "ranking":
        points: dict[int, float] = defaultdict(float)
        for ranking in values:
            for position, generation_id in enumerate(ranking):
                points[int(generation_id)] += len(ranking) - 1 - position
        display = {g: i for i, g in enumerate(generation_ids)}
        order = sorted(points, key=lambda g: (-points[g], display.get(g, 0)))
        rank = {g: i for i, g in enumerate(order)}
        agreeing = total = 0
        for ranking in values:
            for higher, lower in combinations([int(g) for g in ranking], 2):
                total += 1
                agreeing += rank[higher] < rank[lower]
        confidence = agreeing / total if total else 1.0
        return order, confidence, _pairwise_agreement([tuple(r) for r in values]), dict(points)
    raise ValueError(f"{qtype} answers are not aggregated")


def majority_vote(questions: list[dict[str, Any]], annotations: list[dict[str, Any]],
                  generation_ids: list[int]) -> Aggregate:
    """Aggregate answers of the given annotations (already filtered: no surplus, no suspended)."""
    answers: dict[str, Any] = {}
    confidences: dict[str, float] = {}
    agreements: list[float] = []
    borda: dict[str, dict[int, float]] = {}
    for question in questions:
        qid = question["id"]
        if question["type"] in NOT_AGGREGATED:
            continue
        if question.get("applies_to") == "each_response" and question["type"] != "ranking":
            per_response: dict[str, Any] = {}
            for generation_id in generation_ids:
                key = str(generation_id)
                values = [a[qid][key] for a in annotations if isinstance(a.get(qid), dict) and key in a[qid]]
                if not values:
                    continue
                value, confidence, agreement, _ = _aggregate_value(question, values, generation_ids)
                per_response[key] = value
                confidences[qid] = min(confidence, confidences.get(qid, 1.0))
                if agreement is not None:
                    agreements.append(agreement)
            if per_response:
                answers[qid] = per_response
            continue
        values = [a[qid] for a in annotations if qid in a]
        if not values:
            continue
        value, confidence, agreement, points = _aggregate_value(question, values, generation_ids)
        answers[qid] = value
        confidences[qid] = confidence
        if agreement is not None:
            agreements.append(agreement)
        if points is not None:
            borda[qid] = points
    return Aggregate(
        answers=answers,
        confidence=min(confidences.values(), default=1.0),
        agreement=sum(agreements) / len(agreements) if agreements else None,
        annotation_count=len(annotations),
        borda=borda,
        question_confidence=confidences,
    )


def apply_review(aggregate: Aggregate, review: dict[str, Any] | None,
                 answers_by_annotation: dict[int, dict[str, Any]]) -> Aggregate:
    """A reviewer's decision wins: corrected answers, or the accepted annotation's answers."""
    if review is None:
        return aggregate
    if review["decision"] == "correct" and review.get("answers"):
        aggregate.answers = {**aggregate.answers, **review["answers"]}
        aggregate.confidence = 1.0
        aggregate.question_confidence = {qid: 1.0 for qid in aggregate.answers}
    elif review["decision"] == "accept" and review.get("annotation_id") in answers_by_annotation:
        accepted = answers_by_annotation[review["annotation_id"]]
        aggregate.answers = {**aggregate.answers, **{k: v for k, v in accepted.items() if k in aggregate.answers}}
        aggregate.confidence = 1.0
        aggregate.question_confidence = {qid: 1.0 for qid in aggregate.answers}
    aggregate.reviewed = review["decision"] in ("accept", "correct")
    if aggregate.reviewed:
        aggregate.source = "review"
    return aggregate


def from_quality(row: dict[str, Any]) -> Aggregate:
    """The quality app's ItemAggregate row: answers (ratings are medians there), per-question
    confidence, agreement, annotation_count, reviewed (the reviewer's answer is already in)."""
    per_question = row.get("confidence")
    if not isinstance(per_question, dict):
        per_question = {}
    per_question = {str(k): float(v) for k, v in per_question.items() if isinstance(v, int | float)}
    confidence = row.get("min_confidence")
    if confidence is None:
        confidence = min(per_question.values(), default=1.0)
    return Aggregate(
        answers=dict(row.get("answers") or {}),
        confidence=float(confidence),
        agreement=float(row["agreement"]) if row.get("agreement") is not None else None,
        annotation_count=int(row.get("annotation_count") or 0),
        reviewed=bool(row.get("reviewed")),
        source="quality",
        question_confidence=per_question,
    )
