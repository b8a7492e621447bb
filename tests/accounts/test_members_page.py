"""The project members page: members, roles, removal, invite links (htmx and plain posts)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.accounts.models import Invite, ProjectMembership, ProjectRole, hash_secret
from apps.accounts.services import invite_revoke
from tests.conftest import client_for
from tests.factories import ProjectFactory, ProjectMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def url(project, suffix: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/projects/{project.pk}/{suffix}"


def test_page_lists_members_staff_and_invites(owner, project, annotator, reviewer, make_invite, django_assert_max_num_queries):
    ProjectMembership.objects.filter(user=annotator).update(external_worker_id="PROLIFIC-1")
    make_invite()
    client = client_for(owner)
    with django_assert_max_num_queries(8):
        response = client.get(url(project, "members/"))
    assert response.status_code == 200
    body = response.content.decode()
    for text in ("annotator", "reviewer", "PROLIFIC-1", "owner", "Invite links", "/join/"):
        assert text in body
    assert response["Vary"].count("HX-Request") == 1


def test_page_query_count_does_not_grow_with_members(owner, project, make_invite, django_assert_max_num_queries):
    for _ in range(15):
        ProjectMembershipFactory(project=project)
        make_invite()
    client = client_for(owner)
    with django_assert_max_num_queries(8):
        assert client.get(url(project, "members/")).status_code == 200


def test_empty_states_say_what_to_do(owner, project):
    body = client_for(owner).get(url(project, "members/")).content.decode()
    assert "No one has joined yet" in body and "No invite links yet" in body


def test_org_admin_sees_the_link_to_organization_staff(org_admin, project, owner):
    body = client_for(org_admin).get(url(project, "members/")).content.decode()
    assert f"/organizations/{project.organization_id}/members/" in body
    assert f"/organizations/{project.organization_id}/members/" not in client_for(owner).get(url(project, "members/")).content.decode()


def test_anonymous_goes_to_sign_in(project):
    for response in (
        Client().get(url(project, "members/")),
        Client().post(url(project, "invites/"), {"role": "annotator"}),
        Client().post(url(project, "members/add/"), {"username": "x", "role": "annotator"}),
    ):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_outsider_gets_404_everywhere(outsider, project, annotator, make_invite):
    membership = ProjectMembership.objects.get(user=annotator)
    invite, _ = make_invite()
    client = client_for(outsider)
    assert client.get(url(project, "members/")).status_code == 404
    assert client.post(url(project, "invites/"), {"role": "manager"}).status_code == 404
    assert client.post(url(project, f"members/{membership.pk}/role/"), {"role": "manager"}).status_code == 404
    assert client.post(url(project, f"members/{membership.pk}/remove/")).status_code == 404
    assert client.post(url(project, f"invites/{invite.pk}/revoke/")).status_code == 404
    assert client.post(url(project, "members/add/"), {"username": "outsider", "role": "manager"}).status_code == 404
    assert Invite.objects.count() == 1 and ProjectMembership.objects.get(pk=membership.pk).role == "annotator"


def test_annotators_and_reviewers_may_not_manage(annotator, reviewer, project):
    for user in (annotator, reviewer):
        client = client_for(user)
        assert client.get(url(project, "members/")).status_code == 403
        assert client.post(url(project, "invites/"), {"role": "annotator"}).status_code == 403
        assert client.post(url(project, "invites/"), {"role": "manager"}).status_code == 403
    assert not Invite.objects.exists()


def test_ids_from_another_project_are_404(owner, project, other_project):
    stranger = ProjectMembershipFactory(project=other_project)
    response = client_for(owner).post(url(project, f"members/{stranger.pk}/remove/"))
    assert response.status_code == 404
    assert ProjectMembership.objects.filter(pk=stranger.pk).exists()


def test_wrong_methods(owner, project, annotator):
    membership = ProjectMembership.objects.get(user=annotator)
    client = client_for(owner)
    assert client.post(url(project, "members/")).status_code == 405
    assert client.get(url(project, "invites/")).status_code == 405
    assert client.get(url(project, f"members/{membership.pk}/role/")).status_code == 405
    assert client.get(url(project, f"members/{membership.pk}/remove/")).status_code == 405
    assert client.get(url(project, "members/add/")).status_code == 405


# --- invites ------------------------------------------------------------------------------


def test_create_invite_with_htmx_shows_the_link_once(owner, project):
    client = client_for(owner)
    response = client.post(
        url(project, "invites/"), {"role": "annotator", "expires_in_days": "7", "max_uses": "50", "label": "batch 1"}, **HX
    )
    assert response.status_code == 201
    body = response.content.decode()
    assert "<html" not in body and 'id="invites"' in body
    link = re.search(r'value="(http://testserver/join/([^/"]+)/)"', body)
    assert link
    invite = Invite.objects.get()
    assert invite.token_hash == hash_secret(link.group(2)) and invite.max_uses == 50 and invite.label == "batch 1"
    assert invite.expires_at is not None and invite.created_by == owner
    assert link.group(2) not in client.get(url(project, "members/")).content.decode()
    assert Client().get(f"/join/{link.group(2)}/").status_code == 200


def test_create_invite_without_htmx_renders_the_full_page(owner, project):
    response = client_for(owner).post(url(project, "invites/"), {"role": "reviewer", "expires_in_days": ""})
    assert response.status_code == 200 and "<html" in response.content.decode()
    assert Invite.objects.get().expires_at is None


@pytest.mark.parametrize(
    "data, message",
    [
        ({"role": "owner"}, "Select a valid choice"),
        ({"role": "annotator", "max_uses": "0"}, "greater than or equal to 1"),
        ({"role": "annotator", "max_uses": "lots"}, "Enter a whole number"),
        ({"role": "annotator", "expires_in_days": "3650"}, "Select a valid choice"),
    ],
)
def test_create_invite_bad_input_is_named(owner, project, data, message):
    response = client_for(owner).post(url(project, "invites/"), data, **HX)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Invite.objects.exists()


def test_revoke_invite(owner, project, make_invite):
    invite, token = make_invite()
    response = client_for(owner).post(url(project, f"invites/{invite.pk}/revoke/"), **HX)
    assert response.status_code == 200 and "revoked" in response.content.decode()
    invite.refresh_from_db()
    assert invite.status == "revoked"
    assert Client().get(f"/join/{token}/").status_code == 410


def test_revoke_without_htmx_redirects(owner, project, make_invite):
    invite, _ = make_invite()
    response = client_for(owner).post(url(project, f"invites/{invite.pk}/revoke/"))
    assert response.status_code == 302 and response["Location"] == url(project, "members/")


def test_revoked_invites_have_no_revoke_button(owner, project, make_invite):
    invite, _ = make_invite()
    invite_revoke(invite=invite, actor=owner)
    body = client_for(owner).get(url(project, "members/")).content.decode()
    assert f"invites/{invite.pk}/revoke/" not in body and "revoked" in body


# --- members ------------------------------------------------------------------------------


def test_change_role_with_htmx(owner, project, annotator):
    membership = ProjectMembership.objects.get(user=annotator)
    response = client_for(owner).post(url(project, f"members/{membership.pk}/role/"), {"role": "reviewer"}, **HX)
    assert response.status_code == 200
    assert "annotator is now reviewer" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == ProjectRole.REVIEWER


def test_change_role_bad_input(owner, project, annotator):
    membership = ProjectMembership.objects.get(user=annotator)
    response = client_for(owner).post(url(project, f"members/{membership.pk}/role/"), {"role": "god"}, **HX)
    assert response.status_code == 400 and "Role must be one of" in response.content.decode()


def test_project_manager_cannot_change_own_role(project):
    manager = UserFactory(username="pm")
    membership = ProjectMembershipFactory(project=project, user=manager, role=ProjectRole.MANAGER)
    response = client_for(manager).post(url(project, f"members/{membership.pk}/role/"), {"role": "annotator"}, **HX)
    assert response.status_code == 400 and "cannot change your own role" in response.content.decode()


def test_project_manager_can_invite_managers(project):
    manager = UserFactory(username="pm")
    ProjectMembershipFactory(project=project, user=manager, role=ProjectRole.MANAGER)
    assert client_for(manager).post(url(project, "invites/"), {"role": "manager"}, **HX).status_code == 201


def test_remove_member(owner, project, annotator):
    membership = ProjectMembership.objects.get(user=annotator)
    response = client_for(owner).post(url(project, f"members/{membership.pk}/remove/"))
    assert response.status_code == 302
    assert not ProjectMembership.objects.filter(pk=membership.pk).exists()
    assert client_for(annotator).get(f"/api/v1/projects/{project.pk}/members/").status_code == 404


def test_add_member_from_the_organization(owner, project):
    colleague = UserFactory(username="colleague")
    ProjectMembershipFactory(project=ProjectFactory(organization=project.organization), user=colleague)
    response = client_for(owner).post(url(project, "members/add/"), {"username": "colleague", "role": "reviewer"}, **HX)
    assert response.status_code == 200 and "Added colleague as reviewer" in response.content.decode()
    assert ProjectMembership.objects.get(project=project, user=colleague).role == ProjectRole.REVIEWER


def test_add_member_refuses_people_from_other_organizations(owner, project, outsider):
    response = client_for(owner).post(url(project, "members/add/"), {"username": "outsider", "role": "annotator"}, **HX)
    assert response.status_code == 400
    assert "No one named &#x27;outsider&#x27; belongs to this organization" in response.content.decode()
    assert not ProjectMembership.objects.filter(user=outsider).exists()
