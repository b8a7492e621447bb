"""Writes for accounts: API tokens, invite links, project and organization memberships.

Entry points authorize the caller through apps.projects.access / apps.accounts.access;
the rules that stop privilege escalation (who may grant which role, never downgrading,
use limits) are enforced here too, so no entry point can skip them.
"""

from apps.accounts.services.invites import (
    MAX_INVITE_USES,
    JoinResult,
    invite_accept,
    invite_accept_new_user,
    invite_create,
    invite_problem,
    invite_revoke,
)
from apps.accounts.services.memberships import (
    membership_add,
    membership_remove,
    membership_set_role,
    org_membership_add,
    org_membership_remove,
    org_membership_set_role,
)
from apps.accounts.services.rules import (
    AccountsError,
    InviteUnusable,
    clean_username,
    clean_worker_id,
    suggest_username,
)
from apps.accounts.services.tokens import MAX_ACTIVE_TOKENS, api_token_create, api_token_revoke

__all__ = [
    "MAX_ACTIVE_TOKENS",
    "MAX_INVITE_USES",
    "AccountsError",
    "InviteUnusable",
    "JoinResult",
    "api_token_create",
    "api_token_revoke",
    "clean_username",
    "clean_worker_id",
    "invite_accept",
    "invite_accept_new_user",
    "invite_create",
    "invite_problem",
    "invite_revoke",
    "membership_add",
    "membership_remove",
    "membership_set_role",
    "org_membership_add",
    "org_membership_remove",
    "org_membership_set_role",
    "suggest_username",
]
