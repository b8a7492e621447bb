"""Page forms for sampling. They only reshape input for the services, which hold the rules;
service errors come back onto the matching field (see add_service_errors)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apps.items.models import GenerationSource
from apps.sampling.models import SamplingStrategy

PARAMETER_FIELDS = ("temperature", "top_p", "max_tokens", "seed", "system_prompt")


def _parameter_fields(form: forms.Form, *, prefix: str = "") -> None:
    form.fields[f"{prefix}temperature"] = forms.FloatField(required=False, label="Temperature", min_value=0, max_value=2)
    form.fields[f"{prefix}top_p"] = forms.FloatField(required=False, label="Top p", min_value=0, max_value=1)
    form.fields[f"{prefix}max_tokens"] = forms.IntegerField(required=False, label="Max tokens", min_value=1)
    form.fields[f"{prefix}seed"] = forms.IntegerField(required=False, label="Seed")
    form.fields[f"{prefix}system_prompt"] = forms.CharField(
        required=False, label="System prompt", widget=forms.Textarea(attrs={"rows": 3})
    )


def parameters_from(cleaned: dict[str, Any], *, prefix: str = "") -> dict[str, Any]:
    values = {name: cleaned.get(f"{prefix}{name}") for name in PARAMETER_FIELDS}
    return {name: value for name, value in values.items() if value not in (None, "")}


def _split(raw: str) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def add_service_errors(form: forms.Form, error: ValidationError, field_map: dict[str, str] | None = None) -> None:
    """Put a service's {"field": [message]} errors on the form's fields (or the form itself)."""
    details = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    for key, messages in details.items():
        target = (field_map or {}).get(key, key)
        for message in messages:
            if target in form.fields:
                form.add_error(target, message)
            else:
                form.add_error(None, f"{key}: {message}" if key != "__all__" else message)


class EndpointForm(forms.Form):
    KEY_CHOICES = [("keep", "Keep the current key"), ("stored", "Store a key (encrypted)"),
                   ("env", "Read it from an environment variable on the workers"), ("none", "No key")]

    organization = forms.TypedChoiceField(coerce=int, required=False)
    name = forms.CharField(required=False, max_length=200, help_text="Generations are labelled with it; defaults to the model name.")
    base_url = forms.CharField(max_length=500, label="Base URL", help_text="e.g. http://localhost:8000/v1 (vLLM, TGI, Ollama, llama.cpp, OpenAI…)")
    model_name = forms.CharField(max_length=200, label="Model name")
    max_concurrency = forms.IntegerField(min_value=1, max_value=256, initial=8, label="Max concurrent requests")
    rpm_limit = forms.IntegerField(min_value=1, required=False, label="Requests per minute (blank: no limit)")
    timeout_seconds = forms.FloatField(min_value=0.1, max_value=900, initial=60, label="Timeout (seconds)")
    price_per_1k_prompt_tokens = forms.DecimalField(required=False, min_value=0, max_digits=12, decimal_places=6, label="Price per 1k prompt tokens")
    price_per_1k_completion_tokens = forms.DecimalField(required=False, min_value=0, max_digits=12, decimal_places=6, label="Price per 1k completion tokens")
    key_source = forms.ChoiceField(choices=KEY_CHOICES, widget=forms.RadioSelect, initial="none", label="API key")
    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), label="API key",
                              help_text="Stored encrypted and never shown again.")
    api_key_env = forms.CharField(required=False, max_length=100, label="Environment variable",
                                  help_text="Must be allowed by the operator in MODEL_ENDPOINT_KEY_ENVS.")

    def __init__(self, *args: Any, organizations=None, endpoint=None, **kwargs: Any):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        _parameter_fields(self)
        self.editing = endpoint is not None
        if self.editing:
            del self.fields["organization"]
        else:
            self.fields["key_source"].choices = self.KEY_CHOICES[1:]
            choices = [(o.pk, o.name) for o in organizations or []]
            self.fields["organization"].choices = choices
            if len(choices) <= 1:
                self.fields["organization"].widget = forms.HiddenInput()
                self.fields["organization"].initial = choices[0][0] if choices else None

    @classmethod
    def initial_for(cls, endpoint) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        initial = {field: getattr(endpoint, field) for field in (
            "name", "base_url", "model_name", "max_concurrency", "rpm_limit", "timeout_seconds",
            "price_per_1k_prompt_tokens", "price_per_1k_completion_tokens", "api_key_env",
        )}
        initial.update(endpoint.default_parameters or {})
        initial["key_source"] = "keep" if endpoint.api_key_source != "none" else "none"
        return initial

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        source = cleaned.get("key_source")
        if source == "stored" and not cleaned.get("api_key"):
            self.add_error("api_key", "Enter the key to store.")
        if source == "env" and not cleaned.get("api_key_env"):
            self.add_error("api_key_env", "Name the environment variable.")
        return cleaned

    def service_input(self) -> tuple[dict[str, Any], str | None, bool]:
        """(data, api_key, clear_api_key) for endpoint_create / endpoint_update."""
        cleaned = self.cleaned_data
        data = {field: cleaned.get(field) for field in (
            "name", "base_url", "model_name", "max_concurrency", "rpm_limit", "timeout_seconds",
            "price_per_1k_prompt_tokens", "price_per_1k_completion_tokens",
        )}
        data["default_parameters"] = parameters_from(cleaned)
        source = cleaned.get("key_source")
        api_key = cleaned.get("api_key") if source == "stored" else None
        if source == "env":
            data["api_key_env"] = cleaned.get("api_key_env", "")
        elif source in ("stored", "none"):
            data["api_key_env"] = ""
        return data, api_key, source == "none"


class RunForm(forms.Form):
    MODE_CHOICES = [("all", "All prompts"), ("filter", "Prompts whose metadata matches"),
                    ("stratified", "A stratified sample")]

    name = forms.CharField(required=False, max_length=200)
    endpoints = forms.TypedMultipleChoiceField(coerce=int, widget=forms.CheckboxSelectMultiple, label="Model endpoints")
    samples_per_prompt = forms.IntegerField(min_value=1, max_value=100, initial=1, label="Samples per prompt")
    mode = forms.ChoiceField(choices=MODE_CHOICES, widget=forms.RadioSelect, initial="all", label="Prompts")
    filter_key = forms.CharField(required=False, max_length=64, label="Metadata key")
    filter_values = forms.CharField(required=False, label="Values (comma-separated)")
    stratify_by = forms.CharField(required=False, max_length=64, label="Stratify by metadata key")
    sample_size = forms.IntegerField(required=False, min_value=1, label="Sample size")
    selection_seed = forms.IntegerField(required=False, initial=0, label="Sample seed")

    def __init__(self, *args: Any, endpoints=(), **kwargs: Any):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["endpoints"].choices = [(e.pk, f"{e.name} ({e.model_name})") for e in endpoints]
        _parameter_fields(self)

    def service_input(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        selection: dict[str, Any] = {"mode": cleaned["mode"]}
        if cleaned.get("filter_key"):
            values = _split(cleaned.get("filter_values", ""))
            selection["filter"] = {cleaned["filter_key"]: values if len(values) != 1 else values[0]}
        if cleaned["mode"] == "stratified":
            selection.update(
                stratify_by=cleaned.get("stratify_by"),
                sample_size=cleaned.get("sample_size"),
                seed=cleaned.get("selection_seed") or 0,
            )
        return {
            "name": cleaned.get("name", ""),
            "endpoint_ids": cleaned["endpoints"],
            "samples_per_prompt": cleaned["samples_per_prompt"],
            "prompt_selection": selection,
            "parameters": parameters_from(cleaned),
        }

    FIELD_MAP = {
        "prompt_selection.mode": "mode",
        "prompt_selection.filter": "filter_key",
        "prompt_selection.stratify_by": "stratify_by",
        "prompt_selection.sample_size": "sample_size",
        "prompt_selection.seed": "selection_seed",
        "prompt_selection": "mode",
        "parameters": "__all__",
    }


class PlanForm(forms.Form):
    name = forms.CharField(max_length=200)
    strategy = forms.ChoiceField(choices=SamplingStrategy.choices)
    k = forms.IntegerField(required=False, min_value=1, max_value=100, label="k (pairs per prompt)")
    budget = forms.IntegerField(required=False, min_value=1, label="Budget (items)",
                                help_text="Required for adaptive and stratified; optional cap otherwise.")
    strata = forms.CharField(required=False, label="Strata (comma-separated)",
                             help_text="model, length_bucket, generation_source, or any metadata key such as source")
    models = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, label="Only these models")
    generation_source = forms.ChoiceField(required=False, choices=[("", "Any"), *GenerationSource.choices], label="Generations")
    prompt_filter_key = forms.CharField(required=False, max_length=64, label="Prompt metadata key")
    prompt_filter_values = forms.CharField(required=False, label="Values (comma-separated)")
    seed = forms.IntegerField(initial=0)
    priority = forms.IntegerField(initial=0, help_text="Higher priority items are handed out first.")
    mix_gold = forms.BooleanField(required=False, initial=True, label="Mix in gold at the project's ratio")
    continuous = forms.BooleanField(required=False, label="Keep the queue topped up")
    target_open_items = forms.IntegerField(required=False, min_value=1, label="Target open items")

    def __init__(self, *args: Any, model_names=(), **kwargs: Any):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["models"].choices = [(m, m) for m in model_names]

    def config(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        config: dict[str, Any] = {}
        for key in ("k", "budget", "generation_source"):
            if cleaned.get(key) not in (None, ""):
                config[key] = cleaned[key]
        if cleaned.get("strata"):
            config["strata"] = _split(cleaned["strata"])
        if cleaned.get("models"):
            config["models"] = cleaned["models"]
        if cleaned.get("prompt_filter_key"):
            values = _split(cleaned.get("prompt_filter_values", ""))
            config["prompt_filter"] = {cleaned["prompt_filter_key"]: values if len(values) != 1 else values[0]}
        return config

    def service_input(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        return {
            "name": cleaned["name"],
            "strategy": cleaned["strategy"],
            "config": self.config(),
            "seed": cleaned.get("seed") or 0,
            "priority": cleaned.get("priority") or 0,
            "mix_gold": bool(cleaned.get("mix_gold")),
            "continuous": bool(cleaned.get("continuous")),
            "target_open_items": cleaned.get("target_open_items"),
        }

    @classmethod
    def initial_for(cls, plan) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        config = plan.config or {}
        prompt_filter = config.get("prompt_filter") or {}
        key, values = next(iter(prompt_filter.items()), ("", ""))
        return {
            "name": plan.name, "strategy": plan.strategy, "k": config.get("k"), "budget": config.get("budget"),
            "strata": ", ".join(config.get("strata") or []), "models": config.get("models") or [],
            "generation_source": config.get("generation_source", ""), "prompt_filter_key": key,
            "prompt_filter_values": ", ".join(values) if isinstance(values, list) else values,
            "seed": plan.seed, "priority": plan.priority, "mix_gold": plan.mix_gold, "continuous": plan.continuous,
            "target_open_items": plan.target_open_items,
        }

    FIELD_MAP = {
        "config.k": "k",
        "config.budget": "budget",
        "config.strata": "strata",
        "config.models": "models",
        "config.generation_source": "generation_source",
        "config.prompt_filter": "prompt_filter_key",
    }
