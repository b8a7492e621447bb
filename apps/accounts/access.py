"""Fetch-and-authorize helpers for accounts objects.

Like apps.projects.access: an object the caller may not see is a 404 (Http404), never a
403, so ids from another tenant or another user are not even confirmed to exist.
"""

from __future__ import annotations

from django.http import Http404

from apps.accounts.models import (
    ApiToken,
    Invite,
    Organization,
    OrganizationMembership,
    ProjectMembership,
    ProjectRole,
    User,
)
from apps.projects.access import is_org_admin, project_for_user
from apps.projects.models import Project


def _pk(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("Not found") from None


def api_token_for_user(user: User, token_id: int | str) -> ApiToken:
    token = ApiToken.objects.filter(pk=_pk(token_id), user_id=user.pk).first()
    if token is None:
        raise Http404("No such token")
    return token


def project_for_manager(user: User, project_id: int | str) -> Project:
    """404 if the caller cannot see the project, 403 if they can but do not manage it."""
    return project_for_user(user, project_id, role=ProjectRole.MANAGER)


def membership_for_manager(user: User, project_id: int | str, membership_id: int | str) -> ProjectMembership:
    project = project_for_manager(user, project_id)
    membership = ProjectMembership.objects.select_related("user").filter(pk=_pk(membership_id), project=project).first()
    if membership is None:
        raise Http404("No such member")
    membership.project = project
    return membership


def invite_for_manager(user: User, invite_id: int | str) -> Invite:
    invite = Invite.objects.filter(pk=_pk(invite_id)).only("pk", "project_id").first()
    if invite is None:
        raise Http404("No such invite")
    project = project_for_manager(user, invite.project_id)
    invite = Invite.objects.select_related("created_by").get(pk=invite.pk)
    invite.project = project
    return invite


def invite_for_project_manager(user: User, project_id: int | str, invite_id: int | str) -> Invite:
    project = project_for_manager(user, project_id)
    invite = Invite.objects.select_related("created_by").filter(pk=_pk(invite_id), project=project).first()
    if invite is None:
        raise Http404("No such invite")
    invite.project = project
    return invite


def organization_for_admin(user: User, organization_id: int | str) -> Organization:
    """Organization admins only; everyone else (researchers too) gets a 404."""
    organization = Organization.objects.filter(pk=_pk(organization_id)).first()
    if organization is None or not user.is_authenticated or not is_org_admin(user, organization.pk):
        raise Http404("No such organization")
    return organization


def org_membership_for_admin(user: User, organization_id: int | str, membership_id: int | str) -> OrganizationMembership:
    organization = organization_for_admin(user, organization_id)
    membership = (
        OrganizationMembership.objects.select_related("user")
        .filter(pk=_pk(membership_id), organization=organization)
        .first()
    )
    if membership is None:
        raise Http404("No such member")
    membership.organization = organization
    return membership
