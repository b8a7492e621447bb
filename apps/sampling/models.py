"""Model endpoints, generation runs and sampling plans.

Generated outputs are stored as apps.items Generation rows (source "generated");
this app keeps the bookkeeping around them: which (prompt, endpoint, parameters,
sample index) slot produced which generation, so a re-run or a restarted
worker never asks a model twice for the same slot.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import JobStatus, TimeStampedModel


class ModelEndpoint(TimeStampedModel):
    """A server speaking the OpenAI chat-completions protocol, shared within an organization.

    The API key is either read from an environment variable on the worker
    (`api_key_env`, allowed by MODEL_ENDPOINT_KEY_ENVS) or stored Fernet-encrypted
    with a key derived from SECRET_KEY (`api_key_encrypted`). Neither the key nor
    the ciphertext ever leaves the server.
    """

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="model_endpoints")
    # The label generations are stored under (Generation.model_name); defaults to model_name.
    name = models.CharField(max_length=200)
    base_url = models.CharField(max_length=500)
    model_name = models.CharField(max_length=200)
    default_parameters = models.JSONField(default=dict, blank=True)
    max_concurrency = models.PositiveSmallIntegerField(
        default=8, validators=[MinValueValidator(1), MaxValueValidator(256)]
    )
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    timeout_seconds = models.FloatField(default=60, validators=[MinValueValidator(0.1), MaxValueValidator(900)])
    price_per_1k_prompt_tokens = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    price_per_1k_completion_tokens = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    api_key_env = models.CharField(max_length=100, blank=True)
    api_key_encrypted = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    archived_at = models.DateTimeField(null=True, blank=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=models.Q(archived_at__isnull=True),
                name="uniq_endpoint_name_per_org",
            )
        ]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def api_key_source(self) -> str:
        if self.api_key_env:
            return "env"
        return "stored" if self.api_key_encrypted else "none"


class EndpointLease(models.Model):
    """Who may call an endpoint right now: one executor at a time, so its limits hold across runs.

    Taken and renewed with single conditional UPDATE/INSERT statements; a killed
    worker's lease simply expires.
    """

    endpoint = models.OneToOneField(ModelEndpoint, on_delete=models.CASCADE, primary_key=True, related_name="lease")
    token = models.CharField(max_length=64)
    run = models.ForeignKey("GenerationRun", on_delete=models.CASCADE, null=True, related_name="+")
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"lease on endpoint {self.endpoint_id} until {self.expires_at:%H:%M:%S}"


class GenerationRun(TimeStampedModel):
    """Prompts × endpoints × samples, executed by Celery (see apps.sampling.execution)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="generation_runs")
    name = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    endpoints = models.ManyToManyField(ModelEndpoint, related_name="generation_runs")
    # {"mode": "all" | "filter" | "stratified", "filter": {key: value | [values]}, "stratify_by": key,
    #  "sample_size": n, "seed": n}; resolved to prompt ids when the run is created.
    prompt_selection = models.JSONField(default=dict)
    # Overrides of each endpoint's default parameters for this run.
    parameters = models.JSONField(default=dict, blank=True)
    samples_per_prompt = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    prompt_count = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    slots = models.ManyToManyField("GenerationSlot", related_name="runs")
    error = models.TextField(blank=True)
    # Set once the run's slots exist (apps.sampling.execution.run_prepare); until then only counts are known.
    prepared_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by every live executor; the stall reaper re-queues runs whose heartbeat went quiet.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-created_at"]), models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return self.name or f"Generation run {self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in JobStatus.finished()


class SlotStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class GenerationSlot(models.Model):
    """One wanted output: the idempotency key (prompt, endpoint, parameters, sample index).

    Shared by every run that asks for the same output; `generation` is set exactly
    once, under this row's lock (apps.sampling.execution.results_store).
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    prompt = models.ForeignKey("items.Prompt", on_delete=models.CASCADE, related_name="+")
    # RESTRICT, not PROTECT: deleting a whole organization (projects and slots with it) still works.
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.RESTRICT, related_name="slots")
    parameters_hash = models.CharField(max_length=64)
    parameters = models.JSONField(default=dict)
    sample_index = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=SlotStatus.choices, default=SlotStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error_reason = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    generation = models.OneToOneField(
        "items.Generation", on_delete=models.SET_NULL, null=True, blank=True, related_name="sampling_slot"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "endpoint", "parameters_hash", "sample_index"], name="uniq_generation_slot"
            )
        ]
        indexes = [models.Index(fields=["endpoint", "status"])]

    def __str__(self) -> str:
        return f"prompt {self.prompt_id} × endpoint {self.endpoint_id} #{self.sample_index} ({self.status})"


class SamplingStrategy(models.TextChoices):
    EACH = "each", "Each generation as an item"
    ALL_PAIRS = "all_pairs", "All pairs per prompt"
    K_PAIRS = "k_pairs", "k random pairs per prompt (balanced model pairings)"
    ADAPTIVE = "adaptive", "Adaptive arena pairs (Bradley–Terry uncertainty)"
    STRATIFIED = "stratified", "Stratified sample to a budget"


class SamplingPlan(TimeStampedModel):
    """How a project's queue is filled from its prompts and generations. Reproducible for a seed.

    `config` (validated by apps.sampling.services.plans.plan_config_clean):
    k, budget, strata, models, generation_source, generation_run, prompt_filter.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="sampling_plans")
    name = models.CharField(max_length=200)
    strategy = models.CharField(max_length=20, choices=SamplingStrategy.choices)
    config = models.JSONField(default=dict, blank=True)
    seed = models.IntegerField(default=0)
    priority = models.IntegerField(default=0)
    mix_gold = models.BooleanField(default=True)
    # Continuous plans are topped up by the beat task to keep `target_open_items` open items.
    continuous = models.BooleanField(default=False)
    target_open_items = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return self.name


class PlanTrigger(models.TextChoices):
    MANUAL = "manual", "Page"
    API = "api", "API"
    COMMAND = "command", "Command"
    SCHEDULE = "schedule", "Top-up schedule"


class PlanExecution(TimeStampedModel):
    """One run of a plan: what it planned, created, skipped as duplicates, and mixed in as gold."""

    plan = models.ForeignKey(SamplingPlan, on_delete=models.CASCADE, related_name="executions")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    trigger = models.CharField(max_length=10, choices=PlanTrigger.choices, default=PlanTrigger.MANUAL)
    # At most this many new items (continuous top-ups); null = everything the plan yields.
    limit = models.PositiveIntegerField(null=True, blank=True)
    planned = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    gold_mixed = models.PositiveIntegerField(default=0)
    breakdown = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["plan", "-created_at"])]
