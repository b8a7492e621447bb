"""DRF serializers for sampling. Inputs reject unknown fields; no output ever carries an API key."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.sampling.models import (
    GenerationRun,
    GenerationSlot,
    ModelEndpoint,
    PlanExecution,
    SamplingPlan,
)


class RejectUnknownFields:
    """DRF drops unknown keys silently; a typo in a setting name should be an error."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))  # type: ignore[attr-defined]
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)  # type: ignore[misc]


# --- model endpoints -------------------------------------------------------------------------


class EndpointInputSerializer(RejectUnknownFields, serializers.Serializer):
    organization = serializers.IntegerField(required=False, help_text="Needed when you belong to several organizations.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    base_url = serializers.CharField(max_length=500, help_text="e.g. http://localhost:8000/v1")
    model_name = serializers.CharField(max_length=200)
    default_parameters = serializers.JSONField(required=False)
    max_concurrency = serializers.IntegerField(required=False, min_value=1, max_value=256)
    rpm_limit = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    timeout_seconds = serializers.FloatField(required=False, min_value=0.1, max_value=900)
    price_per_1k_prompt_tokens = serializers.DecimalField(
        required=False, allow_null=True, max_digits=12, decimal_places=6, min_value=0
    )
    price_per_1k_completion_tokens = serializers.DecimalField(
        required=False, allow_null=True, max_digits=12, decimal_places=6, min_value=0
    )
    api_key = serializers.CharField(
        required=False, write_only=True, trim_whitespace=True, max_length=4096,
        help_text="Stored encrypted; never returned.",
    )
    api_key_env = serializers.CharField(
        required=False, allow_blank=True, max_length=100,
        help_text="Name of an environment variable on the workers holding the key (allowed by the operator).",
    )
    clear_api_key = serializers.BooleanField(required=False, help_text="Remove the stored key (PATCH).")


class EndpointSerializer(serializers.ModelSerializer):
    organization = serializers.SerializerMethodField()
    archived = serializers.SerializerMethodField()
    last_test = serializers.SerializerMethodField()
    api_key_source = serializers.CharField(read_only=True, help_text="env, stored or none; the key itself never leaves")

    class Meta:
        model = ModelEndpoint
        fields = [
            "id", "organization", "name", "base_url", "model_name", "default_parameters", "max_concurrency",
            "rpm_limit", "timeout_seconds", "price_per_1k_prompt_tokens", "price_per_1k_completion_tokens",
            "api_key_source", "api_key_env", "archived", "last_test", "created_at", "updated_at",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_organization(self, endpoint: ModelEndpoint) -> dict[str, Any]:
        return {"id": endpoint.organization_id, "name": endpoint.organization.name}

    def get_archived(self, endpoint: ModelEndpoint) -> bool:
        return endpoint.archived_at is not None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_last_test(self, endpoint: ModelEndpoint) -> dict[str, Any] | None:
        if endpoint.last_tested_at is None:
            return None
        return {"at": endpoint.last_tested_at, "ok": endpoint.last_test_ok, "message": endpoint.last_test_message}


class EndpointTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    reason = serializers.CharField()
    message = serializers.CharField()
    latency_ms = serializers.IntegerField(allow_null=True)
    reply = serializers.CharField()


# --- generation runs -------------------------------------------------------------------------


class RunInputSerializer(RejectUnknownFields, serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    endpoints = serializers.ListField(child=serializers.IntegerField(), allow_empty=False, max_length=50)
    prompt_selection = serializers.JSONField(
        required=False,
        help_text='{"mode": "all"} · {"mode": "filter", "filter": {"source": ["koala"]}} · '
        '{"mode": "stratified", "stratify_by": "source", "sample_size": 200, "seed": 0}',
    )
    parameters = serializers.JSONField(
        required=False, help_text="Overrides of the endpoints' defaults: temperature, top_p, max_tokens, seed, ..."
    )
    samples_per_prompt = serializers.IntegerField(required=False, default=1)


class RunSerializer(serializers.ModelSerializer):
    endpoints = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = GenerationRun
        fields = [
            "id", "project_id", "name", "status", "endpoints", "prompt_selection", "parameters",
            "samples_per_prompt", "prompt_count", "total", "progress", "error", "created_by",
            "created_at", "started_at", "finished_at",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_endpoints(self, run: GenerationRun) -> list[dict[str, Any]]:
        return [{"id": e.pk, "name": e.name, "model_name": e.model_name} for e in run.endpoints.all()]

    def get_created_by(self, run: GenerationRun) -> str | None:
        return run.created_by.username if run.created_by_id else None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_progress(self, run: GenerationRun) -> dict[str, Any] | None:
        """Counts, tokens, cost and failures by reason (detail view only)."""
        return self.context.get("summary")


class SlotSerializer(serializers.ModelSerializer):
    endpoint = serializers.CharField(source="endpoint.name")
    generation = serializers.SerializerMethodField()

    class Meta:
        model = GenerationSlot
        fields = [
            "id", "prompt_id", "endpoint", "sample_index", "status", "attempts", "error_reason", "error_message",
            "generation",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_generation(self, slot: GenerationSlot) -> dict[str, Any] | None:
        g = slot.generation
        if g is None:
            return None
        return {
            "id": g.pk, "model_name": g.model_name, "text": g.text, "finish_reason": g.finish_reason,
            "prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens, "latency_ms": g.latency_ms,
            "parameters": g.parameters,
        }


class ResumeInputSerializer(RejectUnknownFields, serializers.Serializer):
    retry_failed = serializers.BooleanField(required=False, default=True)


# --- sampling plans --------------------------------------------------------------------------


class PlanInputSerializer(RejectUnknownFields, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    strategy = serializers.CharField(help_text="each, all_pairs, k_pairs, adaptive or stratified")
    config = serializers.JSONField(
        required=False,
        help_text='k, budget, strata (["source", "model", "length_bucket", ...]), models, generation_source, '
        "generation_run, prompt_filter",
    )
    seed = serializers.IntegerField(required=False)
    priority = serializers.IntegerField(required=False)
    mix_gold = serializers.BooleanField(required=False)
    continuous = serializers.BooleanField(required=False)
    target_open_items = serializers.IntegerField(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)


class PreviewInputSerializer(RejectUnknownFields, serializers.Serializer):
    strategy = serializers.CharField(required=False)
    config = serializers.JSONField(required=False)
    seed = serializers.IntegerField(required=False)
    limit = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class RunPlanInputSerializer(RejectUnknownFields, serializers.Serializer):
    limit = serializers.IntegerField(required=False, allow_null=True, min_value=1, help_text="At most this many new items")


class ExecutionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlanExecution
        fields = [
            "id", "plan_id", "status", "trigger", "limit", "planned", "created", "duplicates", "gold_mixed",
            "breakdown", "error", "created_at", "started_at", "finished_at",
        ]


class PlanSerializer(serializers.ModelSerializer):
    last_execution = serializers.SerializerMethodField()

    class Meta:
        model = SamplingPlan
        fields = [
            "id", "project_id", "name", "strategy", "config", "seed", "priority", "mix_gold", "continuous",
            "target_open_items", "is_active", "last_run_at", "last_execution", "created_at", "updated_at",
        ]

    @extend_schema_field(ExecutionSerializer(allow_null=True))
    def get_last_execution(self, plan: SamplingPlan) -> dict[str, Any] | None:
        latest = self.context.get("latest")
        if latest is not None:  # lists pass every plan's latest execution, fetched in one query
            execution = latest.get(plan.pk)
        else:
            execution = plan.executions.order_by("-created_at", "-id").first()
        return ExecutionSerializer(execution).data if execution else None
