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


# After-submit work is batched: each submission appends its id to a Redis list, and only
# the first one since the last drain publishes a task (publishing a Celery message per
# submission cost more than the submission itself). The drain clears the flag *before*
# popping, so an id pushed while it runs either is popped by it or schedules the next one.
_PENDING_KEY = "verity:quality:after-submit:pending"
_SCHEDULED_KEY = "verity:quality:after-submit:scheduled"
_DRAIN_BATCH = 500
_redis_client = None


def _redis():  # type: ignore[no-untyped-def]
    global _redis_client
    if _redis_client is None:
        import redis
        from django.conf import settings

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    return _redis_client


def after_submit_enqueue(annotation_id: int) -> None:
    """Queue quality's reaction to one committed submission (see `quality_after_submit_drain`)."""
    pipe = _redis().pipeline(transaction=False)
    pipe.rpush(_PENDING_KEY, annotation_id)
    pipe.set(_SCHEDULED_KEY, 1, nx=True, ex=60)
    _, scheduled = pipe.execute()
    if scheduled:
        quality_after_submit_drain.delay()


@app.task(name="quality.after_submit_drain", acks_late=True)
def quality_after_submit_drain() -> int:
    """Run `quality_after_submit` for every queued submission; returns how many."""
    from apps.quality.services import quality_after_submit as after_submit

    client = _redis()
    client.delete(_SCHEDULED_KEY)
    done = 0
    while ids := client.lpop(_PENDING_KEY, _DRAIN_BATCH):
        for annotation_id in ids:
            after_submit(annotation_id=int(annotation_id))
            done += 1
    return done


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
