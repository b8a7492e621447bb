"""Label data: aggregated answers per item, marked spans, and raw annotations.

Raw annotations name annotators only by a pseudonym (HMAC of the user id with the
project's export salt): stable across the project's exports, meaningless elsewhere,
never a username or e-mail. Free text written by annotators goes through PII
redaction; span offsets in raw answers refer to the original, unredacted texts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from apps.exports.compilers.context import Context, Record
from apps.exports.models import ExportKind
from apps.exports.source import Bundle


def _categorical(answers: dict[str, Any], ctx: Context) -> Iterator[tuple[str, str]]:
    """(question, value) facts for the card's label distributions."""
    for qid, value in answers.items():
        question = ctx.by_id.get(qid)
        if question is None:
            continue
        values = value.values() if question.get("applies_to") == "each_response" and isinstance(value, dict) else [value]
        for one in values:
            if question["type"] == "single_choice":
                yield qid, str(one)
            elif question["type"] == "pairwise" and isinstance(one, dict):
                yield qid, str(one.get("choice"))
            elif question["type"] == "rating" and isinstance(one, int | float):
                yield qid, str(round(one))
            elif question["type"] == "multi_choice" and isinstance(one, list):
                yield from ((qid, str(v)) for v in one)


def compile_labels(ctx: Context, bundle: Bundle) -> Iterator[Record]:
    aggregate = ctx.aggregate(bundle)
    responses = [
        {"generation_id": r.id, "model": r.model, "text": ctx.response_text(bundle, r)} for r in bundle.responses
    ]
    row = {
        "item_id": bundle.item_id,
        "prompt": ctx.prompt_plain(bundle),
        "responses": responses,
        "answers": json.dumps(aggregate.answers, ensure_ascii=False, sort_keys=True),
        "confidence": float(aggregate.confidence),
        "question_confidence": json.dumps(aggregate.question_confidence, sort_keys=True),
        "agreement": aggregate.agreement,
        "annotation_count": len(bundle.annotations),
        "reviewed": aggregate.reviewed,
    }
    yield Record(row, tuple(r.model for r in bundle.responses), tuple(_categorical(aggregate.answers, ctx)))


def compile_spans(ctx: Context, bundle: Bundle) -> Iterator[Record]:
    question = ctx.by_id[ctx.options.spans_question]
    qid = question["id"]
    answered = [a for a in bundle.annotations if qid in a.answers]
    if not answered:
        return
    votes: dict[Any, dict[tuple[int, int, str], int]] = {}
    for annotation in answered:
        for span in annotation.answers.get(qid) or []:
            target = "prompt" if question.get("target") == "prompt" else int(span.get("generation", 0))
            key = (span["start"], span["end"], span["label"])
            votes.setdefault(target, {})
            votes[target][key] = votes[target].get(key, 0) + 1
    if question.get("target") == "prompt":
        targets = [("prompt", None, None, bundle.prompt_text, bundle.pii_prompt.get(None))]
    else:
        targets = [(r.id, r.id, r.model, r.text, bundle.pii_generations.get(r.id)) for r in bundle.responses]
    for key, generation_id, model, text, pii in targets:
        # Spans exist to train detectors of harmful text: it is never masked here, only PII is
        # redacted, and the span offsets are carried into the redacted text.
        edited = ctx.edit_model_text(text, pii=pii)
        spans = []
        for (start, end, label), count in sorted(votes.get(key, {}).items()):
            start, end = edited.map_start(start), edited.map_end(end)
            if start < end:
                spans.append({"start": start, "end": end, "label": label, "votes": count})
        row = {
            "item_id": bundle.item_id,
            "generation_id": generation_id,
            "model": model,
            "text": edited.text,
            "spans": spans,
            "annotation_count": len(answered),
        }
        yield Record(row, (model,) if model else (), tuple(("label", s["label"]) for s in spans))


def _redact_answers(ctx: Context, answers: dict[str, Any]) -> dict[str, Any]:
    """Annotators' free text (text and rewrite answers) through PII redaction."""
    cleaned: dict[str, Any] = {}
    for qid, value in answers.items():
        question = ctx.by_id.get(qid)
        if question is not None and question["type"] in ("text", "rewrite"):
            if isinstance(value, str):
                value = ctx.clean(value)
            elif isinstance(value, dict):
                value = {k: ctx.clean(v) if isinstance(v, str) else v for k, v in value.items()}
        cleaned[qid] = value
    return cleaned


def compile_raw(ctx: Context, bundle: Bundle) -> Iterator[Record]:
    models = tuple(r.model for r in bundle.responses)
    for annotation in bundle.annotations:
        row = {
            "annotation_id": annotation.id,
            "item_id": bundle.item_id,
            "prompt_id": bundle.prompt_id,
            "annotator": ctx.pseudonym(annotation.annotator_id),
            "answers": json.dumps(_redact_answers(ctx, annotation.answers), ensure_ascii=False, sort_keys=True),
            "time_spent_ms": annotation.time_spent_ms,
            "guideline_version": annotation.guideline_version,
            "submitted_at": annotation.submitted_at.isoformat(),
            "too_fast": annotation.too_fast,
        }
        yield Record(row, models, (("guideline_version", str(annotation.guideline_version)),))


COMPILERS = {
    ExportKind.LABELS: compile_labels,
    ExportKind.SPANS: compile_spans,
    ExportKind.RAW: compile_raw,
}
