"""Sign-in events, from django.contrib.auth's own signals.

This is the one place Verity uses signals: sign-in, sign-out and failed sign-in
happen inside Django's auth machinery (the login view, django-axes), not in a
service of ours that could call audit_record itself.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest

from apps.audit.services import audit_record


def on_user_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action="auth.login", target=user, subject_user=user, request=_real(request))


def on_user_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:  # the session had already expired
        return
    audit_record(actor=user, action="auth.logout", target=user, subject_user=user, request=_real(request))


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    user_model = get_user_model()
    attempted = str(credentials.get(user_model.USERNAME_FIELD) or credentials.get("username") or "")
    # The account the attempt was against, if it exists; the answer to the caller
    # is the same either way (django-axes), only the log knows.
    account = user_model._default_manager.filter(**{f"{user_model.USERNAME_FIELD}__iexact": attempted}).first()
    audit_record(
        actor=None,
        actor_label=attempted,
        action="auth.login_failed",
        target=account,
        subject_user=account,
        request=_real(request),
        detail={"username": attempted},
    )


def _real(request: HttpRequest | None) -> HttpRequest | None:
    # Client.force_login in tests sends a bare HttpRequest without META.
    return request if request is not None and getattr(request, "META", None) else None
