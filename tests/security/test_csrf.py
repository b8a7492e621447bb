"""A signed-in browser session cannot change anything without the CSRF token.

Every route × POST, PUT, PATCH, DELETE, with a session cookie and no token, must be
refused for CSRF (403 naming CSRF) before any view logic runs; token-authenticated API
calls carry no cookie and need no token.
"""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import ApiToken, hash_secret
from tests.security.routes import all_routes

pytestmark = pytest.mark.django_db

UNSAFE = ("post", "put", "patch", "delete")


def test_every_state_changing_request_without_a_token_is_refused(url_values, org_admin):
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(org_admin)
    problems = []
    checked = 0
    for route in all_routes():
        path = route.url(url_values)
        for method in UNSAFE:
            # What a cross-site form can send: multipart or url-encoded (JSON needs a CORS preflight).
            if method == "post":
                response = client.post(path, data={"name": "x"})
            else:
                response = getattr(client, method)(path, data="name=x",
                                                   content_type="application/x-www-form-urlencoded")
            checked += 1
            body = response.content.decode(errors="replace")
            # 415: DRF parses the body while checking the token and the view accepts no such
            # body; nothing ran either way.
            refused = (response.status_code == 403 and "CSRF" in body) or response.status_code == 415
            if not refused:
                problems.append(f"{method.upper()} {path} ({route.key}) answered {response.status_code} "
                                f"without a CSRF token: {body[:120]!r}")
    assert checked > 40
    assert not problems, "\n".join(problems)


def test_with_the_token_the_same_session_can_act(owner, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get(f"/projects/{project.pk}/privacy/")
    token = client.cookies["csrftoken"].value
    refused = client.post(f"/projects/{project.pk}/privacy/policy/", {"pii_policy": "show"})
    assert refused.status_code == 403
    accepted = client.post(f"/projects/{project.pk}/privacy/policy/", {"pii_policy": "show"}, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 302
    project.refresh_from_db()
    assert project.pii_policy == "show"


def test_token_authenticated_api_calls_need_no_csrf_token(owner, project, django_capture_on_commit_callbacks):
    ApiToken.objects.create(user=owner, name="ci", key_hash=hash_secret("k" * 40), prefix="kkkk")
    client = Client(enforce_csrf_checks=True)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/api/v1/projects/{project.pk}/privacy/scans/", HTTP_AUTHORIZATION="Token " + "k" * 40)
    assert response.status_code == 202


def test_the_session_and_csrf_cookies_are_locked_down(settings):
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax" and settings.CSRF_COOKIE_SAMESITE == "Lax"
