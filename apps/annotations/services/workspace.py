"""Per-annotator workspace state: guidelines read, content preferences, breaks."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Assignment, AssignmentStatus, WorkspacePreference
from apps.annotations.services.leasing import _advisory_key
from apps.annotations.services.submission import assignment_release
from apps.projects.models import Project


def guidelines_mark_seen(*, annotator, project: Project, version: int) -> None:  # type: ignore[no-untyped-def]
    """Record that the annotator read guidelines `version` (never moves backwards).

    Org researchers who annotate have no project membership and are not asked to
    confirm; for them this does nothing.
    """
    ProjectMembership.objects.filter(project=project, user=annotator).update(
        guidelines_seen_version=Greatest("guidelines_seen_version", version)
    )


def workspace_preference_set(*, annotator, project: Project, harmful_opt_out: bool) -> WorkspacePreference:  # type: ignore[no-untyped-def]
    preference, _ = WorkspacePreference.objects.update_or_create(
        project=project, annotator=annotator, defaults={"harmful_opt_out": harmful_opt_out}
    )
    return preference


def queue_pause(*, annotator, project: Project, now: datetime | None = None) -> int:  # type: ignore[no-untyped-def]
    """Pause the annotator's own queue and give their live lease back to the pool; returns how
    many leases were released.

    Takes the same advisory lock as `lease_next`, so a lease request racing the pause
    either finishes first (and its lease is released here) or sees the pause.
    """
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_advisory_key(project.pk, annotator.pk)])
        preference, created = WorkspacePreference.objects.get_or_create(
            project=project, annotator=annotator, defaults={"paused_at": now}
        )
        if not created and preference.paused_at is None:
            preference.paused_at = now
            preference.save(update_fields=["paused_at", "updated_at"])
        live = Assignment.objects.filter(project=project, annotator=annotator, status=AssignmentStatus.LIVE)
        return sum(assignment_release(assignment=assignment, now=now) for assignment in live)


def queue_resume(*, annotator, project: Project) -> None:  # type: ignore[no-untyped-def]
    """End the annotator's break; the next lease request hands out items again."""
    WorkspacePreference.objects.filter(project=project, annotator=annotator).update(
        paused_at=None, updated_at=timezone.now()
    )
