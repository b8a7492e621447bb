"""Per-annotator workspace state: guidelines read, content preferences."""

from __future__ import annotations

from django.db.models.functions import Greatest

from apps.accounts.models import ProjectMembership
from apps.annotations.models import WorkspacePreference
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
