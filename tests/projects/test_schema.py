"""Question schema validation: every type's valid and invalid forms; errors name question and field."""

from __future__ import annotations

import copy

import pytest

from apps.projects.schema import SchemaError, validate_answers, validate_schema


def errors_of(questions) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaError) as caught:
        validate_schema(questions)
    return {(e["question"], e["field"]) for e in caught.value.errors}


def one(**question) -> list[dict]:  # type: ignore[no-untyped-def]
    return [{"id": "q1", "prompt": "A question?", **question}]


VALID = {
    "single_choice": {"type": "single_choice", "options": [{"value": "yes", "label": "Yes", "key": "y"}, {"value": "no", "label": "No"}]},
    "multi_choice": {"type": "multi_choice", "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}], "min_selected": 1, "max_selected": 2},
    "rating": {"type": "rating", "min": 1, "max": 5, "anchors": {"1": "Bad", "5": "Good"}, "applies_to": "each_response"},
    "pairwise": {"type": "pairwise", "strength": True},
    "ranking": {"type": "ranking"},
    "text": {"type": "text", "min_length": 3, "max_length": 100},
    "rewrite": {"type": "rewrite"},
    "spans": {"type": "spans", "labels": [{"value": "false", "label": "False claim", "key": "f"}], "target": "prompt"},
}


@pytest.mark.parametrize("qtype", sorted(VALID))
def test_each_type_has_a_valid_form(qtype):  # type: ignore[no-untyped-def]
    [question] = validate_schema(one(**VALID[qtype]))
    assert question["type"] == qtype
    assert "applies_to" in question and isinstance(question["required"], bool)


def test_defaults_are_filled_in():  # type: ignore[no-untyped-def]
    rating, pairwise, text, rewrite, spans = validate_schema(
        [
            {"id": "r", "type": "rating", "prompt": "R"},
            {"id": "p", "type": "pairwise", "prompt": "P"},
            {"id": "t", "type": "text", "prompt": "T"},
            {"id": "w", "type": "rewrite", "prompt": "W"},
            {"id": "s", "type": "spans", "prompt": "S", "labels": [{"value": "x", "label": "X"}]},
        ]
    )
    assert (rating["min"], rating["max"], rating["applies_to"]) == (1, 5, "item")
    assert pairwise["applies_to"] == "pair" and pairwise["allow_tie"] and not pairwise["strength"]
    assert text["required"] is False and text["max_length"] == 5000
    assert rewrite["applies_to"] == "each_response" and rewrite["max_length"] == 50000
    assert spans["target"] == "response"


INVALID = [
    ("single_choice", {"type": "single_choice", "options": [{"value": "only", "label": "Only"}]}, "options"),
    ("single_choice", {"type": "single_choice", "options": [{"value": "a b", "label": "A"}, {"value": "c", "label": "C"}]}, "options[0].value"),
    ("single_choice", {"type": "single_choice", "options": [{"value": "a", "label": "A"}, {"value": "a", "label": "B"}]}, "options[1].value"),
    ("single_choice", {"type": "single_choice", "options": [{"value": "a", "label": ""}, {"value": "b", "label": "B"}]}, "options[0].label"),
    ("single_choice", {"type": "single_choice", "options": [{"value": "a", "label": "A", "key": "k"}, {"value": "b", "label": "B", "key": "k"}]}, "options[1].key"),
    ("multi_choice", {"type": "multi_choice", "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}], "max_selected": 3}, "max_selected"),
    ("multi_choice", {"type": "multi_choice", "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}], "min_selected": 2, "max_selected": 1}, "min_selected"),
    ("rating", {"type": "rating", "min": 1, "max": 20}, "max"),
    ("rating", {"type": "rating", "min": "1", "max": 5}, "min"),
    ("rating", {"type": "rating", "min": 1, "max": 5, "anchors": {"7": "Off the scale"}}, "anchors.7"),
    ("rating", {"type": "rating", "min": 1, "max": 5, "anchors": {"3": ""}}, "anchors.3"),
    ("rating", {"type": "rating", "anchors": ["Bad", "Good"]}, "anchors"),
    ("pairwise", {"type": "pairwise", "applies_to": "item"}, "applies_to"),
    ("pairwise", {"type": "pairwise", "strength": "yes"}, "strength"),
    ("ranking", {"type": "ranking", "applies_to": "each_response"}, "applies_to"),
    ("text", {"type": "text", "min_length": 10, "max_length": 5}, "min_length"),
    ("text", {"type": "text", "max_length": 0}, "max_length"),
    ("rewrite", {"type": "rewrite", "max_length": -1}, "max_length"),
    ("spans", {"type": "spans", "labels": []}, "labels"),
    ("spans", {"type": "spans", "labels": [{"value": "x", "label": "X"}], "target": "everything"}, "target"),
    ("spans", {"type": "spans", "labels": [{"value": "x", "label": "X"}], "applies_to": "each_response"}, "applies_to"),
]


@pytest.mark.parametrize(("qtype", "question", "field"), INVALID, ids=[f"{t}-{f}" for t, _, f in INVALID])
def test_each_type_rejects_invalid_forms_naming_question_and_field(qtype, question, field):  # type: ignore[no-untyped-def]
    assert ("q1", field) in errors_of(one(**question))


def test_common_fields_are_checked():  # type: ignore[no-untyped-def]
    assert errors_of([{"id": "Bad Id", "type": "text", "prompt": "x"}]) == {("Bad Id", "id")}
    assert errors_of([{"id": "q1", "type": "essay", "prompt": "x"}]) == {("q1", "type")}
    assert errors_of([{"id": "q1", "type": "text", "prompt": "  "}]) == {("q1", "prompt")}
    assert errors_of([{"id": "q1", "type": "text", "prompt": "x", "required": "yes"}]) == {("q1", "required")}
    assert errors_of([{"id": "q1", "type": "text", "prompt": "x", "applies_to": "everyone"}]) == {("q1", "applies_to")}
    # A question without a usable id is named by its position.
    assert errors_of([{"type": "text", "prompt": "x"}]) == {("#1", "id")}
    assert errors_of(["not an object"]) == {("#1", "-")}


def test_unknown_settings_are_named():  # type: ignore[no-untyped-def]
    assert errors_of(one(type="rating", anchor={"1": "typo"})) == {("q1", "anchor")}
    assert errors_of(one(type="text", options=[])) == {("q1", "options")}


def test_ids_must_be_unique():  # type: ignore[no-untyped-def]
    questions = [{"id": "a", "type": "text", "prompt": "x"}, {"id": "a", "type": "text", "prompt": "y"}]
    assert errors_of(questions) == {("a", "id")}


def test_schema_level_errors():  # type: ignore[no-untyped-def]
    assert errors_of({"id": "a"}) == {("-", "questions")}
    assert errors_of([]) == {("-", "questions")}
    assert errors_of([{"id": f"q{i}", "type": "text", "prompt": "x"} for i in range(41)]) == {("-", "questions")}


def test_shortcuts_single_printable_and_unique():  # type: ignore[no-untyped-def]
    assert validate_schema(one(type="text", shortcut="n"))[0]["shortcut"] == "n"
    assert errors_of(one(type="text", shortcut="ab")) == {("q1", "shortcut")}
    assert errors_of(one(type="text", shortcut=" ")) == {("q1", "shortcut")}
    assert errors_of(one(type="text", shortcut="\n")) == {("q1", "shortcut")}
    for reserved in ("s", "R", "v", "g", "?"):
        assert errors_of(one(type="text", shortcut=reserved)) == {("q1", "shortcut")}
    both = [
        {"id": "a", "type": "text", "prompt": "x", "shortcut": "k"},
        {"id": "b", "type": "text", "prompt": "y", "shortcut": "k"},
    ]
    assert errors_of(both) == {("b", "shortcut")}


PAIRWISE_THEN = [{"id": "pref", "type": "pairwise", "prompt": "Which?"}]


def test_condition_on_an_earlier_question():  # type: ignore[no-untyped-def]
    questions = PAIRWISE_THEN + [
        {"id": "why", "type": "text", "prompt": "Why both bad?", "condition": {"question": "pref", "equals": "both_bad"}},
        {"id": "how", "type": "text", "prompt": "How?", "condition": {"question": "pref", "in": ["a", "b"]}},
    ]
    normalised = validate_schema(questions)
    assert normalised[1]["condition"] == {"question": "pref", "equals": "both_bad"}


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ({"question": "later", "equals": "x"}, "condition.question"),
        ({"question": "pref"}, "condition"),
        ({"question": "pref", "equals": "a", "in": ["b"]}, "condition"),
        ({"question": "pref", "in": "a"}, "condition.in"),
        ({"question": "pref", "equals": "maybe"}, "condition.equals"),
        ({"question": "pref", "in": ["a", "nope"]}, "condition.in"),
        ({"question": "pref", "equals": "a", "when": "now"}, "condition"),
        ("pref", "condition"),
    ],
)
def test_bad_conditions_are_named(condition, field):  # type: ignore[no-untyped-def]
    questions = PAIRWISE_THEN + [
        {"id": "why", "type": "text", "prompt": "Why?", "condition": condition},
        {"id": "later", "type": "text", "prompt": "Later"},
    ]
    assert ("why", field) in errors_of(questions)


def test_condition_cannot_refer_to_a_per_response_question_or_itself():  # type: ignore[no-untyped-def]
    questions = [
        {"id": "score", "type": "rating", "prompt": "S", "applies_to": "each_response"},
        {"id": "why", "type": "text", "prompt": "Why?", "condition": {"question": "score", "equals": 1}},
        {"id": "self", "type": "text", "prompt": "Me", "condition": {"question": "self", "equals": "x"}},
    ]
    found = errors_of(questions)
    assert ("why", "condition.question") in found and ("self", "condition.question") in found


def test_condition_values_are_checked_against_choices_and_scales():  # type: ignore[no-untyped-def]
    choice = {"id": "c", "type": "single_choice", "prompt": "C", "options": [{"value": "y", "label": "Y"}, {"value": "n", "label": "N"}]}
    scale = {"id": "r", "type": "rating", "prompt": "R", "min": 1, "max": 3}
    ok = [choice, scale, {"id": "t", "type": "text", "prompt": "T", "condition": {"question": "r", "in": [1, 2]}}]
    validate_schema(ok)
    bad = copy.deepcopy(ok)
    bad[2]["condition"] = {"question": "r", "equals": 5}
    assert errors_of(bad) == {("t", "condition.equals")}
    bad[2]["condition"] = {"question": "c", "equals": "maybe"}
    assert errors_of(bad) == {("t", "condition.equals")}


def test_error_message_is_readable():  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaError) as caught:
        validate_schema(one(type="rating", min=1, max=5, anchors={"9": "x"}))
    assert "q1.anchors.9" in str(caught.value) and "1-5 scale" in str(caught.value)


def test_answers_follow_conditions():  # type: ignore[no-untyped-def]
    questions = validate_schema(
        PAIRWISE_THEN + [{"id": "why", "type": "text", "prompt": "Why?", "required": True, "min_length": 1,
                          "condition": {"question": "pref", "equals": "both_bad"}}]
    )
    kwargs = {"generation_ids": [1, 2], "texts": {1: "a", 2: "b"}, "prompt_text": "p"}
    assert validate_answers(questions, {"pref": {"choice": "a"}, "why": "ignored"}, **kwargs) == {"pref": {"choice": "a"}}
    with pytest.raises(Exception) as caught:
        validate_answers(questions, {"pref": {"choice": "both_bad"}}, **kwargs)
    assert "why" in caught.value.errors  # type: ignore[attr-defined]


def test_reading_order_puts_id_type_prompt_first():  # type: ignore[no-untyped-def]
    from apps.projects.schema import questions_in_reading_order

    stored = [{"key": 1, "type": "rating", "id": "r", "prompt": "R", "anchors": {"5": "Good", "1": "Bad"}, "max": 5, "min": 1}]
    [question] = questions_in_reading_order(stored)
    assert list(question)[:3] == ["id", "type", "prompt"] and list(question)[-1] == "key"
    assert list(question["anchors"]) == ["1", "5"]
    options = questions_in_reading_order([{"id": "c", "options": [{"key": "1", "label": "L", "value": "v"}]}])[0]["options"]
    assert list(options[0]) == ["value", "label", "key"]
