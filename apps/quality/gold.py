"""Scoring an annotation against an item's gold answers, per question type.

    single_choice, pairwise   exact match
    multi_choice              exact set (the score is the Jaccard overlap, for information)
    rating                    within `rating_tolerance` points
    spans                     character-overlap F1 of at least `span_f1_pass`
    ranking                   Kendall's tau of at least `ranking_tau_pass`
    text, rewrite             not scored (free text has no single right answer)

Gold answers use the same format as annotations (apps.projects.schema) and may
cover only some questions: only those are scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.quality.spans import span_f1

SCORED_TYPES = ("single_choice", "multi_choice", "rating", "pairwise", "ranking", "spans")


@dataclass(frozen=True)
class GoldRules:
    rating_tolerance: int = 1
    span_f1_pass: float = 0.5
    ranking_tau_pass: float = 0.5

    @classmethod
    def from_settings(cls, quality_settings: Any) -> GoldRules:
        return cls(
            rating_tolerance=quality_settings.rating_tolerance,
            span_f1_pass=quality_settings.span_f1_pass,
            ranking_tau_pass=quality_settings.ranking_tau_pass,
        )


@dataclass(frozen=True)
class QuestionScore:
    question: str
    response: str | None  # generation id for each_response questions
    score: float  # 0..1
    passed: bool


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or (value == [] )


def score_value(question: dict[str, Any], given: Any, expected: Any, rules: GoldRules) -> tuple[float, bool]:
    """(score 0..1, passed) of one answer value against the gold value."""
    qtype = question["type"]
    if qtype == "spans":
        f1 = span_f1(given if isinstance(given, list) else [], expected)
        return f1, f1 >= rules.span_f1_pass
    if _empty(given):
        return 0.0, False
    if qtype == "single_choice":
        ok = given == expected
        return float(ok), ok
    if qtype == "multi_choice":
        left, right = set(given or []), set(expected or [])
        union = left | right
        jaccard = len(left & right) / len(union) if union else 1.0
        return jaccard, left == right
    if qtype == "rating":
        low, high = question.get("min", 1), question.get("max", 5)
        distance = abs(float(given) - float(expected))
        return max(0.0, 1.0 - distance / max(high - low, 1)), distance <= rules.rating_tolerance
    if qtype == "pairwise":
        ok = isinstance(given, dict) and isinstance(expected, dict) and given.get("choice") == expected.get("choice")
        return float(ok), ok
    if qtype == "ranking":
        order = [int(v) for v in expected]
        try:
            given_positions = [[int(v) for v in given].index(g) for g in order]
        except ValueError:
            return 0.0, False
        if len(order) < 2:
            return 1.0, True
        # Imported here: scipy costs ~90 MB, and this module is loaded by every web and Celery process.
        from scipy.stats import kendalltau

        tau = kendalltau(list(range(len(order))), given_positions).statistic
        tau = 1.0 if tau != tau else float(tau)  # NaN only when every position ties
        return (tau + 1.0) / 2.0, tau >= rules.ranking_tau_pass
    raise ValueError(f"question type {qtype} is not scored against gold")


def score_answers(
    questions: list[dict[str, Any]], answers: dict[str, Any], gold: dict[str, Any] | None, rules: GoldRules
) -> list[QuestionScore]:
    """One QuestionScore per gold value (per response for each_response questions)."""
    results: list[QuestionScore] = []
    if not gold:
        return results
    answers = answers or {}
    for question in questions:
        qid = question["id"]
        if question["type"] not in SCORED_TYPES or qid not in gold:
            continue
        expected = gold[qid]
        if question.get("applies_to") == "each_response" and question["type"] != "ranking":
            if not isinstance(expected, dict):
                continue
            given_map = answers.get(qid) if isinstance(answers.get(qid), dict) else {}
            for response, value in expected.items():
                if _empty(value) and question["type"] != "spans":
                    continue
                score, passed = score_value(question, given_map.get(str(response)), value, rules)
                results.append(QuestionScore(qid, str(response), score, passed))
            continue
        if _empty(expected) and question["type"] != "spans":
            continue
        score, passed = score_value(question, answers.get(qid), expected, rules)
        results.append(QuestionScore(qid, None, score, passed))
    return results


def summarise(scores: list[QuestionScore]) -> tuple[float | None, bool | None]:
    """(mean score, every answer passed) of one annotation; (None, None) when nothing was scored."""
    if not scores:
        return None, None
    return sum(s.score for s in scores) / len(scores), all(s.passed for s in scores)
