"""Projects: question schema, versioned guidelines, distribution and safety settings."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import TimeStampedModel


class PiiPolicy(models.TextChoices):
    REDACT = "redact", "Annotators see personal data redacted"
    SHOW = "show", "Annotators see personal data as it is"
    EXCLUDE = "exclude", "Items with personal data are never given to annotators"


class Project(TimeStampedModel):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    template = models.CharField(max_length=50, blank=True)
    # The question schema: a list of question dicts, validated by apps.projects.schema.
    questions = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    archived_at = models.DateTimeField(null=True, blank=True)
    # Set when a manager deletes the project: it disappears at once (access helpers treat it
    # as gone) and a Celery task removes its rows in batches (apps.projects.tasks).
    deletion_requested_at = models.DateTimeField(null=True, blank=True)

    # Distribution
    annotations_per_item = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1), MaxValueValidator(50)])
    min_annotations = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1), MaxValueValidator(50)])
    max_annotations = models.PositiveSmallIntegerField(default=5, validators=[MinValueValidator(1), MaxValueValidator(50)])
    confidence_threshold = models.FloatField(default=0.7, validators=[MinValueValidator(0), MaxValueValidator(1)])
    lease_minutes = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)])
    gold_ratio = models.FloatField(default=0.0, validators=[MinValueValidator(0), MaxValueValidator(1)])
    per_annotator_cap = models.PositiveIntegerField(null=True, blank=True)
    blind_mode = models.BooleanField(default=True)
    min_seconds_per_item = models.PositiveIntegerField(default=0)

    # Content safety and privacy
    pii_policy = models.CharField(max_length=10, choices=PiiPolicy.choices, default=PiiPolicy.REDACT)
    content_warning = models.CharField(max_length=500, blank=True)
    allow_harmful_opt_out = models.BooleanField(default=False)
    harmful_exposure_cap = models.PositiveIntegerField(null=True, blank=True)

    dataset_license = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "archived_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def current_guidelines(self) -> GuidelineVersion | None:
        return self.guideline_versions.order_by("-version").first()


class GuidelineVersion(models.Model):
    """Every change to the guidelines is a new version; annotations record theirs."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guideline_versions")
    version = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="uniq_guideline_version")]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.project_id} guidelines v{self.version}"
