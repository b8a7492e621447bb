"""The question schema of a project, and validation of annotators' answers against it.

A schema is a list of questions (JSON). Every question has:

    id          slug, unique in the project: [a-z][a-z0-9_]{0,39}
    type        single_choice | multi_choice | rating | pairwise | ranking | text | rewrite | spans
    prompt      the question as annotators read it
    help        optional longer explanation
    required    default true (false for text)
    applies_to  item | each_response | pair        (default: item; pairwise is always "pair")
    shortcut    optional single key that focuses the question
    condition   optional {"question": other_id, "equals": value} or {"question": other_id, "in": [values]}:
                the question is shown (and may be answered) only when the other answer matches.
                The other question must come earlier and apply to the item or the pair.

Per type:
    single_choice / multi_choice  options: [{"value", "label", "key"?}], 2..20 options
                                  multi_choice may set min_selected / max_selected
    rating      min, max (integers, 2..11 points), anchors: {"1": "Very poor", ...} (keys in range)
    pairwise    allow_tie (default true), allow_both_bad (default true), strength (default false)
    ranking     (no settings) — orders every response of the item
    text        min_length (default 0), max_length (default 5000)
    rewrite     max_length (default 50000) — applies to each response (or the item's only response)
    spans       labels: [{"value", "label", "key"?}], target: response | prompt (default response)

Answers are a JSON object keyed by question id. The value depends on the type and `applies_to`:

    item / pair       the value itself
    each_response     {"<generation_id>": value, ...} for every response of the item

    single_choice     "value"                multi_choice  ["value", ...]
    rating            integer in [min, max]   text          "string"
    pairwise          {"choice": "a" | "b" | "tie" | "both_bad", "strength": 1..3 (when enabled)}
                      "a" is the response shown first (display position 0), "b" the second.
    ranking           [generation_id, ...] best first: a permutation of the item's responses
    rewrite           "the edited response"
    spans             [{"start": int, "end": int, "label": "value", "generation": id}] over a response's
                      text (or without "generation" over the prompt text when target is prompt);
                      offsets are Python string indices, 0 <= start < end <= len(text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

QUESTION_TYPES = ("single_choice", "multi_choice", "rating", "pairwise", "ranking", "text", "rewrite", "spans")
APPLIES_TO = ("item", "each_response", "pair")
PAIRWISE_CHOICES = ("a", "b", "tie", "both_bad")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_VALUE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,60}$")
MAX_QUESTIONS = 40


@dataclass
class SchemaError(Exception):
    """Problems with a schema; each names the question (id or position) and the field."""

    errors: list[dict[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{e['question']}.{e['field']}: {e['message']}" for e in self.errors)


@dataclass
class AnswerError(Exception):
    """Problems with answers, keyed by a path such as `overall` or `fluency.123`."""

    errors: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{path}: {message}" for path, message in self.errors.items())


# --- schema validation ----------------------------------------------------------


def _check_options(question: dict[str, Any], key: str, add) -> None:  # type: ignore[no-untyped-def]
    options = question.get(key)
    minimum = 1 if key == "labels" else 2
    if not isinstance(options, list) or not minimum <= len(options) <= 20:
        add(key, f"needs a list of {minimum} to 20 entries")
        return
    seen_values: set[str] = set()
    seen_keys: set[str] = set()
    for position, option in enumerate(options):
        where = f"{key}[{position}]"
        if not isinstance(option, dict):
            add(where, "must be an object with value and label")
            continue
        value = option.get("value")
        if not isinstance(value, str) or not _VALUE_RE.match(value):
            add(f"{where}.value", "must be 1-60 letters, digits, '_', '-' or '.'")
        elif value in seen_values:
            add(f"{where}.value", f"'{value}' is used twice")
        else:
            seen_values.add(value)
        if not isinstance(option.get("label"), str) or not option["label"].strip():
            add(f"{where}.label", "is required")
        shortcut = option.get("key")
        if shortcut is not None:
            if not isinstance(shortcut, str) or len(shortcut) != 1 or not shortcut.isprintable() or shortcut == " ":
                add(f"{where}.key", "must be a single printable character")
            elif shortcut in seen_keys:
                add(f"{where}.key", f"'{shortcut}' is used twice")
            else:
                seen_keys.add(shortcut)


def _check_int(question: dict[str, Any], name: str, add, *, low: int, high: int, default: int | None = None) -> int | None:  # type: ignore[no-untyped-def]
    value = question.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        add(name, f"must be an integer from {low} to {high}")
        return None
    return value


def validate_schema(questions: Any) -> list[dict[str, Any]]:
    """Return the normalised schema (defaults filled in) or raise SchemaError naming every problem."""
    errors: list[dict[str, str]] = []
    if not isinstance(questions, list):
        raise SchemaError([{"question": "-", "field": "questions", "message": "must be a list of questions"}])
    if not questions:
        raise SchemaError([{"question": "-", "field": "questions", "message": "add at least one question"}])
    if len(questions) > MAX_QUESTIONS:
        raise SchemaError([{"question": "-", "field": "questions", "message": f"at most {MAX_QUESTIONS} questions"}])

    normalised: list[dict[str, Any]] = []
    ids: dict[str, dict[str, Any]] = {}
    shortcuts: set[str] = set()
    for position, raw in enumerate(questions):
        name = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else f"#{position + 1}"

        def add(field_name: str, message: str, _name: str = name) -> None:
            errors.append({"question": _name, "field": field_name, "message": message})

        if not isinstance(raw, dict):
            add("-", "must be an object")
            continue
        question = dict(raw)
        qid = question.get("id")
        if not isinstance(qid, str) or not _ID_RE.match(qid):
            add("id", "must start with a lowercase letter and use a-z, 0-9, '_' (at most 40)")
        elif qid in ids:
            add("id", f"'{qid}' is used by another question")
        qtype = question.get("type")
        if qtype not in QUESTION_TYPES:
            add("type", f"must be one of {', '.join(QUESTION_TYPES)}")
            continue
        if not isinstance(question.get("prompt"), str) or not question["prompt"].strip():
            add("prompt", "is required")
        elif len(question["prompt"]) > 1000:
            add("prompt", "is longer than 1000 characters")
        if "help" in question and not isinstance(question["help"], str):
            add("help", "must be text")
        default_applies = "pair" if qtype == "pairwise" else ("each_response" if qtype == "rewrite" else "item")
        applies_to = question.setdefault("applies_to", default_applies)
        if applies_to not in APPLIES_TO:
            add("applies_to", f"must be one of {', '.join(APPLIES_TO)}")
        elif qtype == "pairwise" and applies_to != "pair":
            add("applies_to", "a pairwise question applies to the pair")
        elif qtype in ("ranking", "spans") and applies_to != "item":
            add("applies_to", f"a {qtype} question applies to the item")
        required = question.setdefault("required", qtype != "text")
        if not isinstance(required, bool):
            add("required", "must be true or false")
        shortcut = question.get("shortcut")
        if shortcut is not None:
            if not isinstance(shortcut, str) or len(shortcut) != 1 or not shortcut.isprintable():
                add("shortcut", "must be a single printable character")
            elif shortcut in shortcuts:
                add("shortcut", f"'{shortcut}' is used by another question")
            else:
                shortcuts.add(shortcut)

        if qtype in ("single_choice", "multi_choice"):
            _check_options(question, "options", add)
            if qtype == "multi_choice":
                count = len(question.get("options") or [])
                low = _check_int(question, "min_selected", add, low=0, high=max(count, 0), default=0)
                high = _check_int(question, "max_selected", add, low=1, high=max(count, 1), default=max(count, 1))
                if low is not None and high is not None and low > high:
                    add("min_selected", "is larger than max_selected")
        elif qtype == "rating":
            low = _check_int(question, "min", add, low=0, high=10, default=1)
            high = _check_int(question, "max", add, low=1, high=100, default=5)
            if low is not None and high is not None:
                if not 1 <= high - low <= 10:
                    add("max", "a rating scale has 2 to 11 points")
                anchors = question.get("anchors", {})
                if not isinstance(anchors, dict):
                    add("anchors", "must map scale points to labels")
                else:
                    for point, label in anchors.items():
                        if not str(point).lstrip("-").isdigit() or not low <= int(point) <= high:
                            add(f"anchors.{point}", f"is not a point of the {low}-{high} scale")
                        elif not isinstance(label, str) or not label.strip():
                            add(f"anchors.{point}", "needs a label")
                    question["anchors"] = {str(k): v for k, v in anchors.items()}
        elif qtype == "pairwise":
            for flag, default in (("allow_tie", True), ("allow_both_bad", True), ("strength", False)):
                if not isinstance(question.setdefault(flag, default), bool):
                    add(flag, "must be true or false")
        elif qtype == "text":
            low = _check_int(question, "min_length", add, low=0, high=10000, default=0)
            high = _check_int(question, "max_length", add, low=1, high=100000, default=5000)
            if low is not None and high is not None and low > high:
                add("min_length", "is larger than max_length")
        elif qtype == "rewrite":
            _check_int(question, "max_length", add, low=1, high=500000, default=50000)
        elif qtype == "spans":
            _check_options(question, "labels", add)
            if question.setdefault("target", "response") not in ("response", "prompt"):
                add("target", "must be response or prompt")

        condition = question.get("condition")
        if condition is not None:
            if not isinstance(condition, dict) or not isinstance(condition.get("question"), str):
                add("condition", "must be {\"question\": id, \"equals\": value} or {\"question\": id, \"in\": [...]}")
            else:
                other = ids.get(condition["question"])
                if other is None:
                    add("condition.question", f"'{condition['question']}' is not an earlier question")
                elif other["applies_to"] == "each_response":
                    add("condition.question", "must refer to a question about the item or the pair")
                if ("equals" in condition) == ("in" in condition):
                    add("condition", "needs exactly one of equals or in")
                elif "in" in condition and not isinstance(condition["in"], list):
                    add("condition.in", "must be a list")
        if isinstance(qid, str) and _ID_RE.match(qid) and qid not in ids:
            ids[qid] = question
        normalised.append(question)

    if errors:
        raise SchemaError(errors)
    return normalised


# --- answer validation -------------------------------------------------------------


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
