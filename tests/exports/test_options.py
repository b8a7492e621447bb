"""Option parsing: every bad option is named, with what was expected."""

from __future__ import annotations

import pytest

from apps.exports.options import ExportOptionsError, parse_options
from apps.projects.schema import validate_schema
from tests.exports.conftest import QUESTIONS

SCHEMA = validate_schema(QUESTIONS)


def errors_for(kind="preference", fmt="jsonl", questions=SCHEMA, **raw):  # type: ignore[no-untyped-def]
    with pytest.raises(ExportOptionsError) as info:
        parse_options(questions=questions, kind=kind, fmt=fmt, raw=raw)
    return info.value.errors


def test_defaults_follow_the_schema():
    options = parse_options(questions=SCHEMA, kind="preference", fmt="jsonl", raw={})
    assert options.sources == ["pairwise", "rewrites"] and options.pairwise_question == "preference"
    assert options.harmful_labels == ["false_claim", "harmful"] and options.harmful_spans == "keep"
    assert options.redact_pii is True and options.exclude_suspended is True
    sft = parse_options(questions=SCHEMA, kind="sft", fmt="hf", raw={})
    assert sft.harmful_spans == "mask" and sft.sources == ["rewrites", "rated"] and sft.min_rating == 4.0


def test_bad_values_are_named():
    errors = errors_for(test_fraction="0.9", seed="x", min_agreement="2", ties="maybe", date_from="2024-13-01",
                        colour="blue", redact_pii="perhaps")
    assert errors == {
        "colour": "is not an export option",
        "test_fraction": "must be from 0 to 0.5",
        "seed": "must be a whole number from 0 to 2147483647",
        "min_agreement": "must be from 0 to 1",
        "ties": "must be one of drop, keep",
        "date_from": "must be a date as YYYY-MM-DD",
        "redact_pii": "must be true or false",
    }


def test_kind_specific_rules():
    assert "weight_zero" in errors_for(harmful_spans="weight_zero")["harmful_spans"]
    assert "extra keys" in errors_for(kind="openai_chat", include_ids="true")["include_ids"]
    assert "name the answers" in errors_for(kind="kto", sources="verdict")["positive_values"]
    assert errors_for(kind="kto", sources="verdict", positive_values="great")["positive_values"] == (
        "not answers of 'verdict': great")
    assert "ranking" in errors_for(sources="ranking")["ranking_question"]
    assert errors_for(kind="nope") == {"kind": "must be one of " + ", ".join(
        ["sft", "preference", "kto", "openai_chat", "openai_preference", "labels", "spans", "raw"])}
    only_rating = validate_schema([{"id": "overall", "type": "rating", "prompt": "Overall"}])
    assert "spans" in errors_for(kind="spans", questions=only_rating)["spans_question"]
    assert errors_for(kind="preference", questions=only_rating, harmful_labels="harmful") == {
        "harmful_labels": "not span labels of this project: harmful"}
