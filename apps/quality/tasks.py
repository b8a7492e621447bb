"""Celery tasks of the quality app: thin wrappers taking ids; all are idempotent."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from apps.annotations.models import Annotation
from apps.core.models import JobStatus
from config.celery import app


@app.task(name="quality.recompute", acks_late=True)
def quality_recompute(project_id: int) -> None:
    """Full recompute of one project (debounced by services.recompute_schedule)."""
    from apps.quality.services import snapshot_recompute

    snapshot_recompute(project_id=project_id)


@app.task(name="quality.after_submit", acks_late=True)
def quality_after_submit(annotation_id: int) -> None:
    """Dynamic overlap, qualification and a debounced recompute after one submission."""
    from apps.quality.services import quality_after_submit as after_submit

    after_submit(annotation_id=annotation_id)


@app.task(name="quality.sweep")
def quality_sweep() -> int:
    """Beat: schedule a recompute for every project with annotations submitted since its last
    successful run started, and re-queue recomputes that stalled (a worker died mid-run).
    Returns how many were queued. Uses the (project, submitted_at) index only."""
    from apps.projects.models import Project
    from apps.quality.models import QualitySnapshot
    from apps.quality.services import recompute_schedule

    recent = timezone.now() - timedelta(days=2)
    active = Annotation.objects.filter(submitted_at__gte=recent).values_list("project_id", flat=True).distinct()
    last_start = QualitySnapshot.objects.filter(project_id=OuterRef("pk"), status=JobStatus.SUCCEEDED).values("started_at")
    projects = Project.objects.filter(pk__in=list(active)).annotate(last_start=Subquery(last_start[:1])).annotate(
        newer=Exists(Annotation.objects.filter(project_id=OuterRef("pk"), submitted_at__gt=OuterRef("last_start")))
    )
    queued = 0
    for project in projects:
        if project.last_start is None or project.newer:
            queued += recompute_schedule(project_id=project.pk, delay=1)
    stalled = QualitySnapshot.objects.filter(
        status=JobStatus.RUNNING, started_at__lt=timezone.now() - timedelta(hours=1)
    ).values_list("project_id", flat=True)
    for project_id in stalled:
        queued += recompute_schedule(project_id=project_id, delay=1)
    return queued
