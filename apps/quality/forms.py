"""Forms of the quality pages. They parse input; the rules live in services.py."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from apps.projects.schema import PAIRWISE_CHOICES
from apps.quality.display import PAIRWISE_TEXT
from apps.quality.models import QualitySettings
from apps.quality.services import SETTINGS_FIELDS


class QualitySettingsForm(forms.ModelForm):
    class Meta:
        model = QualitySettings
        fields = list(SETTINGS_FIELDS)
        labels = {
            "qualification_required": "Require a qualification quiz before the main queue",
            "qualification_size": "Quiz length (gold items)",
            "qualification_pass_mark": "Pass mark (0–1)",
            "training_feedback": "Training mode: show the expected answer after each gold item",
            "rating_tolerance": "Rating tolerance (points)",
            "span_f1_pass": "Span overlap F1 needed to pass",
            "ranking_tau_pass": "Kendall's tau needed to pass a ranking",
            "auto_suspend": "Suspend annotators automatically",
            "min_gold_accuracy": "Minimum gold accuracy (0–1, empty = off)",
            "gold_min_answers": "… judged after this many gold items",
            "min_agreement": "Minimum agreement with the others (0–1, empty = off)",
            "agreement_min_answers": "… judged after this many answers",
            "max_too_fast_share": "Maximum share of too-fast submissions (0–1, empty = off)",
            "too_fast_min_answers": "… judged after this many submissions",
        }


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject"), ("correct", "Correct")])
    annotation = forms.IntegerField(required=False)
    note = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


def _field_name(qid: str, response: int | None) -> str:
    return f"q__{qid}" if response is None else f"q__{qid}__{response}"


def _initial_text(question: dict[str, Any], value: Any, labels: dict[int, str]) -> Any:
    qtype = question["type"]
    if value is None:
        return [] if qtype == "multi_choice" else ""
    if qtype == "pairwise":
        return value.get("choice", "") if isinstance(value, dict) else ""
    if qtype == "ranking":
        return ", ".join(labels.get(int(g), str(g)) for g in value)
    if qtype == "spans":
        return json.dumps(value)
    if qtype == "rating":
        return str(int(value)) if isinstance(value, int | float) and float(value).is_integer() else ""
    return value


def answer_fields(questions: list[dict[str, Any]], generation_ids: list[int], initial: dict[str, Any]) -> list[dict[str, Any]]:
    """Inputs for a reviewer's corrected answer, prefilled with the current aggregate."""
    labels = {g: chr(65 + i) for i, g in enumerate(generation_ids)}
    fields = []
    for question in questions:
        qid, qtype = question["id"], question["type"]
        per_response = question.get("applies_to") == "each_response" and qtype != "ranking"
        targets: list[int | None] = list(generation_ids) if per_response else [None]
        for response in targets:
            value = initial.get(qid)
            if response is not None:
                value = value.get(str(response)) if isinstance(value, dict) else None
            spec: dict[str, Any] = {
                "name": _field_name(qid, response), "question": question,
                "label": question.get("prompt", qid) + (f" — response {labels[response]}" if response else ""),
                "value": _initial_text(question, value, labels), "options": [],
            }
            if qtype in ("single_choice", "multi_choice"):
                spec["kind"] = "select" if qtype == "single_choice" else "checkboxes"
                spec["options"] = [(o["value"], o.get("label", o["value"])) for o in question.get("options", [])]
            elif qtype == "rating":
                spec["kind"] = "select"
                anchors = question.get("anchors") or {}
                spec["options"] = [
                    (str(v), f"{v} — {anchors[str(v)]}" if str(v) in anchors else str(v))
                    for v in range(question.get("min", 1), question.get("max", 5) + 1)
                ]
            elif qtype == "pairwise":
                spec["kind"] = "select"
                spec["options"] = [(c, PAIRWISE_TEXT[c]) for c in PAIRWISE_CHOICES]
            elif qtype == "ranking":
                spec["kind"] = "text"
                spec["help"] = f"Response letters best first, e.g. {', '.join(labels.values())}"
            elif qtype == "spans":
                spec["kind"] = "json"
                spec["help"] = 'JSON list: [{"start": 0, "end": 12, "label": "...", "generation": id}]'
            else:
                spec["kind"] = "textarea"
            fields.append(spec)
    return fields


def answers_from_post(questions: list[dict[str, Any]], generation_ids: list[int], post: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn the correction form back into answers in the schema format; empty inputs are left out."""
    letters = {chr(65 + i): g for i, g in enumerate(generation_ids)}
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for question in questions:
        qid, qtype = question["id"], question["type"]
        per_response = question.get("applies_to") == "each_response" and qtype != "ranking"
        targets: list[int | None] = list(generation_ids) if per_response else [None]
        for response in targets:
            name = _field_name(qid, response)
            raw: Any = post.getlist(name) if qtype == "multi_choice" else (post.get(name) or "").strip()
            if raw in ("", []):
                continue
            try:
                value: Any = raw
                if qtype == "rating":
                    value = int(raw)
                elif qtype == "pairwise":
                    value = {"choice": raw}
                elif qtype == "ranking":
                    value = [letters[part.strip().upper()] for part in raw.split(",") if part.strip()]
                elif qtype == "spans":
                    value = json.loads(raw)
            except (ValueError, KeyError):
                errors[name] = "could not read this value"
                continue
            if response is None:
                answers[qid] = value
            else:
                answers.setdefault(qid, {})[str(response)] = value
    return answers, errors
