"""Pure pieces: offset mapping, CSV neutralising, the split, the PII stage, aggregation."""

from __future__ import annotations

import pytest

from apps.exports.aggregation import majority_vote
from apps.exports.redaction import PiiRedactor
from apps.exports.textops import Replacement, apply_replacements, placeholder_for
from apps.exports.writers import neutralise_cell, split_for


def test_replacements_carry_offsets_into_the_new_text():
    text = "call 555 now, then stop"
    edited = apply_replacements(text, [Replacement(5, 8, "[PHONE]"), Replacement(19, 23, "[X]")])
    assert edited.text == "call [PHONE] now, then [X]"
    assert edited.text[edited.map_start(9):edited.map_end(12)] == "now"
    # A range inside a replacement widens to the whole placeholder, never to broken text.
    assert edited.text[edited.map_start(6):edited.map_end(7)] == "[PHONE]"
    assert edited.map_start(0) == 0 and edited.map_end(len(text)) == len(edited.text)


def test_overlapping_replacements_merge():
    edited = apply_replacements("abcdefgh", [Replacement(1, 4, "[A]"), Replacement(3, 6, "[B]")])
    assert edited.text == "a[A]gh"
    assert placeholder_for("false claim") == "[FALSE_CLAIM]"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(1)", "\t=1", "\r=1", "  =1"])
def test_formula_cells_are_neutralised(cell):
    assert neutralise_cell(cell) == "'" + cell


def test_ordinary_cells_are_left_alone():
    assert neutralise_cell("Hello = world") == "Hello = world"


def test_split_depends_only_on_seed_and_prompt():
    splits = [split_for(f"hash-{n}", seed=1, test_fraction=0.25) for n in range(2000)]
    assert 0.2 < splits.count("test") / 2000 < 0.3
    assert splits == [split_for(f"hash-{n}", seed=1, test_fraction=0.25) for n in range(2000)]
    assert splits != [split_for(f"hash-{n}", seed=2, test_fraction=0.25) for n in range(2000)]
    assert split_for("x", seed=1, test_fraction=0) == "train"


def test_redactor_uses_stored_spans_and_detects_annotator_text():
    calls: list[str] = []

    def detector(text):  # type: ignore[no-untyped-def]
        calls.append(text)
        return [{"start": 5, "end": 15, "type": "EMAIL", "score": 1.0}] if "@" in text else []

    redactor = PiiRedactor(source="scan", detector=detector)
    stored = [(0, 4, "PHONE")]
    assert [(r.start, r.end, r.text) for r in redactor.replacements("5551 is mine", stored)] == [(0, 4, "[PHONE]")]
    assert calls == []  # model text with stored spans: no detection
    written = "Mail a@example.com"
    assert redactor.replacements(written, None, written_by_annotator=True)[0].text == "[EMAIL]"
    redactor.replacements(written, None, written_by_annotator=True)
    assert calls == [written]  # cached
    assert redactor.counts == {"PHONE": 1, "EMAIL": 2}
    fresh = PiiRedactor(source="detect", detector=detector)
    assert fresh.replacements(written, [])[0].text == "[EMAIL]"


def test_majority_vote_shapes_and_confidence():
    questions = [
        {"id": "p", "type": "pairwise", "applies_to": "pair", "strength": True},
        {"id": "r", "type": "rating", "applies_to": "each_response", "min": 1, "max": 5},
        {"id": "c", "type": "single_choice", "applies_to": "item", "options": [{"value": "x"}, {"value": "y"}]},
    ]
    answers = [
        {"p": {"choice": "a", "strength": 3}, "r": {"1": 5, "2": 1}, "c": "x"},
        {"p": {"choice": "a", "strength": 1}, "r": {"1": 4, "2": 2}, "c": "y"},
        {"p": {"choice": "b", "strength": 2}, "r": {"1": 5, "2": 1}, "c": "y"},
    ]
    aggregate = majority_vote(questions, answers, [1, 2])
    assert aggregate.answers["p"] == {"choice": "a", "share": pytest.approx(2 / 3), "strength": 2.0}
    assert aggregate.answers["r"] == {"1": pytest.approx(14 / 3), "2": pytest.approx(4 / 3)}
    assert aggregate.answers["c"] == "y"
    assert aggregate.confidence == pytest.approx(2 / 3)
    assert aggregate.annotation_count == 3 and aggregate.agreement is not None
    tie = majority_vote(questions[:1], answers[1:], [1, 2])
    assert tie.answers["p"]["choice"] == "tie"
