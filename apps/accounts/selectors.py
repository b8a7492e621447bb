"""Reads for accounts: tokens, members, invites, organization staff."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from apps.accounts.models import (
    PROJECT_ROLE_RANK,
    ApiToken,
    Invite,
    Organization,
    OrganizationMembership,
    OrgRole,
    ProjectMembership,
    User,
    hash_secret,
)


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens, active first, newest first. Never carries the key (only its hash exists)."""
    return ApiToken.objects.filter(user=user).order_by(
        Case(When(revoked_at__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField()),
        "-created_at",
    )


def project_member_list(*, project_id: int) -> QuerySet[ProjectMembership]:
    """Members, most powerful role first, then by username."""
    rank = Case(
        *[When(role=role, then=Value(-value)) for role, value in PROJECT_ROLE_RANK.items()],
        output_field=IntegerField(),
    )
    return (
        ProjectMembership.objects.filter(project_id=project_id)
        .select_related("user", "invite")
        .annotate(role_rank=rank)
        .order_by("role_rank", "user__username")
    )


def org_staff_list(*, organization_id: int) -> QuerySet[OrganizationMembership]:
    """Organization admins and researchers: they act as managers of every project."""
    return (
        OrganizationMembership.objects.filter(organization_id=organization_id)
        .select_related("user")
        .order_by(Case(When(role=OrgRole.ADMIN, then=Value(0)), default=Value(1), output_field=IntegerField()),
                  "user__username")
    )


def invite_list(*, project_id: int) -> QuerySet[Invite]:
    return Invite.objects.filter(project_id=project_id).select_related("created_by").order_by("-created_at")


def invite_by_token(*, token: str) -> Invite | None:
    if not token or len(token) > 100:
        return None
    return Invite.objects.select_related("project", "project__organization").filter(
        token_hash=hash_secret(token)
    ).first()


def user_in_org_by_username(*, organization_id: int, username: str) -> User | None:
    """A user connected to the organization (staff, or a member of one of its projects)."""
    if not username:
        return None
    return (
        User.objects.filter(username__iexact=username, is_active=True)
        .filter(
            Q(org_memberships__organization_id=organization_id)
            | Q(project_memberships__project__organization_id=organization_id)
        )
        .distinct()
        .first()
    )


def organizations_administered_by(*, user: User) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user, memberships__role=OrgRole.ADMIN).order_by("name")
