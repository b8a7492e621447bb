"""Validation of annotators' answers against a normalised schema (format in apps.projects.schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.projects.schema.questions import PAIRWISE_CHOICES


@dataclass
class AnswerError(Exception):
    """Problems with answers, keyed by a path such as `overall` or `fluency.123`."""

    errors: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{path}: {message}" for path, message in self.errors.items())


# --- answers -----------------------------------------------------------------------


def _condition_met(question: dict[str, Any], answers: dict[str, Any]) -> bool:
    condition = question.get("condition")
    if not condition:
        return True
    value = answers.get(condition["question"])
    if isinstance(value, dict) and "choice" in value:  # pairwise
        value = value["choice"]
    if "equals" in condition:
        if isinstance(value, list):
            return condition["equals"] in value
        return value == condition["equals"]
    if isinstance(value, list):
        return any(v in condition["in"] for v in value)
    return value in condition["in"]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _clean_value(question: dict[str, Any], value: Any, *, generation_ids: list[int], texts: dict[int, str], prompt_text: str) -> Any:
    """Validate one value; raise ValueError with a message users can act on."""
    qtype = question["type"]
    if qtype == "single_choice":
        allowed = [o["value"] for o in question["options"]]
        if value not in allowed:
            raise ValueError(f"choose one of {', '.join(allowed)}")
        return value
    if qtype == "multi_choice":
        allowed = [o["value"] for o in question["options"]]
        if not isinstance(value, list) or any(v not in allowed for v in value) or len(set(value)) != len(value):
            raise ValueError(f"choose distinct values among {', '.join(allowed)}")
        low, high = question.get("min_selected", 0), question.get("max_selected", len(allowed))
        if not low <= len(value) <= high:
            raise ValueError(f"choose between {low} and {high} options")
        return sorted(value, key=allowed.index)
    if qtype == "rating":
        low, high = question.get("min", 1), question.get("max", 5)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value
    if qtype == "pairwise":
        if len(generation_ids) != 2:
            raise ValueError("this item does not show a pair of responses")
        if not isinstance(value, dict) or value.get("choice") not in PAIRWISE_CHOICES:
            raise ValueError("choose a, b, tie or both_bad")
        choice = value["choice"]
        if choice == "tie" and not question.get("allow_tie", True):
            raise ValueError("a tie is not allowed for this question")
        if choice == "both_bad" and not question.get("allow_both_bad", True):
            raise ValueError("'both bad' is not allowed for this question")
        cleaned: dict[str, Any] = {"choice": choice}
        if question.get("strength"):
            strength = value.get("strength")
            if choice in ("a", "b"):
                if isinstance(strength, bool) or strength not in (1, 2, 3):
                    raise ValueError("strength must be 1 (slightly), 2 (clearly) or 3 (much) better")
                cleaned["strength"] = strength
        return cleaned
    if qtype == "ranking":
        if not isinstance(value, list) or sorted(map(_as_int, value)) != sorted(generation_ids):
            raise ValueError("must order every response exactly once")
        return [_as_int(v) for v in value]
    if qtype == "text":
        if not isinstance(value, str):
            raise ValueError("must be text")
        if len(value) > question.get("max_length", 5000):
            raise ValueError(f"at most {question.get('max_length', 5000)} characters")
        if len(value.strip()) < question.get("min_length", 0):
            raise ValueError(f"write at least {question['min_length']} characters")
        return value
    if qtype == "rewrite":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be the edited response")
        if len(value) > question.get("max_length", 50000):
            raise ValueError(f"at most {question.get('max_length', 50000)} characters")
        return value
    if qtype == "spans":
        if not isinstance(value, list):
            raise ValueError("must be a list of spans")
        labels = {label["value"] for label in question["labels"]}
        cleaned_spans = []
        for position, span in enumerate(value):
            if not isinstance(span, dict):
                raise ValueError(f"span {position} must be an object")
            start, end, label = span.get("start"), span.get("end"), span.get("label")
            if label not in labels:
                raise ValueError(f"span {position}: label must be one of {', '.join(sorted(labels))}")
            if question.get("target", "response") == "prompt":
                text = prompt_text
                entry: dict[str, Any] = {}
            else:
                generation = _as_int(span.get("generation"))
                if generation not in texts:
                    raise ValueError(f"span {position}: generation must be one of this item's responses")
                text = texts[generation]
                entry = {"generation": generation}
            if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
                raise ValueError(f"span {position}: start and end must be integers")
            if not 0 <= start < end <= len(text):
                raise ValueError(f"span {position}: offsets {start}-{end} are outside the text (length {len(text)})")
            entry.update({"start": start, "end": end, "label": label})
            cleaned_spans.append(entry)
        return cleaned_spans
    raise ValueError(f"unknown question type {qtype}")


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def validate_answers(
    questions: list[dict[str, Any]],
    answers: Any,
    *,
    generation_ids: list[int],
    texts: dict[int, str],
    prompt_text: str,
    partial: bool = False,
) -> dict[str, Any]:
    """Return cleaned answers or raise AnswerError with one message per field path.

    `generation_ids` is the item's responses in display order; `texts` maps each to
    its text (for span offsets). With `partial` (drafts) missing required answers
    are not errors. Answers to questions whose condition is not met are dropped,
    as are keys that are not questions.
    """
    if not isinstance(answers, dict):
        raise AnswerError({"answers": "must be an object keyed by question id"})
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for question in questions:
        qid = question["id"]
        if not _condition_met(question, cleaned):
            continue
        value = answers.get(qid)
        required = question.get("required", True)
        if question["applies_to"] == "each_response" and question["type"] != "ranking":
            if _empty(value):
                if required and not partial:
                    errors[qid] = "answer this for every response"
                continue
            if not isinstance(value, dict):
                errors[qid] = "must map each response id to an answer"
                continue
            per_response: dict[str, Any] = {}
            for generation_id in generation_ids:
                sub = value.get(str(generation_id))
                if _empty(sub):
                    if required and not partial:
                        errors[f"{qid}.{generation_id}"] = "this response needs an answer"
                    continue
                try:
                    per_response[str(generation_id)] = _clean_value(
                        question, sub, generation_ids=generation_ids, texts=texts, prompt_text=prompt_text
                    )
                except ValueError as exc:
                    errors[f"{qid}.{generation_id}"] = str(exc)
            unknown = set(value) - {str(g) for g in generation_ids}
            if unknown:
                errors[qid] = f"unknown response ids: {', '.join(sorted(unknown))}"
            if per_response:
                cleaned[qid] = per_response
            continue
        if _empty(value) and not (question["type"] == "spans" and value == []):
            if required and not partial:
                errors[qid] = "this question needs an answer"
            continue
        try:
            cleaned[qid] = _clean_value(question, value, generation_ids=generation_ids, texts=texts, prompt_text=prompt_text)
        except ValueError as exc:
            errors[qid] = str(exc)
    if errors:
        raise AnswerError(errors)
    return cleaned
