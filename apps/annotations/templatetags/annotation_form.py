"""Template helpers for the annotator question form (templates/annotations/partials/question_form.html).

`question_fields` turns a normalised question schema and an item's responses into
one entry per answerable field, so the template stays free of logic. A question that
applies to each response becomes one field per response, with the path
`<question id>.<generation id>` that answer validation errors use as well.
A spans question may start with personal-data suggestions (`suggestions`, offsets into
the texts as shown: see apps.annotations.selectors.pii_suggestions_for_content).
"""

from __future__ import annotations

import json
from typing import Any

from django import template

from apps.annotations.selectors import suggestions_for_question

register = template.Library()

PAIRWISE_CHOICES = [
    ("a", "a", "A is better"),
    ("b", "b", "B is better"),
    ("tie", "t", "Tie: equally good"),
    ("both_bad", "x", "Both are bad"),
]
STRENGTHS = [(1, "Slightly better"), (2, "Clearly better"), (3, "Much better")]


def _options(raw: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Options with a keyboard key each: the schema's key, else its position 1-9."""
    options = []
    for position, option in enumerate(raw or []):
        key = option.get("key") or (str(position + 1) if position < 9 else "")
        options.append({"value": option["value"], "label": option.get("label", option["value"]), "key": key})
    return options


def _rating_points(question: dict[str, Any]) -> list[dict[str, Any]]:
    low, high = int(question.get("min", 1)), int(question.get("max", 5))
    anchors = {str(k): v for k, v in (question.get("anchors") or {}).items()}
    points = []
    for value in range(low, high + 1):
        # Keys: the digit itself; 10 is typed as 0 on scales that do not use 0.
        key = str(value) if value < 10 else ("0" if value == 10 and low > 0 else "")
        points.append({"value": value, "key": key, "anchor": anchors.get(str(value), "")})
    return points


@register.simple_tag
def question_fields(
    questions: Any, responses: Any, prompt_text: str = "", suggestions: Any = None
) -> list[dict[str, Any]]:
    responses = list(responses or [])
    fields: list[dict[str, Any]] = []
    for question in questions or []:
        if not isinstance(question, dict) or "id" not in question:
            continue
        qtype = question.get("type")
        applies = question.get("applies_to") or ("pair" if qtype == "pairwise" else "item")
        base: dict[str, Any] = {
            "qid": question["id"],
            "type": qtype,
            "prompt": question.get("prompt", ""),
            "help": question.get("help", ""),
            "required": question.get("required", qtype != "text"),
            "shortcut": question.get("shortcut", ""),
            "condition_json": json.dumps(question["condition"]) if question.get("condition") else "",
            "min_length": question.get("min_length", 0),
            "max_length": question.get("max_length", 50000 if qtype == "rewrite" else 5000),
        }
        if qtype in ("single_choice", "multi_choice"):
            base["options"] = _options(question.get("options", []))
        elif qtype == "rating":
            base["points"] = _rating_points(question)
        elif qtype == "pairwise":
            base["choices"] = [
                {"value": value, "key": key, "label": label}
                for value, key, label in PAIRWISE_CHOICES
                if (value != "tie" or question.get("allow_tie", True))
                and (value != "both_bad" or question.get("allow_both_bad", True))
            ]
            if question.get("strength"):
                base["strengths"] = [{"value": v, "key": str(v), "label": label} for v, label in STRENGTHS]
        elif qtype == "ranking":
            base["responses"] = responses
        elif qtype == "spans":
            base["labels"] = _options(question.get("labels", []))
            base["suggestions"] = suggestions_for_question(question, suggestions)
            if question.get("target", "response") == "prompt":
                base["targets"] = [{"generation": "", "label": "Prompt", "text": prompt_text}]
            else:
                base["targets"] = [
                    {"generation": r["id"], "label": f"Response {r['label']}", "text": r["text"]} for r in responses
                ]
        if applies == "each_response" or (qtype == "rewrite" and applies != "each_response" and responses):
            targets = responses if applies == "each_response" else responses[:1]
            for response in targets:
                fields.append(
                    {
                        **base,
                        "path": f"{question['id']}.{response['id']}" if applies == "each_response" else question["id"],
                        "response": response,
                        "per_response": applies == "each_response",
                        "original": response.get("text", ""),
                    }
                )
        else:
            fields.append({**base, "path": question["id"], "response": None, "per_response": False})
    return fields


@register.filter
def to_json(value: Any) -> str:
    """JSON for a data-* attribute (the template's autoescaping makes it attribute-safe)."""
    return json.dumps(value, default=str)
