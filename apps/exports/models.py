"""Export jobs (one dataset build each) and the per-project salt for pseudonymous annotator ids."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import JobStatus, TimeStampedModel


class ExportKind(models.TextChoices):
    SFT = "sft", "Supervised fine-tuning (TRL SFT)"
    PREFERENCE = "preference", "Preference pairs (TRL DPO / ORPO / reward)"
    KTO = "kto", "Binary feedback (TRL KTO)"
    OPENAI_CHAT = "openai_chat", "OpenAI chat fine-tuning"
    OPENAI_PREFERENCE = "openai_preference", "OpenAI preference fine-tuning"
    LABELS = "labels", "Aggregated labels per item"
    SPANS = "spans", "Marked spans with offsets"
    RAW = "raw", "Raw annotations (pseudonymous)"


class ExportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    PARQUET = "parquet", "Parquet"
    CSV = "csv", "CSV"
    HF = "hf", "Hugging Face dataset folder (zip)"


class ExportJob(TimeStampedModel):
    """One dataset build. Celery only carries the id; everything else lives on this row.

    `options` is the normalised option set (apps.exports.options) so the build can be
    repeated; `files` lists the files inside the stored zip: [{name, bytes, sha256, split?, rows?}].
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="export_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    kind = models.CharField(max_length=20, choices=ExportKind.choices)
    format = models.CharField(max_length=10, choices=ExportFormat.choices)
    options = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    # Annotations submitted after this instant are not read, so a build is a consistent snapshot.
    snapshot_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Progress, refreshed once per batch; also a heartbeat the stall reaper reads.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    total_items = models.PositiveIntegerField(default=0)
    processed_items = models.PositiveIntegerField(default=0)
    record_count = models.PositiveIntegerField(default=0)
    split_counts = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    files = models.JSONField(default=list, blank=True)
    archive_name = models.CharField(max_length=300, blank=True)
    archive_bytes = models.BigIntegerField(default=0)
    manifest = models.JSONField(default=dict, blank=True)
    card = models.TextField(blank=True)
    stats = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "-created_at"]),
            models.Index(fields=["status", "expires_at"]),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.kind}, {self.format})"

    @property
    def is_finished(self) -> bool:
        return self.status in JobStatus.finished()

    @property
    def is_downloadable(self) -> bool:
        return self.status == JobStatus.SUCCEEDED and self.expired_at is None and bool(self.archive_name)

    @property
    def percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        if not self.total_items:
            return 0
        return min(99, int(100 * self.processed_items / self.total_items))


class ExportSalt(models.Model):
    """Secret per project: annotator ids in exports are HMAC(salt, user id), stable within the project.

    Kept apart from the project so that rotating it (deleting the row) unlinks future
    exports from past ones without touching anything else.
    """

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="export_salt")
    salt = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Export salt of project {self.project_id}"
