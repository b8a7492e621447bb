"""Forms for the project pages. They parse input; rules live in services.py."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apps.projects.builtin_templates import BUILTIN_TEMPLATES
from apps.projects.models import Project
from apps.projects.schema import SchemaError
from apps.projects.services import EDITABLE_FIELDS

BLANK = "blank"

STARTER_QUESTIONS = [
    {
        "id": "overall",
        "type": "rating",
        "prompt": "Overall, how good is this response?",
        "applies_to": "each_response",
        "min": 1,
        "max": 5,
        "anchors": {"1": "Very poor", "3": "Acceptable", "5": "Excellent"},
        "shortcut": "o",
    },
    {"id": "comment", "type": "text", "prompt": "Comment (optional)", "required": False, "shortcut": "c"},
]


def schema_error_messages(error: SchemaError) -> list[str]:
    return [f"Question {e['question']}, field {e['field']}: {e['message']}" for e in error.errors]


def parse_questions_json(raw: str) -> Any:
    """Parse the JSON textarea; a syntax error names the line and column."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"The questions are not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form fields it names."""
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


class ProjectCreateForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=None, empty_label=None)  # type: ignore[arg-type]
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    template = forms.ChoiceField(widget=forms.RadioSelect, initial=BUILTIN_TEMPLATES[0]["key"])
    questions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "code"}),
        required=False,
        help_text="Only used for a blank project. A list of questions; refine it later in the schema editor.",
        initial=json.dumps(STARTER_QUESTIONS, indent=2),
    )

    def __init__(self, *args, organizations, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations  # type: ignore[attr-defined]
        if organizations.count() == 1:
            self.fields["organization"].initial = organizations.first()
            self.fields["organization"].widget = forms.HiddenInput()
        self.fields["template"].choices = [(t["key"], t["name"]) for t in BUILTIN_TEMPLATES] + [
            (BLANK, "Blank: write your own questions")
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("template") == BLANK:
            raw = (data.get("questions") or "").strip()
            if not raw:
                self.add_error("questions", "A blank project needs questions.")
            else:
                try:
                    data["parsed_questions"] = parse_questions_json(raw)
                except ValidationError as exc:
                    self.add_error("questions", exc)
        return data


class ProjectSettingsForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = list(EDITABLE_FIELDS)
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "content_warning": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {
            "annotations_per_item": "Annotations per item",
            "min_annotations": "Minimum annotations (dynamic overlap)",
            "max_annotations": "Maximum annotations (dynamic overlap)",
            "confidence_threshold": "Confidence threshold",
            "lease_minutes": "Lease length (minutes)",
            "gold_ratio": "Gold ratio",
            "per_annotator_cap": "Items per annotator (cap)",
            "blind_mode": "Blind mode",
            "min_seconds_per_item": "Minimum seconds per item",
            "pii_policy": "Personal data",
            "content_warning": "Content warning",
            "allow_harmful_opt_out": "Annotators may opt out of harmful content",
            "harmful_exposure_cap": "Harmful items per annotator (cap)",
            "dataset_license": "Dataset licence",
        }
        help_texts = {
            "annotations_per_item": "How many annotators label each item before it is complete.",
            "min_annotations": "Dynamic overlap starts here and asks for more while annotators disagree…",
            "max_annotations": "…up to this many.",
            "confidence_threshold": "0–1: agreement at or above this closes an item under dynamic overlap.",
            "lease_minutes": "How long an annotator holds an item before it returns to the pool.",
            "gold_ratio": "0–1: share of items given out that are gold (known answers) for quality checks.",
            "per_annotator_cap": "Leave empty for no cap.",
            "blind_mode": "Annotators never see each other's answers.",
            "min_seconds_per_item": "Submissions faster than this are marked as too fast.",
            "content_warning": "Shown to annotators before they start.",
            "harmful_exposure_cap": "Leave empty for no cap.",
            "dataset_license": "An SPDX id such as cc-by-4.0; written into the dataset card.",
        }


class GuidelinesForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 22, "id": "guidelines-text"}),
        required=False,
        strip=False,
        max_length=100_000,
        label="Guidelines (markdown)",
    )


class QuestionsForm(forms.Form):
    questions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "id": "questions-json", "spellcheck": "false", "class": "code"}),
        label="Questions (JSON)",
    )

    def clean_questions(self) -> Any:
        return parse_questions_json(self.cleaned_data["questions"])


class DeleteForm(forms.Form):
    confirm_name = forms.CharField(label="Type the project name to confirm", max_length=200, strip=False)
