"""Invite links: opening /join/<token>/, joining as a signed-in user or as an anonymous
crowd worker, expiry, use limits, revocation and no escalation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import (
    Invite,
    OrganizationMembership,
    ProjectMembership,
    ProjectRole,
    User,
)
from apps.accounts.services import invite_revoke
from tests.conftest import client_for
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "plum-orbit-lantern-77"


def join_anonymously(client: Client, token: str, username: str = "crowd-1", query: str = "", **extra):  # type: ignore[no-untyped-def]
    return client.post(f"/join/{token}/{query}", {"username": username, "password": NEW_PASSWORD, **extra})


# --- opening the link ---------------------------------------------------------------------


def test_anonymous_sees_the_join_form_with_a_suggested_username(make_invite, project):
    _, token = make_invite()
    response = Client().get(f"/join/{token}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Join “Project A”" in body and "annotator" in body
    suggestion = re.search(r'name="suggested" value="(worker-[0-9a-f]{6})"', body)
    assert suggestion and f'value="{suggestion.group(1)}"' in body.split('name="username"')[1][:300]
    assert response["Cache-Control"].startswith("max-age=0")


def test_project_name_is_escaped_on_the_join_page(make_invite, project):
    project.name = "<script>alert(1)</script>"
    project.save()
    _, token = make_invite()
    body = Client().get(f"/join/{token}/").content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


def test_unknown_token_is_a_clear_404():
    response = Client().get("/join/not-a-real-token/")
    assert response.status_code == 404
    assert "This invite link is not valid" in response.content.decode()


def test_wrong_method(make_invite):
    _, token = make_invite()
    assert Client().put(f"/join/{token}/").status_code == 405


def test_signed_in_user_sees_a_confirmation(make_invite, outsider):
    _, token = make_invite()
    body = client_for(outsider).get(f"/join/{token}/").content.decode()
    assert "Join as outsider" in body
    assert not ProjectMembership.objects.filter(user=outsider).exists()  # GET changes nothing


# --- joining ------------------------------------------------------------------------------


def test_crowd_worker_joins_without_email_and_worker_id_is_stored(make_invite, project):
    invite, token = make_invite()
    client = Client()
    response = join_anonymously(client, token, query="?worker_id=5f1a2b3c4d5e6f7a8b9c0d1e")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/annotate/"
    user = User.objects.get(username="crowd-1")
    assert user.email == "" and user.check_password(NEW_PASSWORD)
    membership = ProjectMembership.objects.get(user=user)
    assert membership.role == ProjectRole.ANNOTATOR
    assert membership.external_worker_id == "5f1a2b3c4d5e6f7a8b9c0d1e"
    assert membership.invite == invite
    invite.refresh_from_db()
    assert invite.uses == 1
    # Signed in: the session belongs to the new user.
    assert int(client.session["_auth_user_id"]) == user.pk


def test_crowd_worker_can_keep_the_generated_username(make_invite):
    _, token = make_invite()
    response = Client().post(f"/join/{token}/", {"username": "", "suggested": "worker-abc123", "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert ProjectMembership.objects.filter(user__username="worker-abc123").exists()


@pytest.mark.parametrize("worker_id", ["x" * 201, "bad id with spaces", "<script>"])
def test_invalid_worker_id_is_refused(make_invite, worker_id):
    _, token = make_invite()
    from urllib.parse import quote

    client = Client()
    opened = client.get(f"/join/{token}/?worker_id={quote(worker_id)}")
    assert opened.status_code == 400
    assert "worker id in this link is not valid" in opened.content.decode()
    assert join_anonymously(client, token, query=f"?worker_id={quote(worker_id)}").status_code == 400
    assert not User.objects.filter(username="crowd-1").exists()


def test_worker_id_of_200_characters_is_accepted(make_invite):
    _, token = make_invite()
    assert join_anonymously(Client(), token, query="?worker_id=" + "a" * 200).status_code == 302
    assert ProjectMembership.objects.get(user__username="crowd-1").external_worker_id == "a" * 200


def test_bad_username_and_weak_password_are_named(make_invite):
    _, token = make_invite()
    response = Client().post(f"/join/{token}/", {"username": "a b", "password": NEW_PASSWORD})
    assert response.status_code == 400 and "Usernames are 3–40 characters" in response.content.decode()
    response = Client().post(f"/join/{token}/", {"username": "crowd-2", "password": "123"})
    assert response.status_code == 400 and "too short" in response.content.decode()
    response = Client().post(f"/join/{token}/", {"username": "crowd-2"})
    assert response.status_code == 400 and "Choose a password" in response.content.decode()
    assert not User.objects.filter(username__startswith="crowd").exists()


def test_taken_username_with_a_wrong_password_is_refused(make_invite, annotator):
    _, token = make_invite()
    response = Client().post(f"/join/{token}/", {"username": "annotator", "password": "not-their-password-9"})
    assert response.status_code == 400
    assert "That username is taken" in response.content.decode()


def test_existing_account_can_join_from_the_anonymous_form(make_invite, outsider, project):
    _, token = make_invite()
    client = Client()
    response = client.post(f"/join/{token}/?worker_id=W1", {"username": "outsider", "password": PASSWORD})
    assert response.status_code == 302
    membership = ProjectMembership.objects.get(user=outsider, project=project)
    assert membership.role == ProjectRole.ANNOTATOR and membership.external_worker_id == "W1"


def test_signed_in_user_joins_with_the_invite_role(make_invite, project):
    invite, token = make_invite(role=ProjectRole.REVIEWER)
    user = UserFactory(username="newreviewer")
    response = client_for(user).post(f"/join/{token}/")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/"
    assert ProjectMembership.objects.get(user=user).role == ProjectRole.REVIEWER


def test_double_submit_creates_one_membership_and_counts_one_use(make_invite, project):
    invite, token = make_invite(max_uses=1)
    client = Client()
    first = join_anonymously(client, token)
    second = join_anonymously(client, token)  # same browser, now signed in
    third = join_anonymously(Client(), token)  # a second tab without the new session cookie
    assert [first.status_code, second.status_code, third.status_code] == [302, 302, 302]
    assert third["Location"] == f"/projects/{project.pk}/annotate/"
    assert User.objects.filter(username="crowd-1").count() == 1
    assert ProjectMembership.objects.filter(project=project, user__username="crowd-1").count() == 1
    invite.refresh_from_db()
    assert invite.uses == 1


# --- expiry, limits, revocation -----------------------------------------------------------


def test_expired_link_shows_a_clear_message(make_invite):
    invite, token = make_invite()
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    opened = Client().get(f"/join/{token}/")
    assert opened.status_code == 410
    assert "This invite link expired on" in opened.content.decode()
    assert join_anonymously(Client(), token).status_code == 410
    assert not User.objects.filter(username="crowd-1").exists()


def test_use_limit(make_invite, project):
    invite, token = make_invite(max_uses=2)
    assert join_anonymously(Client(), token, username="crowd-1").status_code == 302
    assert join_anonymously(Client(), token, username="crowd-2").status_code == 302
    third = join_anonymously(Client(), token, username="crowd-3")
    assert third.status_code == 410
    assert "used as many times as it allows" in third.content.decode()
    late = UserFactory(username="late")
    assert client_for(late).post(f"/join/{token}/").status_code == 410
    assert ProjectMembership.objects.filter(project=project, invite=invite).count() == 2
    invite.refresh_from_db()
    assert invite.uses == 2


def test_revoked_link_shows_a_clear_message(make_invite, owner):
    invite, token = make_invite()
    invite_revoke(invite=invite, actor=owner)
    opened = Client().get(f"/join/{token}/")
    assert opened.status_code == 410
    assert "revoked" in opened.content.decode()
    user = UserFactory()
    assert client_for(user).post(f"/join/{token}/").status_code == 410
    assert not ProjectMembership.objects.filter(user=user).exists()


def test_archived_project_takes_no_new_members(make_invite, project):
    _, token = make_invite()
    project.archived_at = timezone.now()
    project.save()
    assert Client().get(f"/join/{token}/").status_code == 410


def test_existing_member_passes_a_dead_link_unchanged(make_invite, annotator, project):
    invite, token = make_invite()
    invite_revoke(invite=invite, actor=project.created_by)
    response = client_for(annotator).post(f"/join/{token}/")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/annotate/"


# --- no escalation ------------------------------------------------------------------------


def test_annotator_link_never_grants_more_even_if_the_form_asks(make_invite, project):
    _, token = make_invite(role=ProjectRole.ANNOTATOR)
    join_anonymously(Client(), token, role="manager")
    user = UserFactory(username="signedin")
    client_for(user).post(f"/join/{token}/", {"role": "manager"})
    roles = set(ProjectMembership.objects.filter(project=project).values_list("role", flat=True))
    assert roles == {ProjectRole.ANNOTATOR}


def test_existing_member_keeps_the_higher_role(make_invite, reviewer, project):
    invite, token = make_invite(role=ProjectRole.ANNOTATOR)
    response = client_for(reviewer).post(f"/join/{token}/?worker_id=R1")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/"
    membership = ProjectMembership.objects.get(user=reviewer, project=project)
    assert membership.role == ProjectRole.REVIEWER
    assert membership.external_worker_id == "R1"  # filled in, nothing else changed
    invite.refresh_from_db()
    assert invite.uses == 0  # nothing was granted, so no use is spent


def test_a_higher_link_raises_an_existing_members_role(make_invite, annotator, project):
    _, token = make_invite(role=ProjectRole.REVIEWER)
    client_for(annotator).post(f"/join/{token}/")
    assert ProjectMembership.objects.get(user=annotator, project=project).role == ProjectRole.REVIEWER


def test_org_staff_are_not_narrowed_by_a_link(make_invite, org_admin, project):
    invite, token = make_invite(role=ProjectRole.ANNOTATOR)
    response = client_for(org_admin).post(f"/join/{token}/")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/"
    assert not ProjectMembership.objects.filter(user=org_admin).exists()
    assert OrganizationMembership.objects.filter(user=org_admin).exists()


def test_a_suspended_annotator_stays_suspended(make_invite, annotator, project):
    membership = ProjectMembership.objects.get(user=annotator)
    membership.suspended_at = timezone.now()
    membership.save()
    _, token = make_invite(role=ProjectRole.ANNOTATOR)
    client_for(annotator).post(f"/join/{token}/")
    membership.refresh_from_db()
    assert membership.is_suspended


def test_password_guessing_through_the_join_form_is_throttled(make_invite, annotator, settings):
    settings.AXES_FAILURE_LIMIT = 3
    _, token = make_invite()
    client = Client(REMOTE_ADDR="10.1.2.3")
    statuses = [
        client.post(f"/join/{token}/", {"username": "annotator", "password": f"guess-number-{n}"}).status_code
        for n in range(4)
    ]
    assert statuses == [400, 400, 429, 429]  # locked at the limit, as on the sign-in page
    # Locked out even with the right password, like the sign-in page.
    assert client.post(f"/join/{token}/", {"username": "annotator", "password": PASSWORD}).status_code == 429
