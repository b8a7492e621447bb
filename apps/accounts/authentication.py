"""API token authentication: `Authorization: Token <key>` or `Bearer <key>`.

Only a SHA-256 of each key is stored, so a database leak does not leak tokens.
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.accounts.models import ApiToken, User, hash_secret
from apps.core.sql import columns, fetch_models

# Every API request runs this: one statement, no ORM compile (apps.core.sql).
_TOKEN_SQL = f"""
SELECT {columns("t", ApiToken)}, {columns("u", User)}
FROM {ApiToken._meta.db_table} t JOIN {User._meta.db_table} u ON u.id = t.user_id
WHERE t.key_hash = %(hash)s AND t.revoked_at IS NULL
LIMIT 1
"""


class BearerOrTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'.")
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Token contains invalid characters.") from None
        found = fetch_models(_TOKEN_SQL, {"hash": hash_secret(key)}, ApiToken, User)
        token = None
        if found is not None:
            token, user = found
            token.user = user
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        # Touch at most once a minute: no write per request.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return (token.user, token)

    def authenticate_header(self, request):  # type: ignore[no-untyped-def]
        return "Token"
