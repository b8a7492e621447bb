"""Rules shared by the accounts services: the error type, role checks, input cleaning."""

from __future__ import annotations

import re
import secrets

from django.core.exceptions import PermissionDenied

from apps.accounts.models import PROJECT_ROLE_RANK, Organization, ProjectRole, User
from apps.projects.access import is_org_admin, project_role_for
from apps.projects.models import Project

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,39}$")
# Crowd platforms use hex ids (Prolific), alphanumerics (MTurk) or numbers (Toloka).
WORKER_ID_RE = re.compile(r"^[A-Za-z0-9._:@+-]{1,200}$")


class AccountsError(Exception):
    """A rule the caller broke. `code` is stable for API clients; `message` is for people."""

    def __init__(self, code: str, message: str, *, field: str | None = None, status_code: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status_code = status_code


class InviteUnusable(AccountsError):
    """The link exists but can no longer be used (revoked, expired, used up, project archived)."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message, status_code=410)


def parse_role(value: str) -> ProjectRole:
    if value not in ProjectRole.values:
        raise AccountsError(
            "invalid_role",
            f"Role must be one of {', '.join(ProjectRole.values)}; got {value!r}.",
            field="role",
        )
    return ProjectRole(value)


def role_rank(role: str) -> int:
    return PROJECT_ROLE_RANK[ProjectRole(role)]


def require_manager(actor: User, project: Project) -> None:
    # Only managers create invites of any role, so a reviewer can never mint a manager link.
    if project_role_for(actor, project) != ProjectRole.MANAGER:
        raise PermissionDenied("Only project managers can do this.")


def require_org_admin(actor: User, organization: Organization) -> None:
    if not is_org_admin(actor, organization.pk):
        raise PermissionDenied("Only organization admins can do this.")


def clean_worker_id(value: str | None) -> str:
    """The external worker id from an invite link's query string, or ''."""
    value = (value or "").strip()
    if not value:
        return ""
    if not WORKER_ID_RE.match(value):
        raise AccountsError(
            "invalid_worker_id",
            "The worker id in this link is not valid: use at most 200 letters, digits or . _ - : @ +.",
            field="worker_id",
        )
    return value


def clean_username(value: str) -> str:
    value = (value or "").strip()
    if not USERNAME_RE.match(value):
        raise AccountsError(
            "invalid_username",
            "Usernames are 3–40 characters: letters, digits, '.', '_' or '-', starting with a letter or digit.",
            field="username",
        )
    return value


def suggest_username() -> str:
    """A free, readable username for crowd workers who do not want to pick one."""
    while True:
        candidate = f"worker-{secrets.token_hex(3)}"
        if not User.objects.filter(username__iexact=candidate).exists():
            return candidate
