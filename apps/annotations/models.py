"""Assignments (leases), drafts, annotations, skips, flags and reviews."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel


class AssignmentStatus(models.TextChoices):
    LIVE = "live", "Leased"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"
    FLAGGED = "flagged", "Reported"


class Assignment(TimeStampedModel):
    """A lease of one item to one annotator. (item, annotator) is unique: never the same item twice."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey("items.Item", on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=10, choices=AssignmentStatus.choices, default=AssignmentStatus.LIVE)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    is_qualification = models.BooleanField(default=False)
    # Copied from the item at lease time so the engine counts gold and harmful exposure
    # per annotator without joining items. Never sent to the annotator.
    is_gold = models.BooleanField(default=False)
    is_harmful = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "annotator"], name="uniq_assignment_item_annotator")]
        indexes = [
            models.Index(fields=["project", "annotator", "status"]),
            models.Index(fields=["status", "expires_at"], condition=models.Q(status="live"), name="assignment_live_idx"),
        ]

    def __str__(self) -> str:
        return f"Assignment {self.pk} ({self.status})"


class Draft(models.Model):
    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="draft")
    answers = models.JSONField(default=dict)
    # Time the annotator actively spent on the item so far (visible tab), kept across reloads.
    active_ms = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Draft of assignment {self.assignment_id}"


class Annotation(models.Model):
    """Validated answers for one assignment. Exactly one per assignment (idempotent submit)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="annotations")
    item = models.ForeignKey("items.Item", on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations")
    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="annotation")
    answers = models.JSONField()
    time_spent_ms = models.PositiveIntegerField(default=0)
    guideline_version = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Accepted after the lease had expired but while the item still needed it.
    late = models.BooleanField(default=False)
    # True when the item no longer needed it: kept for the researcher, not counted.
    surplus = models.BooleanField(default=False)
    too_fast = models.BooleanField(default=False)

    class Meta:
        constraints = [
            # An Idempotency-Key names one submission of one annotator, never two.
            models.UniqueConstraint(
                fields=["annotator", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="uniq_annotation_idempotency_key",
            )
        ]
        indexes = [
            models.Index(fields=["project", "submitted_at"]),
            models.Index(fields=["item"]),
            models.Index(fields=["annotator", "project"]),
        ]

    def __str__(self) -> str:
        return f"Annotation {self.pk} of item {self.item_id}"


class Skip(models.Model):
    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="skip")
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Skip of assignment {self.assignment_id}"


class FlagCategory(models.TextChoices):
    HARMFUL = "harmful", "Harmful or disturbing content"
    PERSONAL_DATA = "personal_data", "Personal data"
    BROKEN = "broken", "Broken, empty or unreadable"
    OTHER = "other", "Something else"


class Flag(models.Model):
    """An annotator reports content; the item is hidden from them and queued for review."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="flags")
    item = models.ForeignKey("items.Item", on_delete=models.CASCADE, related_name="flags")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="flags")
    category = models.CharField(max_length=20, choices=FlagCategory.choices, default=FlagCategory.OTHER)
    reason = models.CharField(max_length=1000)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "annotator"], name="uniq_flag_item_annotator")]

    def __str__(self) -> str:
        return f"Flag ({self.category}) on item {self.item_id}"


class WorkspacePreference(models.Model):
    """An annotator's choices for one project's workspace."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Honoured only where the project allows opting out (Project.allow_harmful_opt_out).
    harmful_opt_out = models.BooleanField(default=False)
    # Set while the annotator takes a break: their queue hands out nothing until they resume.
    paused_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator"], name="uniq_workspace_preference")
        ]

    def __str__(self) -> str:
        return f"Workspace preferences of user {self.annotator_id} in project {self.project_id}"


class ReviewDecision(models.TextChoices):
    ACCEPT = "accept", "Accept"
    REJECT = "reject", "Reject"
    CORRECT = "correct", "Correct"


class Review(TimeStampedModel):
    """A reviewer's decision on an item; the reviewed answer wins in aggregation."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="reviews")
    item = models.ForeignKey("items.Item", on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews")
    annotation = models.ForeignKey(Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews")
    decision = models.CharField(max_length=10, choices=ReviewDecision.choices)
    answers = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "item"])]
