"""Invite links: create, revoke, and join with one (signed in, or as a new crowd worker)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import (
    Invite,
    OrganizationMembership,
    ProjectMembership,
    ProjectRole,
    User,
    hash_secret,
)
from apps.accounts.services.rules import (
    AccountsError,
    InviteUnusable,
    clean_username,
    clean_worker_id,
    parse_role,
    require_manager,
    role_rank,
)
from apps.audit.services import audit_record
from apps.projects.models import Project

MAX_INVITE_USES = 100_000


@transaction.atomic
def invite_create(
    *,
    project: Project,
    actor: User,
    role: str,
    expires_at: datetime | None = None,
    max_uses: int | None = None,
    label: str = "",
) -> tuple[Invite, str]:
    """Create an invite link; returns it with the raw token (only its hash is stored)."""
    role = parse_role(role)
    require_manager(actor, project)
    if project.is_archived:
        raise AccountsError("project_archived", "This project is archived; restore it before inviting people.")
    if expires_at is not None and expires_at <= timezone.now():
        raise AccountsError("expiry_in_past", "The expiry must be in the future.", field="expires_at")
    if max_uses is not None and not 1 <= max_uses <= MAX_INVITE_USES:
        raise AccountsError(
            "invalid_max_uses", f"Use limit must be between 1 and {MAX_INVITE_USES}, or empty for no limit.",
            field="max_uses",
        )
    label = (label or "").strip()
    if len(label) > 100:
        raise AccountsError("label_too_long", "Labels are at most 100 characters.", field="label")
    token = secrets.token_urlsafe(24)
    invite = Invite(
        project=project, role=role, label=label, token_hash=hash_secret(token), token_prefix=token[:8],
        created_by=actor, expires_at=expires_at, max_uses=max_uses,
    )
    invite.full_clean()
    invite.save()
    audit_record(actor=actor, action="invite.created", target=invite, project=project,
                 detail={"role": role, "max_uses": max_uses})
    return invite, token


@transaction.atomic
def invite_revoke(*, invite: Invite, actor: User) -> Invite:
    """Revoke (idempotent). People who already joined keep their membership."""
    require_manager(actor, invite.project)
    if invite.revoked_at is None:
        invite.revoked_at = timezone.now()
        invite.save(update_fields=["revoked_at", "updated_at"])
        audit_record(actor=actor, action="invite.revoked", target=invite, project=invite.project)
    return invite


@dataclass(frozen=True)
class JoinResult:
    project: Project
    user: User
    role: str  # the effective role after joining
    membership: ProjectMembership | None  # None for organization staff
    joined: bool  # False when nothing changed (already a member)


def _unusable_reason(invite: Invite) -> InviteUnusable | None:
    status = invite.status
    if status == "revoked":
        return InviteUnusable("invite_revoked", "This invite link was revoked by the project's managers.")
    if status == "expired":
        when = timezone.localtime(invite.expires_at).strftime("%Y-%m-%d %H:%M %Z")
        return InviteUnusable("invite_expired", f"This invite link expired on {when}.")
    if status == "used_up":
        return InviteUnusable("invite_used_up", "This invite link has been used as many times as it allows.")
    if invite.project.is_archived:
        return InviteUnusable("project_archived", "This project is archived and takes no new members.")
    return None


def invite_problem(invite: Invite) -> InviteUnusable | None:
    """Why the link cannot be used right now (for showing the join page), or None."""
    return _unusable_reason(invite)


def _join_locked(invite: Invite, user: User, worker_id: str) -> JoinResult:
    """Apply an invite to a user. Caller holds SELECT FOR UPDATE on the invite row."""
    project = invite.project
    if OrganizationMembership.objects.filter(organization_id=project.organization_id, user=user).exists():
        # Organization staff already manage every project; a link must not narrow that.
        return JoinResult(project, user, ProjectRole.MANAGER, None, joined=False)
    membership = ProjectMembership.objects.select_for_update().filter(project=project, user=user).first()
    problem = _unusable_reason(invite)
    if membership is not None and role_rank(membership.role) >= role_rank(invite.role):
        # Never downgrade; existing members pass even a dead link (nothing changes for them).
        if not problem and worker_id and not membership.external_worker_id:
            membership.external_worker_id = worker_id
            membership.save(update_fields=["external_worker_id", "updated_at"])
        return JoinResult(project, user, membership.role, membership, joined=False)
    if problem:
        raise problem
    if membership is None:
        membership = ProjectMembership(
            project=project, user=user, role=invite.role, invite=invite, external_worker_id=worker_id
        )
    else:
        membership.role = invite.role
        membership.invite = invite
        membership.external_worker_id = membership.external_worker_id or worker_id
    membership.full_clean(exclude=["project", "user", "invite"])
    membership.save()
    # Counted in SQL while the row is locked; the check constraint backs the limit.
    Invite.objects.filter(pk=invite.pk).update(uses=F("uses") + 1)
    audit_record(actor=user, action="invite.used", target=invite, project=project, subject_user=user,
                 detail={"role": membership.role})
    return JoinResult(project, user, membership.role, membership, joined=True)


def _lock_invite(invite_id: int) -> Invite:
    return Invite.objects.select_for_update(of=("self",)).select_related("project").get(pk=invite_id)


@transaction.atomic
def invite_accept(*, invite_id: int, user: User, external_worker_id: str = "") -> JoinResult:
    """A signed-in user opens an invite link and joins with its role.

    Idempotent: a second call (double submit) changes nothing. An existing member keeps a
    higher role; a lower one is raised to the invite's role.
    """
    worker_id = clean_worker_id(external_worker_id)
    invite = _lock_invite(invite_id)
    return _join_locked(invite, user, worker_id)


@transaction.atomic
def invite_accept_new_user(
    *, invite_id: int, username: str, password: str, external_worker_id: str = ""
) -> JoinResult:
    """An anonymous crowd worker creates an account (no email needed) and joins.

    Raises AccountsError("username_taken") if the name exists, which is also what a
    double-submitted form gets; the view then tries the password (throttled by axes).
    """
    worker_id = clean_worker_id(external_worker_id)
    username = clean_username(username)
    invite = _lock_invite(invite_id)
    # Checked before the link's state so a double submit that used the last slot still
    # reaches the view's "is it you?" path instead of a misleading "used up".
    if User.objects.filter(username__iexact=username).exists():
        raise AccountsError("username_taken", "That username is taken.", field="username")
    problem = _unusable_reason(invite)
    if problem:
        raise problem
    user = User(username=username)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise AccountsError("weak_password", " ".join(exc.messages), field="password") from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise AccountsError("username_taken", "That username is taken.", field="username") from None
    return _join_locked(invite, user, worker_id)
