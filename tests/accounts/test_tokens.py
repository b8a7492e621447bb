"""API tokens: the page, the API, the management command, and authentication with them."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken
from apps.accounts.services import MAX_ACTIVE_TOKENS, api_token_create
from tests.conftest import api_client_for, client_for

pytestmark = pytest.mark.django_db


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- page ---------------------------------------------------------------------------------


def test_page_lists_tokens_without_keys(owner):
    token, key = api_token_create(user=owner, name="export script")
    response = client_for(owner).get("/accounts/tokens/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "export script" in body and token.prefix in body
    assert key not in body
    assert 'href="/accounts/tokens/"' in body  # the topnav link


def test_page_empty_state_says_what_to_do(owner):
    body = client_for(owner).get("/accounts/tokens/").content.decode()
    assert "You have no API tokens yet" in body


def test_page_creates_a_token_and_shows_the_key_once(owner):
    client = client_for(owner)
    response = client.post("/accounts/tokens/", {"name": "notebook"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 201
    token = ApiToken.objects.get(user=owner)
    body = response.content.decode()
    assert 'id="tokens"' in body and "<html" not in body  # the partial, for htmx
    key = body.split('id="new-token-key"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert key.startswith(token.prefix)
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    # Works for the API, and is gone from the next page view.
    assert token_client(key).get("/api/v1/tokens/").status_code == 200
    assert key not in client.get("/accounts/tokens/").content.decode()


def test_page_create_without_htmx_renders_full_page(owner):
    response = client_for(owner).post("/accounts/tokens/", {"name": "cli"})
    assert response.status_code == 200
    assert "<html" in response.content.decode() and "will not be shown again" in response.content.decode()


def test_page_create_with_bad_input_names_the_field(owner):
    response = client_for(owner).post("/accounts/tokens/", {"name": "  "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "Give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_page_revokes_with_htmx(owner):
    token, key = api_token_create(user=owner, name="old")
    response = client_for(owner).post(f"/accounts/tokens/{token.pk}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token_client(key).get("/api/v1/tokens/").status_code == 401


def test_page_revoke_without_htmx_redirects(owner):
    token, _ = api_token_create(user=owner, name="old")
    response = client_for(owner).post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/accounts/tokens/"


def test_page_wrong_methods(owner):
    token, _ = api_token_create(user=owner, name="x")
    client = client_for(owner)
    assert client.delete("/accounts/tokens/").status_code == 405
    assert client.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405


def test_page_anonymous_goes_to_sign_in(owner):
    token, _ = api_token_create(user=owner, name="x")
    for response in (Client().get("/accounts/tokens/"), Client().post(f"/accounts/tokens/{token.pk}/revoke/")):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_page_cannot_revoke_someone_elses_token(owner, outsider):
    token, key = api_token_create(user=owner, name="mine")
    assert client_for(outsider).post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.is_active


# --- API ----------------------------------------------------------------------------------


def test_api_creates_lists_and_revokes(owner):
    client = api_client_for(owner)
    created = client.post("/api/v1/tokens/", {"name": "ci"}, format="json")
    assert created.status_code == 201
    key = created.json()["key"]
    assert created["Cache-Control"] == "no-store"
    listed = token_client(key).get("/api/v1/tokens/")
    assert listed.status_code == 200
    results = listed.json()["results"]
    assert [t["name"] for t in results] == ["ci"]
    assert "key" not in results[0] and key not in listed.content.decode()
    assert ApiToken.objects.get().last_used_at is not None
    revoked = token_client(key).delete(f"/api/v1/tokens/{results[0]['id']}/")
    assert revoked.status_code == 204
    after = token_client(key).get("/api/v1/tokens/")
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "authentication_failed"


def test_bearer_keyword_also_works(owner):
    _, key = api_token_create(user=owner, name="bearer")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/tokens/").status_code == 200


def test_api_unknown_token_is_401():
    assert token_client("vt_not-a-real-key").get("/api/v1/tokens/").status_code == 401


def test_api_anonymous_is_401():
    response = APIClient().get("/api/v1/tokens/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert APIClient().post("/api/v1/tokens/", {"name": "x"}, format="json").status_code == 401


def test_api_wrong_methods(owner):
    client = api_client_for(owner)
    token, _ = api_token_create(user=owner, name="x")
    assert client.put("/api/v1/tokens/", {}, format="json").status_code == 405
    assert client.get(f"/api/v1/tokens/{token.pk}/").status_code == 405


def test_api_bad_input_is_a_named_error(owner):
    client = api_client_for(owner)
    missing = client.post("/api/v1/tokens/", {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid"
    assert "name" in missing.json()["error"]["details"]
    blank = client.post("/api/v1/tokens/", {"name": "   "}, format="json")
    assert blank.status_code == 400 and "name" in blank.json()["error"]["message"]
    sneaky = client.post("/api/v1/tokens/", {"name": "x", "key_hash": "abc", "user": 1}, format="json")
    assert sneaky.status_code == 400
    assert sneaky.json()["error"]["code"] == "field_not_allowed"
    assert set(sneaky.json()["error"]["details"]) == {"key_hash", "user"}
    assert not ApiToken.objects.exists()


def test_api_caps_active_tokens(owner):
    for i in range(MAX_ACTIVE_TOKENS):
        api_token_create(user=owner, name=f"t{i}")
    response = api_client_for(owner).post("/api/v1/tokens/", {"name": "one more"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_tokens"


def test_api_outsider_cannot_see_or_revoke_others_tokens(owner, outsider):
    token, _ = api_token_create(user=owner, name="mine")
    client = api_client_for(outsider)
    assert client.get("/api/v1/tokens/").json()["results"] == []
    response = client.delete(f"/api/v1/tokens/{token.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    token.refresh_from_db()
    assert token.is_active


def test_inactive_users_token_is_refused(owner):
    _, key = api_token_create(user=owner, name="x")
    owner.is_active = False
    owner.save()
    assert token_client(key).get("/api/v1/tokens/").status_code == 401


# --- management command -------------------------------------------------------------------


def test_command_prints_a_working_key(owner):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "owner", "--name", "from shell", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert "\n" not in key and key.startswith("vt_")
    assert ApiToken.objects.get().name == "from shell"
    assert token_client(key).get("/api/v1/tokens/").status_code == 200


def test_command_unknown_user_fails_clearly(db):
    with pytest.raises(CommandError, match="No active user named 'ghost'"):
        call_command("create_api_token", "ghost", "--name", "x", stdout=StringIO(), stderr=StringIO())


def test_command_requires_a_name(owner):
    with pytest.raises(CommandError):
        call_command("create_api_token", "owner", "--name", " ", stdout=StringIO(), stderr=StringIO())
