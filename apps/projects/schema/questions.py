"""Validation of a project's question schema (the format is documented in apps.projects.schema)."""

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
# Keys the annotator workspace (static/js/workspace.js) uses outside a question, in any case.
# A question shortcut wins over them there, so one of these would silently disable the action.
RESERVED_SHORTCUTS = {
    "s": "skip", "r": "report", "v": "reveal", "g": "guidelines", "z": "taking a break", "?": "the shortcut list"
}


@dataclass
class SchemaError(Exception):
    """Problems with a schema; each names the question (id or position) and the field."""

    errors: list[dict[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{e['question']}.{e['field']}: {e['message']}" for e in self.errors)


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
    """Check an integer setting and write the default into the normalised question."""
    value = question.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        add(name, f"must be an integer from {low} to {high}")
        return None
    question[name] = value
    return value


_COMMON_KEYS = {"id", "type", "prompt", "help", "required", "applies_to", "shortcut", "condition"}
_TYPE_KEYS = {
    "single_choice": {"options"},
    "multi_choice": {"options", "min_selected", "max_selected"},
    "rating": {"min", "max", "anchors"},
    "pairwise": {"allow_tie", "allow_both_bad", "strength"},
    "ranking": set(),
    "text": {"min_length", "max_length"},
    "rewrite": {"max_length"},
    "spans": {"labels", "target"},
}


def _condition_values(other: dict[str, Any]) -> list[Any] | None:
    """The values a condition on `other` can compare against, or None when any value may do."""
    if other["type"] in ("single_choice", "multi_choice"):
        return [o.get("value") for o in other.get("options") or [] if isinstance(o, dict)]
    if other["type"] == "pairwise":
        return list(PAIRWISE_CHOICES)
    if other["type"] == "rating" and isinstance(other.get("min"), int) and isinstance(other.get("max"), int):
        return list(range(other["min"], other["max"] + 1))
    return None


def _check_condition(condition: Any, ids: dict[str, dict[str, Any]], add) -> None:  # type: ignore[no-untyped-def]
    if not isinstance(condition, dict) or not isinstance(condition.get("question"), str):
        add("condition", "must be {\"question\": id, \"equals\": value} or {\"question\": id, \"in\": [...]}")
        return
    unknown = sorted(set(condition) - {"question", "equals", "in"})
    if unknown:
        add("condition", f"unknown key {', '.join(unknown)} (use question with equals or in)")
    other = ids.get(condition["question"])
    if other is None:
        add("condition.question", f"'{condition['question']}' is not an earlier question")
    elif other["applies_to"] == "each_response":
        add("condition.question", "must refer to a question about the item or the pair")
    if ("equals" in condition) == ("in" in condition):
        add("condition", "needs exactly one of equals or in")
        return
    if "in" in condition and (not isinstance(condition["in"], list) or not condition["in"]):
        add("condition.in", "must be a non-empty list")
        return
    allowed = _condition_values(other) if other is not None else None
    if allowed is None:
        return
    field_name = "equals" if "equals" in condition else "in"
    wanted = [condition["equals"]] if field_name == "equals" else condition["in"]
    for value in wanted:
        if isinstance(value, bool) or value not in allowed:
            shown = ", ".join(str(v) for v in allowed)
            add(f"condition.{field_name}", f"{value!r} is not a possible answer of '{condition['question']}' ({shown})")


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
        elif len(question.get("help") or "") > 5000:
            add("help", "is longer than 5000 characters")
        for unknown in sorted(set(question) - _COMMON_KEYS - _TYPE_KEYS[qtype]):
            add(unknown, f"is not a setting of a {qtype} question")
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
            if not isinstance(shortcut, str) or len(shortcut) != 1 or not shortcut.isprintable() or shortcut == " ":
                add("shortcut", "must be a single printable character")
            elif shortcut.lower() in RESERVED_SHORTCUTS:
                add("shortcut", f"'{shortcut}' is the workspace's key for {RESERVED_SHORTCUTS[shortcut.lower()]}")
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

        if question.get("condition") is not None:
            _check_condition(question["condition"], ids, add)
        if isinstance(qid, str) and _ID_RE.match(qid) and qid not in ids:
            ids[qid] = question
        normalised.append(question)

    if errors:
        raise SchemaError(errors)
    return normalised


_KEY_ORDER = (
    "id", "type", "prompt", "help", "applies_to", "required", "shortcut", "condition",
    "options", "min_selected", "max_selected", "min", "max", "anchors", "allow_tie", "allow_both_bad",
    "strength", "min_length", "max_length", "target", "labels",
)
_OPTION_KEY_ORDER = ("value", "label", "key")


def _ordered(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    rank = {key: position for position, key in enumerate(order)}
    return dict(sorted(mapping.items(), key=lambda pair: (rank.get(pair[0], len(rank)), pair[0])))


def questions_in_reading_order(questions: Any) -> Any:
    """The same schema with keys in a reading order (PostgreSQL jsonb does not keep key order)."""
    if not isinstance(questions, list):
        return questions
    ordered: list[Any] = []
    for question in questions:
        if not isinstance(question, dict):
            ordered.append(question)
            continue
        question = _ordered(question, _KEY_ORDER)
        for key in ("options", "labels"):
            if isinstance(question.get(key), list):
                question[key] = [_ordered(o, _OPTION_KEY_ORDER) if isinstance(o, dict) else o for o in question[key]]
        if isinstance(question.get("anchors"), dict):
            question["anchors"] = dict(
                sorted(question["anchors"].items(), key=lambda pair: int(pair[0]) if str(pair[0]).lstrip("-").isdigit() else 0)
            )
        ordered.append(question)
    return ordered
