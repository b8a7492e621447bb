"""REST API: /api/v1/projects/{id}/members/, /members/{id}/, /projects/{id}/invites/, /invites/{id}/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import Invite, ProjectMembership, ProjectRole, hash_secret
from apps.accounts.services import api_token_create
from tests.conftest import api_client_for
from tests.factories import ProjectFactory, ProjectMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def members_url(project) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/members/"


def invites_url(project) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/invites/"


def error(response) -> dict:  # type: ignore[no-untyped-def]
    return response.json()["error"]


# --- members ------------------------------------------------------------------------------


def test_list_members(owner, project, annotator, reviewer, django_assert_max_num_queries):
    ProjectMembership.objects.filter(user=annotator).update(external_worker_id="W-9")
    client = api_client_for(owner)
    with django_assert_max_num_queries(6):
        response = client.get(members_url(project))
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["user"]["username"], r["role"]) for r in rows] == [("reviewer", "reviewer"), ("annotator", "annotator")]
    assert rows[1]["external_worker_id"] == "W-9"
    assert "email" not in rows[1]["user"] and "password" not in str(rows)


def test_list_members_with_a_token(owner, project, annotator):
    _, key = api_token_create(user=owner, name="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(members_url(project)).json()["count"] == 1


def test_add_member_by_username(owner, project):
    colleague = UserFactory(username="colleague")
    ProjectMembershipFactory(project=ProjectFactory(organization=project.organization), user=colleague)
    response = api_client_for(owner).post(members_url(project), {"username": "colleague", "role": "reviewer"}, format="json")
    assert response.status_code == 201
    assert response.json()["role"] == "reviewer" and response.json()["user"]["username"] == "colleague"
    assert ProjectMembership.objects.get(project=project, user=colleague).role == ProjectRole.REVIEWER


def test_add_member_errors_are_named(owner, project, annotator, outsider, org_admin):
    client = api_client_for(owner)
    cases = [
        ({"username": "outsider", "role": "annotator"}, 400, "unknown_user"),
        ({"username": "nobody", "role": "annotator"}, 400, "unknown_user"),
        ({"username": "annotator", "role": "annotator"}, 409, "already_member"),
        ({"username": "orgadmin", "role": "annotator"}, 409, "already_manager"),
        ({"username": "annotator", "role": "boss"}, 400, "invalid"),
        ({"role": "annotator"}, 400, "invalid"),
        ({"username": "annotator", "role": "annotator", "external_worker_id": "x"}, 400, "field_not_allowed"),
    ]
    for body, status, code in cases:
        response = client.post(members_url(project), body, format="json")
        assert (response.status_code, error(response)["code"]) == (status, code), body
    assert error(client.post(members_url(project), {"username": "outsider", "role": "annotator"}, format="json"))["details"] == {
        "username": "No one named 'outsider' belongs to this organization. Send people from outside an invite link."
    }
    assert not ProjectMembership.objects.filter(user=outsider).exists()


def test_change_role_and_remove(owner, project, annotator):
    membership = ProjectMembership.objects.get(user=annotator)
    client = api_client_for(owner)
    response = client.patch(f"{members_url(project)}{membership.pk}/", {"role": "manager"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "manager"
    assert client.delete(f"{members_url(project)}{membership.pk}/").status_code == 204
    assert not ProjectMembership.objects.filter(pk=membership.pk).exists()


def test_fields_an_annotator_must_not_set_are_refused(owner, project, annotator):
    membership = ProjectMembership.objects.get(user=annotator)
    client = api_client_for(owner)
    for field, value in [("suspended_at", None), ("user", 1), ("external_worker_id", "x"), ("qualified_at", "2020-01-01T00:00:00Z")]:
        response = client.patch(f"{members_url(project)}{membership.pk}/", {field: value, "role": "annotator"}, format="json")
        assert response.status_code == 400
        assert error(response)["code"] == "field_not_allowed" and field in error(response)["details"]


def test_annotator_cannot_change_own_role_or_anyones(annotator, reviewer, project):
    own = ProjectMembership.objects.get(user=annotator)
    other = ProjectMembership.objects.get(user=reviewer)
    client = api_client_for(annotator)
    for membership in (own, other):
        response = client.patch(f"{members_url(project)}{membership.pk}/", {"role": "manager"}, format="json")
        assert response.status_code == 403 and error(response)["code"] == "permission_denied"
    assert client.get(members_url(project)).status_code == 403
    assert client.post(members_url(project), {"username": "annotator", "role": "manager"}, format="json").status_code == 403
    assert ProjectMembership.objects.get(pk=own.pk).role == ProjectRole.ANNOTATOR


def test_project_manager_cannot_change_own_role(project):
    manager = UserFactory(username="pm")
    membership = ProjectMembershipFactory(project=project, user=manager, role=ProjectRole.MANAGER)
    client = api_client_for(manager)
    response = client.patch(f"{members_url(project)}{membership.pk}/", {"role": "annotator"}, format="json")
    assert response.status_code == 400 and error(response)["code"] == "own_role"
    response = client.delete(f"{members_url(project)}{membership.pk}/")
    assert response.status_code == 400 and error(response)["code"] == "own_membership"


def test_outsider_gets_404(outsider, project, annotator):
    membership = ProjectMembership.objects.get(user=annotator)
    client = api_client_for(outsider)
    for response in (
        client.get(members_url(project)),
        client.post(members_url(project), {"username": "outsider", "role": "manager"}, format="json"),
        client.patch(f"{members_url(project)}{membership.pk}/", {"role": "manager"}, format="json"),
        client.delete(f"{members_url(project)}{membership.pk}/"),
        client.get(invites_url(project)),
        client.post(invites_url(project), {"role": "manager"}, format="json"),
        client.get("/api/v1/projects/999999/members/"),
    ):
        assert response.status_code == 404 and error(response)["code"] == "not_found"


def test_membership_of_another_project_is_404(owner, project, other_project):
    stranger = ProjectMembershipFactory(project=other_project)
    response = api_client_for(owner).delete(f"{members_url(project)}{stranger.pk}/")
    assert response.status_code == 404
    assert ProjectMembership.objects.filter(pk=stranger.pk).exists()


def test_anonymous_is_401(project, annotator):
    membership = ProjectMembership.objects.get(user=annotator)
    client = APIClient()
    for response in (
        client.get(members_url(project)),
        client.patch(f"{members_url(project)}{membership.pk}/", {"role": "manager"}, format="json"),
        client.get(invites_url(project)),
        client.delete("/api/v1/invites/1/"),
    ):
        assert response.status_code == 401


def test_wrong_methods(owner, project, annotator):
    membership = ProjectMembership.objects.get(user=annotator)
    client = api_client_for(owner)
    assert client.put(members_url(project), {}, format="json").status_code == 405
    assert client.get(f"{members_url(project)}{membership.pk}/").status_code == 405
    assert client.patch(invites_url(project), {}, format="json").status_code == 405
    assert client.get("/api/v1/invites/1/").status_code == 405


# --- invites ------------------------------------------------------------------------------


def test_create_invite_returns_the_token_once(owner, project):
    client = api_client_for(owner)
    expires = (timezone.now() + timedelta(days=2)).isoformat()
    response = client.post(invites_url(project), {"role": "annotator", "max_uses": 10, "expires_at": expires, "label": "MTurk"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["url"] == f"http://testserver/join/{body['token']}/"
    assert body["status"] == "active" and body["uses"] == 0 and body["max_uses"] == 10 and body["label"] == "MTurk"
    assert Invite.objects.get().token_hash == hash_secret(body["token"])
    listed = client.get(invites_url(project))
    assert listed.status_code == 200
    assert body["token"] not in listed.content.decode() and "token" not in listed.json()["results"][0]
    assert Client().get(f"/join/{body['token']}/?worker_id=abc").status_code == 200


def test_create_invite_errors_are_named(owner, project):
    client = api_client_for(owner)
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    cases = [
        ({"role": "emperor"}, "invalid", "role"),
        ({"role": "annotator", "max_uses": 0}, "invalid", "max_uses"),
        ({"role": "annotator", "expires_at": "tomorrow"}, "invalid", "expires_at"),
        ({"role": "annotator", "expires_at": past}, "expiry_in_past", "expires_at"),
        ({"role": "annotator", "uses": 0}, "field_not_allowed", "uses"),
        ({"role": "annotator", "token_hash": "x"}, "field_not_allowed", "token_hash"),
    ]
    for body, code, field in cases:
        response = client.post(invites_url(project), body, format="json")
        assert response.status_code == 400, body
        assert error(response)["code"] == code and field in error(response)["details"], body
    assert not Invite.objects.exists()


def test_only_managers_create_invites(annotator, reviewer, project):
    for user in (annotator, reviewer):
        for role in ("annotator", "reviewer", "manager"):
            response = api_client_for(user).post(invites_url(project), {"role": role}, format="json")
            assert response.status_code == 403
    assert not Invite.objects.exists()


def test_revoke_invite(owner, project, make_invite):
    invite, token = make_invite()
    assert api_client_for(owner).delete(f"/api/v1/invites/{invite.pk}/").status_code == 204
    invite.refresh_from_db()
    assert invite.revoked_at is not None
    assert Client().get(f"/join/{token}/").status_code == 410
    # Idempotent.
    assert api_client_for(owner).delete(f"/api/v1/invites/{invite.pk}/").status_code == 204


def test_revoke_invite_access(outsider, annotator, project, make_invite):
    invite, _ = make_invite()
    assert api_client_for(outsider).delete(f"/api/v1/invites/{invite.pk}/").status_code == 404
    assert api_client_for(annotator).delete(f"/api/v1/invites/{invite.pk}/").status_code == 403
    assert api_client_for(outsider).delete("/api/v1/invites/987654/").status_code == 404
    invite.refresh_from_db()
    assert invite.revoked_at is None


def test_openapi_schema_documents_the_endpoints(owner):
    response = api_client_for(owner).get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/v1/projects/{project_id}/members/", "/api/v1/projects/{project_id}/members/{membership_id}/",
                 "/api/v1/projects/{project_id}/invites/", "/api/v1/invites/{invite_id}/", "/api/v1/tokens/",
                 "/api/v1/tokens/{token_id}/"):
        assert path in paths
