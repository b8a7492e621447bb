"""API token authentication: `Authorization: Token <key>` or `Bearer <key>`.

Only a SHA-256 of each key is stored, so a database leak does not leak tokens.
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.accounts.models import ApiToken, hash_secret


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
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=hash_secret(key), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        # Touch at most once a minute: no write per request.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return (token.user, token)

    def authenticate_header(self, request):  # type: ignore[no-untyped-def]
        return "Token"
