"""The statistics on data with known answers (pure functions, no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from apps.quality import agreement as ag
from apps.quality.aggregation import aggregate_categorical, aggregate_rating
from apps.quality.gold import GoldRules, score_answers
from apps.quality.leaderboard import leaderboard, length_bias, position_bias
from apps.quality.spans import span_f1, span_vote
from apps.quality.structured import aggregate_ranking, aggregate_spans
from tests.quality.helpers import CHOICE_QUESTION, RATING_QUESTION

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, values 1-5, missing data. Published: nominal .743, ordinal .815, interval .849.
NA = None
RELIABILITY_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, 3],
    [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NA],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA],
]


def _counts_from_reliability_data() -> np.ndarray:
    counts = np.zeros((12, 5), dtype=int)
    for observer in RELIABILITY_DATA:
        for unit, value in enumerate(observer):
            if value is not None:
                counts[unit, value - 1] += 1
    return counts


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_matches_krippendorffs_worked_example(level, published):  # type: ignore[no-untyped-def]
    value = ag.alpha(_counts_from_reliability_data(), level, value_domain=[1, 2, 3, 4, 5])
    assert value == pytest.approx(published, abs=0.0005)


def test_rating_question_reports_the_published_ordinal_alpha():  # type: ignore[no-untyped-def]
    rows = [
        {"id": len(RELIABILITY_DATA) * unit + observer, "item_id": unit + 1, "response": 0,
         "annotator_id": observer + 1, "value": float(value)}
        for observer, values in enumerate(RELIABILITY_DATA) for unit, value in enumerate(values) if value is not None
    ]
    result = aggregate_rating(RATING_QUESTION, pd.DataFrame(rows), tolerance=0)
    assert result.figures["alpha"] == pytest.approx(0.815, abs=0.0005)
    assert result.figures["level"] == "ordinal"


def test_fleiss_kappa_matches_fleiss_1971_example():  # type: ignore[no-untyped-def]
    # The worked example from Wikipedia's "Fleiss' kappa" (14 raters, 10 subjects, 5 categories): κ = 0.210.
    table = np.array([
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ])
    kappa, raters = ag.fleiss_kappa(table)
    assert raters == 14
    assert kappa == pytest.approx(0.210, abs=0.001)
    assert ag.percent_agreement(np.array([[3, 0], [2, 1]])) == pytest.approx((1 + 1 / 3) / 2)


def _simulate(accuracies: list[float], items: int, classes: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, items)
    rows = []
    for worker, accuracy in enumerate(accuracies):
        correct = rng.random(items) < accuracy
        # Wrong answers are systematic (always the next class), as real confusions are.
        labels = np.where(correct, truth, (truth + 1) % classes)
        for item in range(items):
            rows.append({"id": len(rows) + 1, "item_id": item + 1, "response": 0, "annotator_id": worker + 1,
                         "value": CHOICE_QUESTION["options"][labels[item]]["value"]})
    return pd.DataFrame(rows), truth


def test_dawid_skene_recovers_the_truth_better_than_majority_vote():  # type: ignore[no-untyped-def]
    votes, truth = _simulate([0.95, 0.9, 0.45, 0.4, 0.35], items=300, classes=3, seed=7)
    result = aggregate_categorical(CHOICE_QUESTION, votes, use_ds=True)
    values = [o["value"] for o in CHOICE_QUESTION["options"]]
    expected = [values[t] for t in truth]
    ds_accuracy = np.mean([a == e for a, e in zip(result.units["answer"], expected, strict=True)])
    mv_accuracy = np.mean([d["majority"] == e for d, e in zip(result.units["details"], expected, strict=True)])
    assert result.figures["method"] == "dawid_skene"
    assert ds_accuracy > mv_accuracy + 0.1, (ds_accuracy, mv_accuracy)
    assert ds_accuracy > 0.9
    # Leave-one-out agreement ranks the careful annotators above the careless ones.
    per_worker = result.loo.groupby(votes.set_index("id").loc[result.loo.index, "annotator_id"].to_numpy()).mean()
    assert per_worker[1] > per_worker[5] and per_worker[2] > per_worker[4]


def test_bradley_terry_recovers_a_known_model_order():  # type: ignore[no-untyped-def]
    strengths = {"gamma": 1.5, "alpha": 0.8, "delta": 0.0, "beta": -0.7, "epsilon": -1.4}
    names = list(strengths)
    rng = np.random.default_rng(3)
    comparisons = []
    for _ in range(2500):
        left, right = rng.choice(len(names), 2, replace=False)
        p_left = 1 / (1 + np.exp(strengths[names[right]] - strengths[names[left]]))
        draw = rng.random()
        outcome = 0.5 if draw < 0.08 else (1.0 if draw < 0.08 + 0.92 * p_left else 0.0)
        comparisons.append((names[left], names[right], outcome))
    board = leaderboard(comparisons, samples=200)
    assert [row["model"] for row in board["models"]] == ["gamma", "alpha", "delta", "beta", "epsilon"]
    for row in board["models"]:
        assert row["ci_low"] <= row["score"] <= row["ci_high"]
    top, second = board["models"][0], board["models"][1]
    assert top["ci_low"] > second["score"]  # well separated strengths give separated intervals


def test_position_bias_is_detected_on_biased_votes_only():  # type: ignore[no-untyped-def]
    biased = position_bias(a_wins=345, b_wins=255)
    fair = position_bias(a_wins=305, b_wins=295)
    assert biased["biased"] and biased["p_value"] < 0.05 and biased["share_a"] == pytest.approx(0.575)
    assert not fair["biased"]
    assert length_bias(longer_wins=80, shorter_wins=20)["biased"]


def test_gold_scoring_per_question_type():  # type: ignore[no-untyped-def]
    rules = GoldRules(rating_tolerance=1, span_f1_pass=0.5, ranking_tau_pass=0.5)
    questions = [
        CHOICE_QUESTION, RATING_QUESTION,
        {"id": "tags", "type": "multi_choice", "prompt": "Tags", "applies_to": "item",
         "options": [{"value": "x", "label": "X"}, {"value": "y", "label": "Y"}]},
        {"id": "pref", "type": "pairwise", "prompt": "Better?", "applies_to": "pair"},
        {"id": "order", "type": "ranking", "prompt": "Rank", "applies_to": "item"},
        {"id": "spans", "type": "spans", "prompt": "Spans", "applies_to": "item", "labels": [{"value": "bad", "label": "Bad"}]},
        {"id": "why", "type": "text", "prompt": "Why?", "applies_to": "item"},
    ]
    gold = {"label": "unsafe", "fluency": 4, "tags": ["x", "y"], "pref": {"choice": "a"}, "order": [10, 11, 12, 13],
            "spans": [{"start": 0, "end": 10, "label": "bad", "generation": 10}], "why": "because"}
    right = {"label": "unsafe", "fluency": 5, "tags": ["y", "x"], "pref": {"choice": "a"}, "order": [10, 11, 13, 12],
             "spans": [{"start": 2, "end": 10, "label": "bad", "generation": 10}], "why": "other words"}
    wrong = {"label": "safe", "fluency": 2, "tags": ["x"], "pref": {"choice": "tie"}, "order": [13, 12, 11, 10],
             "spans": [{"start": 0, "end": 10, "label": "bad", "generation": 11}]}
    passed = {s.question: s.passed for s in score_answers(questions, right, gold, rules)}
    failed = {s.question: s.passed for s in score_answers(questions, wrong, gold, rules)}
    assert passed == {"label": True, "fluency": True, "tags": True, "pref": True, "order": True, "spans": True}
    assert failed == {"label": False, "fluency": False, "tags": False, "pref": False, "order": False, "spans": False}


def test_span_overlap_f1_and_vote():  # type: ignore[no-untyped-def]
    a = [{"start": 0, "end": 10, "label": "bad", "generation": 1}]
    b = [{"start": 5, "end": 15, "label": "bad", "generation": 1}]
    assert span_f1(a, b) == pytest.approx(0.5)
    assert span_f1([], []) == 1.0
    assert span_f1(a, [{"start": 0, "end": 10, "label": "other", "generation": 1}]) == 0.0
    c = [{"start": 6, "end": 9, "label": "bad", "generation": 1}]
    assert span_vote([a, b, c]) == [{"start": 5, "end": 10, "label": "bad", "generation": 1}]
    frame = pd.DataFrame({"id": [1, 2, 3], "item_id": [1, 1, 1], "response": 0, "annotator_id": [1, 2, 3],
                          "value": [a, b, c]})
    result = aggregate_spans({"id": "s", "type": "spans", "labels": [{"value": "bad", "label": "Bad"}]}, frame)
    assert result.units.iloc[0]["answer"] == [{"start": 5, "end": 10, "label": "bad", "generation": 1}]
    assert 0 < result.figures["span_f1"] < 1


def test_ranking_aggregates_by_borda_count():  # type: ignore[no-untyped-def]
    frame = pd.DataFrame({"id": [1, 2, 3], "item_id": 1, "response": 0, "annotator_id": [1, 2, 3],
                          "value": [[7, 8, 9], [7, 9, 8], [8, 7, 9]]})
    result = aggregate_ranking({"id": "order", "type": "ranking"}, frame)
    assert result.units.iloc[0]["answer"] == [7, 8, 9]
    assert 0.5 < result.units.iloc[0]["confidence"] < 1
