"""What each export kind writes: exact columns and types, the rows the votes imply, the options."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from apps.annotations.models import Review
from tests.exports.conftest import CARD, EMAIL, HARMFUL, PHONE, annotate, answers_for
from tests.exports.helpers import build, read_jsonl
from tests.exports.trl_check import check_kto, check_preference
from tests.factories import ProjectFactory, make_item

pytestmark = pytest.mark.django_db

MSG = "list<element: struct<role: string, content: string>>"
EXPECTED_TYPES = {
    ("sft", ()): {"messages": MSG},
    ("sft", (("sft_format", "prompt_completion"),)): {"prompt": "string", "completion": "string"},
    ("sft", (("sft_format", "prompt_completion"), ("conversational", "true"))): {"prompt": MSG, "completion": MSG},
    ("preference", ()): {"prompt": "string", "chosen": "string", "rejected": "string"},
    ("preference", (("margin", "true"), ("conversational", "true"))): {
        "prompt": MSG, "chosen": MSG, "rejected": MSG, "margin": "double"},
    ("kto", (("positive_values", "good"),)): {"prompt": "string", "completion": "string", "label": "bool"},
    ("openai_chat", ()): {"messages": MSG},
    ("openai_chat", (("harmful_spans", "weight_zero"), ("min_rating", "2"))): {
        "messages": "list<element: struct<role: string, content: string, weight: int64>>"},
    ("openai_preference", ()): {"input": f"struct<messages: {MSG}>", "preferred_output": MSG,
                                "non_preferred_output": MSG},
    ("labels", ()): {"item_id": "int64", "prompt": "string",
                     "responses": "list<element: struct<generation_id: int64, model: string, text: string>>",
                     "answers": "string", "confidence": "double", "question_confidence": "string",
                     "agreement": "double",
                     "annotation_count": "int64", "reviewed": "bool"},
    ("spans", ()): {"item_id": "int64", "generation_id": "int64", "model": "string", "text": "string",
                    "spans": "list<element: struct<start: int64, end: int64, label: string, votes: int64>>",
                    "annotation_count": "int64"},
    ("raw", ()): {"annotation_id": "int64", "item_id": "int64", "prompt_id": "int64", "annotator": "string",
                  "answers": "string", "time_spent_ms": "int64", "guideline_version": "int64",
                  "submitted_at": "string", "too_fast": "bool"},
}


@pytest.mark.parametrize(("kind", "options"), list(EXPECTED_TYPES))
def test_columns_and_types_are_exactly_those_of_the_kind(dataset, tmp_path, kind, options):
    expected = EXPECTED_TYPES[(kind, options)]
    result, out = build(dataset.project, tmp_path, kind, "parquet", **dict(options))
    table = pq.read_table(out / "train.parquet")
    assert {f.name: str(f.type) for f in table.schema} == expected
    assert table.num_rows == result.record_count > 0
    _, jsonl_out = build(dataset.project, tmp_path, kind, "jsonl", **dict(options))
    rows = read_jsonl(jsonl_out / "train.jsonl")
    assert len(rows) == table.num_rows
    assert all(list(row) == list(expected) for row in rows)
    assert [f["name"] for f in result.manifest["fields"]] == list(expected)


def _by_prompt(rows, needle):
    return [r for r in rows if needle in (r["prompt"] if isinstance(r["prompt"], str) else r["prompt"][-1]["content"])]


def test_preference_pairs_follow_the_majority_and_pass_trl_checks(dataset, tmp_path):
    result, out = build(dataset.project, tmp_path, "preference", margin="true")
    rows = read_jsonl(out / "train.jsonl")
    # 12 decided pairwise items (the suspended annotator's "b" votes are left out) + 1 rewrite pair.
    assert len(rows) == result.record_count == 13
    for row in rows:
        check_preference(row)
    item = dataset.items[4]  # votes a, a, b with strength 2
    a, b = item.ordered_generations()
    (row,) = _by_prompt(rows, "Question 4:")
    assert (row["chosen"], row["rejected"], row["margin"]) == (a.text, b.text, 2.0)
    rewrite_rows = [r for r in rows if r["chosen"].startswith("A careful answer")]
    assert len(rewrite_rows) == 1 and rewrite_rows[0]["margin"] == 1.0
    assert result.manifest["source_models"] == {"model-a": 13, "model-b": 12, "model-a (rewritten)": 1}


def test_conversational_preference_and_openai_preference(dataset, tmp_path):
    _, out = build(dataset.project, tmp_path, "preference", conversational="true")
    for row in read_jsonl(out / "train.jsonl"):
        check_preference(row)
        assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
    _, out = build(dataset.project, tmp_path, "openai_preference")
    rows = read_jsonl(out / "train.jsonl")
    assert set(rows[0]) == {"input", "preferred_output", "non_preferred_output"}
    assert rows[0]["input"]["messages"][0]["role"] == "user"
    assert rows[0]["preferred_output"][0]["role"] == "assistant"


def test_suspended_gold_and_flagged_are_left_out_unless_asked(dataset, tmp_path):
    counts = {}
    for name, options in {
        "default": {},
        "suspended": {"exclude_suspended": "false"},
        "gold": {"exclude_gold": "false"},
        "flagged": {"exclude_flagged": "false"},
        "ties": {"exclude_suspended": "false", "ties": "keep"},
    }.items():
        result, _ = build(dataset.project, tmp_path, "preference", sources="pairwise", **options)
        counts[name] = result.record_count
    # With the suspended annotator's "b" votes, the 8 a,a,b items become 2-2 ties and are dropped.
    assert counts == {"default": 12, "suspended": 4, "gold": 13, "flagged": 13, "ties": 12}


def test_kto_from_verdicts_and_from_ratings(dataset, tmp_path):
    result, out = build(dataset.project, tmp_path, "kto", sources="verdict", positive_values="good")
    rows = read_jsonl(out / "train.jsonl")
    for row in rows:
        check_kto(row)
    assert len(rows) == 24 and sum(r["label"] for r in rows) == 12
    result, out = build(dataset.project, tmp_path, "kto", sources="rating", conversational="true")
    rows = read_jsonl(out / "train.jsonl")
    for row in rows:
        check_kto(row)
    assert result.manifest["options"]["min_rating"] == 4.0
    # a,a,b items: response a rated 5,5,2 (mean 4) is good; b,b,tie items: b rated 4,4,4 is good.
    assert len(rows) == 24 and sum(r["label"] for r in rows) == 12


def test_sft_from_rewrites_and_high_ratings(dataset, tmp_path):
    result, out = build(dataset.project, tmp_path, "sft", sft_format="prompt_completion")
    rows = read_jsonl(out / "train.jsonl")
    assert result.manifest["label_distributions"]["source"] == {"rated": 12, "rewrite": 1}
    assert any(r["completion"] == "A careful answer to task 0. Contact [EMAIL]." for r in rows)


def test_personal_data_is_redacted_by_default(dataset, tmp_path):
    texts = {}
    for kind in ("sft", "preference", "labels", "spans", "raw", "openai_chat", "kto"):
        result, out = build(dataset.project, tmp_path, kind, "jsonl", **({"sources": "verdict",
                            "positive_values": "good"} if kind == "kto" else {}))
        texts[kind] = (out / "train.jsonl").read_text()
        for secret in (EMAIL, PHONE, CARD, "555-0132", "4111"):
            assert secret not in texts[kind], f"{secret} leaked into the {kind} export"
    assert all(p in texts["labels"] for p in ("[EMAIL]", "[PHONE]", "[CREDIT_CARD]"))
    assert "Contact [EMAIL]." in texts["raw"]  # annotators' rewrites are redacted too
    assert result.manifest["redactions"]["PII EMAIL"] >= 1
    _, out = build(dataset.project, tmp_path, "labels", redact_pii="false")
    assert EMAIL in (out / "train.jsonl").read_text()


def test_text_the_privacy_scan_has_not_seen_is_redacted_with_pii_source_detect(dataset, tmp_path):
    late = make_item(dataset.project, responses=2, prompt_text=f"Reach me at {EMAIL} please")
    annotate(late, dataset.annotators[0], answers_for(late, choice="a", ratings=(5, 1)))
    _, out = build(dataset.project, tmp_path, "labels")
    assert EMAIL in (out / "train.jsonl").read_text()  # stored spans only: not scanned yet (card says so)
    result, out = build(dataset.project, tmp_path, "labels", pii_source="detect")
    text = (out / "train.jsonl").read_text()
    assert EMAIL not in text and PHONE not in text and CARD not in text
    assert "detected now" in result.manifest["redactions"]["pii_redaction"]


def test_harmful_spans_masked_dropped_or_weighted(dataset, tmp_path):
    _, out = build(dataset.project, tmp_path, "labels", harmful_spans="mask")
    text = (out / "train.jsonl").read_text()
    assert HARMFUL not in text and "you can [HARMFUL] for a stronger effect" in text
    result, _ = build(dataset.project, tmp_path, "labels", harmful_spans="drop_item")
    assert result.record_count == 11
    assert result.manifest["filters"]["skipped: harmful or false spans (drop_item)"] == 1
    _, out = build(dataset.project, tmp_path, "sft", min_rating="2")  # SFT masks by default
    assert HARMFUL not in (out / "train.jsonl").read_text()
    _, out = build(dataset.project, tmp_path, "openai_chat", harmful_spans="weight_zero", min_rating="2")
    rows = read_jsonl(out / "train.jsonl")
    weighted = [r["messages"][-1] for r in rows if HARMFUL in r["messages"][-1]["content"]]
    assert weighted == [{"role": "assistant", "content": weighted[0]["content"], "weight": 0}]
    assert all(r["messages"][-1]["weight"] == 1 for r in rows if HARMFUL not in r["messages"][-1]["content"])
    assert all("weight" not in m for r in rows for m in r["messages"] if m["role"] == "user")


def test_split_is_by_prompt_deterministic_and_seeded(dataset, tmp_path):
    result, out = build(dataset.project, tmp_path, "sft", test_fraction="0.5", seed="7")
    train, test = read_jsonl(out / "train.jsonl"), read_jsonl(out / "test.jsonl")
    assert train and test and len(train) + len(test) == result.record_count
    assert result.split_counts == {"train": len(train), "test": len(test)}
    assert not {r["messages"][0]["content"] for r in train} & {r["messages"][0]["content"] for r in test}
    _, again = build(dataset.project, tmp_path, "sft", test_fraction="0.5", seed="7")
    assert (again / "test.jsonl").read_text() == (out / "test.jsonl").read_text()


def test_filters_agreement_review_guidelines_dates(dataset, tmp_path, owner):
    result, _ = build(dataset.project, tmp_path, "labels", min_agreement="0.7")
    assert result.record_count == 4  # only the b,b,tie items agree at 0.87
    item = dataset.items[4]
    Review.objects.create(project=dataset.project, item=item, reviewer=owner, decision="correct",
                          answers={"preference": {"choice": "b", "strength": 3}})
    result, out = build(dataset.project, tmp_path, "preference", reviewed_only="true", sources="pairwise")
    (row,) = read_jsonl(out / "train.jsonl")
    assert row["chosen"] == item.ordered_generations()[1].text
    late = make_item(dataset.project, responses=2, prompt_text="Annotated under version 2")
    annotate(late, dataset.annotators[0], answers_for(late, choice="a", ratings=(5, 1)), guideline_version=2)
    result, _ = build(dataset.project, tmp_path, "raw", guideline_version="2")
    assert result.record_count == 1
    result, _ = build(dataset.project, tmp_path, "raw", date_from="2001-01-01", date_to="2001-12-31")
    assert result.record_count == 0


def test_rankings_expand_to_all_or_adjacent_pairs(org, tmp_path):
    from apps.projects.schema import validate_schema
    from tests.factories import UserFactory

    project = ProjectFactory(organization=org, questions=validate_schema(
        [{"id": "order", "type": "ranking", "prompt": "Order them"}]))
    item = make_item(project, responses=3)
    gens = [g.pk for g in item.ordered_generations()]
    for ranking in ([gens[2], gens[0], gens[1]], [gens[2], gens[0], gens[1]], [gens[0], gens[2], gens[1]]):
        annotate(item, UserFactory(), {"order": ranking})
    result, out = build(project, tmp_path, "preference", margin="true")
    rows = read_jsonl(out / "train.jsonl")
    texts = {g.pk: g.text for g in item.ordered_generations()}
    assert [(r["chosen"], r["rejected"]) for r in rows] == [
        (texts[gens[2]], texts[gens[0]]), (texts[gens[2]], texts[gens[1]]), (texts[gens[0]], texts[gens[1]])]
    assert rows[0]["margin"] == pytest.approx(1 / 3)  # Borda 5 vs 4 over 3 annotators
    result, _ = build(project, tmp_path, "preference", ranking_pairs="adjacent")
    assert result.record_count == 2


def test_raw_annotations_are_pseudonymous_and_stable(dataset, tmp_path):
    _, out = build(dataset.project, tmp_path, "raw")
    text = (out / "train.jsonl").read_text()
    assert "rater0" not in text and "@example.org" not in text
    rows = read_jsonl(out / "train.jsonl")
    assert len({r["annotator"] for r in rows}) == 3 and len(rows) == 36
    assert all(r["annotator"].startswith("ann_") for r in rows)
    _, again = build(dataset.project, tmp_path, "raw")
    assert {r["annotator"] for r in read_jsonl(again / "train.jsonl")} == {r["annotator"] for r in rows}
    assert json.loads(rows[0]["answers"])["preference"]["choice"] in ("a", "b", "tie")
