"""The audit actions Verity records. `audit_record` refuses any other name.

Names are `<noun>.<verb>`. Add a new one here (with the sentence an organization
admin reads) before a service records it.
"""

from __future__ import annotations

ACTIONS: dict[str, str] = {
    # Sign-in (recorded from django.contrib.auth's signals, see apps.audit.apps)
    "auth.login": "Signed in",
    "auth.logout": "Signed out",
    "auth.login_failed": "Failed sign-in",
    # Refusals (apps.audit.middleware): a 403, or a 404 on a URL naming an object
    "access.denied": "Access denied",
    # People and roles
    "membership.added": "Member added",
    "membership.removed": "Member removed",
    "membership.role_changed": "Role changed",
    "membership.suspended": "Annotator suspended",
    "membership.reinstated": "Annotator reinstated",
    "invite.created": "Invite link created",
    "invite.revoked": "Invite link revoked",
    "invite.used": "Joined through an invite",
    "token.created": "API token created",
    "token.revoked": "API token revoked",
    "user.created": "Account created",
    # Projects
    "project.created": "Project created",
    "project.settings_changed": "Project settings changed",
    "project.schema_changed": "Questions changed",
    "project.guidelines_changed": "Guidelines changed",
    "project.pii_policy_changed": "Personal-data policy changed",
    "project.archived": "Project archived",
    "project.unarchived": "Project restored",
    "project.deleted": "Project deleted",
    # Data
    "import.created": "Data imported",
    "item.deleted": "Items deleted",
    "privacy.scan_started": "Personal-data scan started",
    "generation_run.created": "Generation run started",
    "model_endpoint.created": "Model endpoint added",
    "model_endpoint.changed": "Model endpoint changed",
    "model_endpoint.deleted": "Model endpoint deleted",
    # Labels and datasets
    "annotation.deleted": "Annotation deleted",
    "review.recorded": "Review recorded",
    "export.created": "Export created",
    "export.downloaded": "Export downloaded",
    "export.deleted": "Export deleted",
}

# Events about a person's account rather than an organization's objects: an
# organization admin sees them for the organization's members (apps.audit.selectors).
ACCOUNT_ACTIONS = ("auth.login", "auth.logout", "auth.login_failed", "token.created", "token.revoked")

CATEGORIES: tuple[str, ...] = tuple(sorted({name.split(".", 1)[0] for name in ACTIONS}))


def action_label(action: str) -> str:
    return ACTIONS.get(action, action)
