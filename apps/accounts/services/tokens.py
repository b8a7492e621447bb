"""API tokens: created with a random key shown once; only its SHA-256 is stored."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiToken, User, hash_secret
from apps.accounts.services.rules import AccountsError
from apps.audit.services import audit_record

MAX_ACTIVE_TOKENS = 25


@transaction.atomic
def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns it with the raw key, which is never stored or shown again."""
    name = (name or "").strip()
    if not name:
        raise AccountsError("name_required", "Give the token a name, e.g. the script that will use it.", field="name")
    if len(name) > 100:
        raise AccountsError("name_too_long", "Token names are at most 100 characters.", field="name")
    # Lock the user row so two concurrent creates cannot both pass the cap.
    User.objects.select_for_update().filter(pk=user.pk).first()
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS:
        raise AccountsError(
            "too_many_tokens",
            f"You already have {MAX_ACTIVE_TOKENS} active tokens; revoke one you no longer use.",
        )
    key = "vt_" + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, key_hash=hash_secret(key), prefix=key[:10])
    token.full_clean()
    token.save()
    audit_record(actor=user, action="token.created", target=token, subject_user=user)
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke (idempotent). The row stays so the owner can see when it was last used."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        audit_record(actor=token.user, action="token.revoked", target=token, subject_user=token.user_id)
    return token
