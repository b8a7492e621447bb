"""Reads and fetch-and-authorize helpers for exports.

Exports hold every label of a project, so only its managers (and the organization's
admins and researchers, who act as managers) may see or download them. For anyone
else (reviewers and annotators included) an export does not exist: 404, not 403.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.models import ProjectRole
from apps.exports.models import ExportJob
from apps.projects.access import project_for_user
from apps.projects.models import Project


def project_for_exports(user, project_id: int | str) -> Project:  # type: ignore[no-untyped-def]
    try:
        return project_for_user(user, project_id, role=ProjectRole.MANAGER)
    except PermissionDenied:
        raise Http404("No such project") from None


def export_for_user(user, export_id: int | str) -> ExportJob:  # type: ignore[no-untyped-def]
    try:
        pk = int(export_id)
    except (TypeError, ValueError):
        raise Http404("No such export") from None
    job = ExportJob.objects.filter(pk=pk).only("project_id").first()
    if job is None:
        raise Http404("No such export")
    project = project_for_exports(user, job.project_id)
    job = ExportJob.objects.select_related("created_by").get(pk=pk)
    job.project = project
    return job


def export_list_for_project(*, project: Project) -> QuerySet[ExportJob]:
    return (
        ExportJob.objects.filter(project=project)
        .select_related("created_by")
        .defer("manifest", "card", "stats")
        .order_by("-created_at", "-id")
    )
