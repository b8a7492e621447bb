"""Reads for projects: lists with the counts they show, overviews, guideline history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from apps.accounts.models import (
    Organization,
    OrganizationMembership,
    ProjectMembership,
    ProjectRole,
)
from apps.annotations.models import Annotation
from apps.items.models import Item, ItemState
from apps.projects.access import projects_visible_to
from apps.projects.models import GuidelineVersion, Project


def _with_current_guidelines(projects: QuerySet[Project]) -> QuerySet[Project]:
    latest = GuidelineVersion.objects.filter(project=OuterRef("pk")).order_by("-version")
    return projects.annotate(
        guidelines_version=Subquery(latest.values("version")[:1]),
        guidelines_text=Subquery(latest.values("text")[:1]),
        guidelines_updated_at=Subquery(latest.values("created_at")[:1]),
    )


def project_list_for_user(*, user, include_archived: bool = False) -> QuerySet[Project]:  # type: ignore[no-untyped-def]
    """Projects the user may see, newest first, with item counts and current guidelines.

    Counts come from subqueries rather than joins: the visibility filter already
    joins memberships, and a joined Count would multiply by them.
    """
    item_counts = (
        Item.objects.filter(project=OuterRef("pk")).order_by().values("project").annotate(n=Count("id")).values("n")
    )
    projects = (
        projects_visible_to(user)
        .select_related("organization", "created_by")
        .annotate(item_count=Coalesce(Subquery(item_counts, output_field=IntegerField()), Value(0)))
        .order_by("-created_at", "-id")
    )
    if not include_archived:
        projects = projects.filter(archived_at__isnull=True)
    return _with_current_guidelines(projects)


def project_with_guidelines(*, project: Project) -> Project:
    """Attach the current guidelines to a project fetched by the access helper (one query)."""
    current = project.current_guidelines()
    project.guidelines_version = current.version if current else 0  # type: ignore[attr-defined]
    project.guidelines_text = current.text if current else ""  # type: ignore[attr-defined]
    project.guidelines_updated_at = current.created_at if current else None  # type: ignore[attr-defined]
    return project


def project_roles_for_user(*, user, projects: Sequence[Project]) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """The caller's effective role in each project, in two queries (see access.project_role_for)."""
    if not projects:
        return {}
    org_ids = set(OrganizationMembership.objects.filter(user=user).values_list("organization_id", flat=True))
    roles = dict(
        ProjectMembership.objects.filter(user=user, project__in=[p.pk for p in projects]).values_list(
            "project_id", "role"
        )
    )
    return {
        p.pk: ProjectRole.MANAGER if p.organization_id in org_ids else roles.get(p.pk, "") for p in projects
    }


def organizations_for_project_creation(*, user) -> QuerySet[Organization]:  # type: ignore[no-untyped-def]
    """Organizations where the user may create projects: admins and researchers alike."""
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user).order_by("name").distinct()


def user_can_create_projects(*, user) -> bool:  # type: ignore[no-untyped-def]
    return bool(user.is_authenticated) and OrganizationMembership.objects.filter(user=user).exists()


def user_can_delete_project(*, user, project: Project) -> bool:  # type: ignore[no-untyped-def]
    """Deleting loses every label: only admins and researchers of the owning organization may."""
    return OrganizationMembership.objects.filter(organization_id=project.organization_id, user=user).exists()


def project_overview(*, project: Project, user, role: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Counts for the overview page. Annotators get only their own progress."""
    own = Annotation.objects.filter(project=project, annotator=user).count()
    if role == ProjectRole.ANNOTATOR:
        return {"own_annotations": own}
    items = Item.objects.filter(project=project).aggregate(
        total=Count("id"),
        open=Count("id", filter=Q(state=ItemState.OPEN)),
        completed=Count("id", filter=Q(state=ItemState.COMPLETED)),
        gold=Count("id", filter=Q(is_gold=True)),
    )
    members = dict(
        ProjectMembership.objects.filter(project=project)
        .order_by()
        .values("role")
        .annotate(n=Count("id"))
        .values_list("role", "n")
    )
    return {
        "own_annotations": own,
        "items": items,
        "annotations": Annotation.objects.filter(project=project).count(),
        "members": {role: members.get(role, 0) for role in ProjectRole.values},
        "progress_percent": round(100 * items["completed"] / items["total"]) if items["total"] else 0,
    }


def guideline_versions_for_project(*, project: Project) -> QuerySet[GuidelineVersion]:
    return project.guideline_versions.select_related("created_by").order_by("-version")


def guideline_version_get(*, project: Project, version: int) -> GuidelineVersion:
    found = guideline_versions_for_project(project=project).filter(version=version).first()
    if found is None:
        raise Http404("No such guideline version")
    return found


def guideline_version_previous(*, version: GuidelineVersion) -> GuidelineVersion | None:
    return (
        GuidelineVersion.objects.filter(project_id=version.project_id, version__lt=version.version)
        .order_by("-version")
        .first()
    )
