"""Personal data found in prompts and generations, and project-wide scan jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import JobStatus, TimeStampedModel


class PiiSpan(models.Model):
    """One detected value: a character range in a prompt's or a generation's text.

    Over `prompt.text` when `message_index` is null, over the content of
    `prompt.messages[message_index]` otherwise (chat prompts), over
    `generation.text` for generations. Offsets are Python string indices.
    A chat turn whose content equals `prompt.text` is not scanned twice: its spans are
    the prompt-text ones (message_index null).
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    prompt = models.ForeignKey("items.Prompt", null=True, blank=True, on_delete=models.CASCADE, related_name="pii_spans")
    message_index = models.PositiveIntegerField(null=True, blank=True)
    generation = models.ForeignKey(
        "items.Generation", null=True, blank=True, on_delete=models.CASCADE, related_name="pii_spans"
    )
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    type = models.CharField(max_length=20)
    score = models.FloatField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(prompt__isnull=False, generation__isnull=True))
                | Q(prompt__isnull=True, generation__isnull=False, message_index__isnull=True),
                name="pii_span_one_text",
            ),
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="pii_span_not_empty"),
            # Scans are idempotent: rerunning one (or two at once) adds nothing twice.
            models.UniqueConstraint(
                fields=["prompt", "message_index", "start", "end", "type"],
                name="uniq_pii_prompt_span",
                nulls_distinct=False,
                condition=Q(prompt__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["generation", "start", "end", "type"],
                name="uniq_pii_generation_span",
                condition=Q(generation__isnull=False),
            ),
        ]
        indexes = [models.Index(fields=["project", "type"], name="pii_project_type")]

    def __str__(self) -> str:
        return f"{self.type} [{self.start}:{self.end}]"


class PiiScanJob(TimeStampedModel):
    """A scan of every item of a project (after changing detectors, or for old data)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total_items = models.PositiveIntegerField(default=0)
    scanned_items = models.PositiveIntegerField(default=0)
    items_with_pii = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-created_at"], name="pii_scan_project_time")]

    @property
    def is_finished(self) -> bool:
        return self.status in JobStatus.finished()

    @property
    def percent(self) -> int:
        if not self.total_items:
            return 100 if self.is_finished else 0
        return min(100, round(100 * self.scanned_items / self.total_items))
