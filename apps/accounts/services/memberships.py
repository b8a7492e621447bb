"""Project memberships (managers change roles) and organization staff (admins manage)."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from apps.accounts.models import (
    Organization,
    OrganizationMembership,
    OrgRole,
    ProjectMembership,
    User,
)
from apps.accounts.selectors import user_in_org_by_username
from apps.accounts.services.rules import (
    AccountsError,
    clean_username,
    parse_role,
    require_manager,
    require_org_admin,
)
from apps.audit.services import audit_record
from apps.projects.models import Project


@transaction.atomic
def membership_add(*, project: Project, actor: User, username: str, role: str) -> ProjectMembership:
    """Add an existing user connected to the project's organization (by username)."""
    role = parse_role(role)
    require_manager(actor, project)
    user = user_in_org_by_username(organization_id=project.organization_id, username=(username or "").strip())
    if user is None:
        # Same answer whether the name exists elsewhere or not at all: no cross-tenant probing.
        raise AccountsError(
            "unknown_user",
            f"No one named {username!r} belongs to this organization. Send people from outside an invite link.",
            field="username",
        )
    if OrganizationMembership.objects.filter(organization_id=project.organization_id, user=user).exists():
        raise AccountsError(
            "already_manager", f"{user.username} is organization staff and already manages this project.",
            field="username", status_code=409,
        )
    if ProjectMembership.objects.filter(project=project, user=user).exists():
        raise AccountsError(
            "already_member", f"{user.username} is already a member; change their role instead.",
            field="username", status_code=409,
        )
    membership = ProjectMembership(project=project, user=user, role=role)
    membership.full_clean(exclude=["project", "user", "invite"])
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError:
        raise AccountsError("already_member", f"{user.username} is already a member.", status_code=409) from None
    audit_record(actor=actor, action="membership.added", target=membership, project=project, subject_user=user,
                 detail={"role": role})
    return membership


@transaction.atomic
def membership_set_role(*, membership: ProjectMembership, actor: User, role: str) -> ProjectMembership:
    role = parse_role(role)
    require_manager(actor, membership.project)
    if membership.user_id == actor.pk:
        raise AccountsError("own_role", "You cannot change your own role; ask another manager.", field="role")
    locked = ProjectMembership.objects.select_for_update().get(pk=membership.pk)
    if locked.role != role:
        audit_record(actor=actor, action="membership.role_changed", target=locked, project=membership.project,
                     subject_user=locked.user_id, detail={"from": locked.role, "to": role})
        locked.role = role
        locked.save(update_fields=["role", "updated_at"])
    membership.role = locked.role
    return locked


@transaction.atomic
def membership_remove(*, membership: ProjectMembership, actor: User) -> None:
    """Remove a member. Their past annotations stay (they belong to the project's data)."""
    require_manager(actor, membership.project)
    if membership.user_id == actor.pk:
        raise AccountsError("own_membership", "You cannot remove yourself; ask another manager.")
    audit_record(actor=actor, action="membership.removed", target=membership, project=membership.project,
                 subject_user=membership.user_id, detail={"role": membership.role})
    ProjectMembership.objects.filter(pk=membership.pk).delete()

def _lock_org_admins(organization: Organization) -> int:
    """Lock the organization's memberships and count its admins (guards the last admin)."""
    rows = list(
        OrganizationMembership.objects.select_for_update()
        .filter(organization=organization)
        .values_list("role", flat=True)
    )
    return sum(1 for role in rows if role == OrgRole.ADMIN)


@transaction.atomic
def org_membership_add(
    *, organization: Organization, actor: User, username: str, role: str, email: str = ""
) -> tuple[OrganizationMembership, str | None]:
    """Add a researcher or admin. A new username gets an account with a generated password,
    returned once; an existing user must already work in one of this organization's projects."""
    require_org_admin(actor, organization)
    if role not in OrgRole.values:
        raise AccountsError(
            "invalid_role", f"Role must be one of {', '.join(OrgRole.values)}; got {role!r}.", field="role"
        )
    username = clean_username(username)
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise AccountsError("invalid_email", "Enter a valid email address or leave it empty.", field="email") from None
    password = None
    user = user_in_org_by_username(organization_id=organization.pk, username=username)
    if user is None:
        if User.objects.filter(username__iexact=username).exists():
            raise AccountsError("username_taken", "That username is taken; choose another.", field="username")
        password = secrets.token_urlsafe(12)
        user = User(username=username, email=email)
        user.set_password(password)
        user.save()
    elif OrganizationMembership.objects.filter(organization=organization, user=user).exists():
        raise AccountsError(
            "already_member", f"{user.username} is already in this organization.", field="username", status_code=409
        )
    membership = OrganizationMembership.objects.create(organization=organization, user=user, role=role)
    audit_record(actor=actor, action="membership.added", target=membership, organization=organization,
                 subject_user=user, detail={"role": role})
    return membership, password


@transaction.atomic
def org_membership_set_role(*, membership: OrganizationMembership, actor: User, role: str) -> OrganizationMembership:
    require_org_admin(actor, membership.organization)
    if role not in OrgRole.values:
        raise AccountsError(
            "invalid_role", f"Role must be one of {', '.join(OrgRole.values)}; got {role!r}.", field="role"
        )
    admins = _lock_org_admins(membership.organization)
    locked = OrganizationMembership.objects.get(pk=membership.pk)
    if locked.role == OrgRole.ADMIN and role != OrgRole.ADMIN and admins <= 1:
        raise AccountsError("last_admin", "An organization needs at least one admin; promote someone else first.")
    if locked.role != role:
        audit_record(actor=actor, action="membership.role_changed", target=locked, organization=membership.organization,
                     subject_user=locked.user_id, detail={"from": locked.role, "to": role})
    locked.role = role
    locked.save(update_fields=["role", "updated_at"])
    return locked


@transaction.atomic
def org_membership_remove(*, membership: OrganizationMembership, actor: User) -> None:
    require_org_admin(actor, membership.organization)
    admins = _lock_org_admins(membership.organization)
    locked = OrganizationMembership.objects.get(pk=membership.pk)
    if locked.role == OrgRole.ADMIN and admins <= 1:
        raise AccountsError("last_admin", "An organization needs at least one admin; promote someone else first.")
    audit_record(actor=actor, action="membership.removed", target=locked, organization=membership.organization,
                 subject_user=locked.user_id, detail={"role": locked.role})
    locked.delete()
