"""Reads for projects."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.projects.access import projects_visible_to
from apps.projects.models import Project


def project_list_for_user(*, user, include_archived: bool = False) -> QuerySet[Project]:  # type: ignore[no-untyped-def]
    projects = projects_visible_to(user).select_related("organization").order_by("-created_at")
    if not include_archived:
        projects = projects.filter(archived_at__isnull=True)
    return projects
