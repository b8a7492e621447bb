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
    Organization,
    OrganizationMembership,
    OrgRole,
    ProjectMembership,
    ProjectRole,
)
from apps.core.sql import columns, fetch_models
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


# The project with its organization and the caller's effective role in one statement (the
# same rule as project_role_for: organization members act as managers).
_PROJECT_WITH_ROLE_SQL = f"""
SELECT {columns("p", Project)}, {columns("o", Organization)},
       EXISTS (SELECT 1 FROM {OrganizationMembership._meta.db_table} om
                WHERE om.organization_id = p.organization_id AND om.user_id = %(user)s),
       (SELECT pm.role FROM {ProjectMembership._meta.db_table} pm
         WHERE pm.project_id = p.id AND pm.user_id = %(user)s ORDER BY pm.id LIMIT 1)
FROM {Project._meta.db_table} p
JOIN {Organization._meta.db_table} o ON o.id = p.organization_id
WHERE p.id = %(id)s AND p.deletion_requested_at IS NULL
"""


def project_for_user(user, project_id: int | str, *, role: str = ProjectRole.ANNOTATOR) -> Project:  # type: ignore[no-untyped-def]
    """The project if the user has at least `role` in it; 404 if they cannot see it at all."""
    try:
        pk = int(project_id)
    except (TypeError, ValueError):
        raise Http404("No such project") from None
    if not user.is_authenticated or not 0 < pk < 2**63:
        raise Http404("No such project")
    # A project whose deletion was requested is gone for everyone, even while it is being purged.
    found = fetch_models(_PROJECT_WITH_ROLE_SQL, {"id": pk, "user": user.pk}, Project, Organization)
    if found is None:
        raise Http404("No such project")
    project, organization, org_member, member_role = found
    project.organization = organization
    effective = ProjectRole.MANAGER if org_member else member_role
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
