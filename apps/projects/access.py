"""Fetch-and-authorize helpers. Every view and API endpoint gets projects through these.

An id the caller may not see answers 404 (Http404), never 403, so another
tenant's objects are not even confirmed to exist. A caller who can see the
project but lacks the role gets PermissionDenied (403).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from apps.accounts.models import (
    PROJECT_ROLE_RANK,
    OrganizationMembership,
    OrgRole,
    ProjectMembership,
    ProjectRole,
)
from apps.projects.models import Project


def projects_visible_to(user) -> QuerySet[Project]:  # type: ignore[no-untyped-def]
    """Projects where the user has any role: org admin/researcher, or a project membership."""
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(
        Q(organization__memberships__user=user) | Q(memberships__user=user),
        deletion_requested_at__isnull=True,
    ).distinct()


def project_role_for(user, project: Project) -> str | None:  # type: ignore[no-untyped-def]
    """The caller's effective role: org admins and researchers act as managers."""
    if not user.is_authenticated:
        return None
    if OrganizationMembership.objects.filter(organization_id=project.organization_id, user=user).exists():
        return ProjectRole.MANAGER
    membership = ProjectMembership.objects.filter(project=project, user=user).only("role").first()
    return membership.role if membership else None


def project_for_user(user, project_id: int | str, *, role: str = ProjectRole.ANNOTATOR) -> Project:  # type: ignore[no-untyped-def]
    """The project if the user has at least `role` in it; 404 if they cannot see it at all."""
    try:
        pk = int(project_id)
    except (TypeError, ValueError):
        raise Http404("No such project") from None
    # A project whose deletion was requested is gone for everyone, even while it is being purged.
    project = Project.objects.select_related("organization").filter(pk=pk, deletion_requested_at__isnull=True).first()
    if project is None:
        raise Http404("No such project")
    effective = project_role_for(user, project)
    if effective is None:
        raise Http404("No such project")
    if PROJECT_ROLE_RANK[ProjectRole(effective)] < PROJECT_ROLE_RANK[ProjectRole(role)]:
        raise PermissionDenied("Your role in this project does not allow this")
    project.caller_role = effective  # type: ignore[attr-defined]
    return project


def org_role_for(user, organization_id: int) -> str | None:  # type: ignore[no-untyped-def]
    if not user.is_authenticated:
        return None
    membership = OrganizationMembership.objects.filter(organization_id=organization_id, user=user).first()
    return membership.role if membership else None


def is_org_admin(user, organization_id: int) -> bool:  # type: ignore[no-untyped-def]
    return org_role_for(user, organization_id) == OrgRole.ADMIN
