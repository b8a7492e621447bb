"""Forms of the import pages: the upload, and the column mapping (built from the file's columns)."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.items.building import ITEM_MODES
from apps.items.importing.mapping import MAX_K, SHAPES

SHAPE_LABELS = {
    "rows": "One row per (prompt, response), grouped by prompt id",
    "multi": "One row with several responses",
    "preference": "Chosen / rejected pair (e.g. HH-RLHF transcripts)",
    "messages": "OpenAI-style messages list (last assistant turn is the response)",
}
MODE_LABELS = {
    "each": "One item per response (rating, rewrite, audit)",
    "all_pairs": "All pairs of responses per prompt",
    "k_pairs": "k random pairs per prompt, balanced across model pairings",
}
COLUMN_FIELDS = (
    "prompt", "prompt_id", "model", "response", "chosen", "rejected", "messages", "is_gold", "gold_answers",
    "prompt_tokens", "completion_tokens", "latency_ms", "finish_reason",
)


class UploadForm(forms.Form):
    file = forms.FileField(help_text="JSONL, JSONL.gz, CSV (or .csv.gz) or Parquet.")


class MappingForm(forms.Form):
    shape = forms.ChoiceField(choices=[(s, SHAPE_LABELS[s]) for s in SHAPES])
    prompt = forms.ChoiceField(required=False, help_text="Prompt text, or a JSON list of chat messages.")
    prompt_id = forms.ChoiceField(required=False, help_text="Groups rows of the same prompt.")
    model = forms.ChoiceField(required=False)
    model_name = forms.CharField(required=False, max_length=200, help_text="Model name when there is no model column.")
    response = forms.ChoiceField(required=False)
    responses = forms.MultipleChoiceField(
        required=False, help_text="Several response columns, or one column holding a list.",
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )
    response_models = forms.CharField(
        required=False, max_length=2000, help_text="Comma-separated model names, one per response column."
    )
    chosen = forms.ChoiceField(required=False)
    rejected = forms.ChoiceField(required=False)
    messages = forms.ChoiceField(required=False)
    is_gold = forms.ChoiceField(required=False, help_text="true/false column marking gold items.")
    gold_answers = forms.ChoiceField(required=False, help_text="JSON object of answers keyed by question id.")
    preference_gold_question = forms.ChoiceField(
        required=False, help_text="Make every pair gold, with the originally preferred response as the answer."
    )
    prompt_tokens = forms.ChoiceField(required=False)
    completion_tokens = forms.ChoiceField(required=False)
    latency_ms = forms.ChoiceField(required=False)
    finish_reason = forms.ChoiceField(required=False)
    item_mode = forms.ChoiceField(choices=[(m, MODE_LABELS[m]) for m in ITEM_MODES])
    k = forms.IntegerField(min_value=1, max_value=MAX_K, initial=2, required=False)
    seed = forms.IntegerField(min_value=0, initial=0, required=False)
    encoding = forms.ChoiceField(
        choices=[("auto", "Detect"), ("utf-8", "UTF-8"), ("utf-16", "UTF-16"), ("latin-1", "Latin-1"),
                 ("cp1252", "Windows-1252")],
        required=False,
    )

    def __init__(self, *args: Any, columns: list[str], questions: list[dict[str, Any]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        column_choices = [("", "—")] + [(c, c) for c in columns]
        for name in COLUMN_FIELDS:
            self.fields[name].choices = column_choices  # type: ignore[attr-defined]
        self.fields["responses"].choices = [(c, c) for c in columns]  # type: ignore[attr-defined]
        self.fields["preference_gold_question"].choices = [("", "—")] + [  # type: ignore[attr-defined]
            (q["id"], q.get("prompt") or q["id"]) for q in questions if q.get("type") == "pairwise"
        ]

    def column_fields(self) -> list[forms.BoundField]:
        names = ("prompt", "prompt_id", "model", "model_name", "response", "responses", "response_models",
                 "chosen", "rejected", "messages")
        return [self[name] for name in names]

    def advanced_fields(self) -> list[forms.BoundField]:
        names = ("is_gold", "gold_answers", "preference_gold_question", "prompt_tokens", "completion_tokens",
                 "latency_ms", "finish_reason", "encoding")
        return [self[name] for name in names]

    @staticmethod
    def initial_from(mapping: dict[str, Any]) -> dict[str, Any]:
        initial = dict(mapping)
        responses = initial.get("responses")
        if isinstance(responses, str) and responses:
            initial["responses"] = [responses]
        initial["response_models"] = ", ".join(initial.get("response_models") or [])
        initial.setdefault("k", 2)
        return initial

    def to_mapping(self) -> dict[str, Any]:
        data = self.cleaned_data
        mapping: dict[str, Any] = {key: data.get(key) or "" for key in (*COLUMN_FIELDS, "model_name", "shape")}
        responses = data.get("responses") or []
        names = [n.strip() for n in (data.get("response_models") or "").split(",") if n.strip()]
        # One selected column without a name list is a column holding a list of responses.
        mapping["responses"] = responses[0] if len(responses) == 1 and not names else responses
        mapping["response_models"] = names
        mapping["preference_gold_question"] = data.get("preference_gold_question") or ""
        mapping["item_mode"] = data.get("item_mode") or "each"
        mapping["k"] = data.get("k") or 2
        mapping["seed"] = data.get("seed") or 0
        mapping["encoding"] = data.get("encoding") or "auto"
        return {k: v for k, v in mapping.items() if v not in ("", [], None)}
