"""/organizations/<id>/members/: organization admins manage researchers and admins."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.accounts.models import OrganizationMembership, OrgRole, User
from tests.conftest import client_for
from tests.factories import ProjectFactory, ProjectMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def url(org, suffix: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/organizations/{org.pk}/members/{suffix}"


def test_admin_sees_staff(org_admin, owner, org):
    response = client_for(org_admin).get(url(org))
    assert response.status_code == 200
    body = response.content.decode()
    assert "owner" in body and "orgadmin" in body and "Staff of Org X" in body


def test_everyone_else_gets_404(owner, annotator, outsider, org, other_org):
    for user in (owner, annotator, outsider):
        assert client_for(user).get(url(org)).status_code == 404
        assert client_for(user).post(url(org), {"username": "x1x", "role": "admin"}).status_code == 404
    membership = OrganizationMembership.objects.get(user=owner)
    assert client_for(outsider).post(url(org, f"{membership.pk}/role/"), {"role": "admin"}).status_code == 404
    assert client_for(owner).post(url(org, f"{membership.pk}/role/"), {"role": "admin"}).status_code == 404
    assert OrganizationMembership.objects.get(pk=membership.pk).role == OrgRole.RESEARCHER


def test_admin_of_one_org_cannot_touch_another(org_admin, outsider, other_org):
    membership = OrganizationMembership.objects.get(user=outsider)
    assert client_for(org_admin).get(url(other_org)).status_code == 404
    assert client_for(org_admin).post(url(other_org, f"{membership.pk}/remove/")).status_code == 404


def test_anonymous_goes_to_sign_in(org):
    response = Client().get(url(org))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_wrong_methods(org_admin, owner, org):
    membership = OrganizationMembership.objects.get(user=owner)
    client = client_for(org_admin)
    assert client.put(url(org)).status_code == 405
    assert client.get(url(org, f"{membership.pk}/role/")).status_code == 405
    assert client.get(url(org, f"{membership.pk}/remove/")).status_code == 405


def test_add_creates_an_account_and_shows_the_password_once(org_admin, org):
    response = client_for(org_admin).post(url(org), {"username": "newbie", "email": "n@example.org", "role": "researcher"}, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    password = re.search(r'id="new-password"', body) and re.search(r'value="([^"]+)" id="new-password"', body).group(1)
    user = User.objects.get(username="newbie")
    assert user.check_password(password) and user.email == "n@example.org"
    assert OrganizationMembership.objects.get(user=user, organization=org).role == OrgRole.RESEARCHER
    assert password not in client_for(org_admin).get(url(org)).content.decode()
    assert Client().post("/accounts/login/", {"username": "newbie", "password": password}).status_code == 302


def test_add_an_existing_project_member(org_admin, org, project):
    worker = UserFactory(username="promoted")
    ProjectMembershipFactory(project=project, user=worker)
    response = client_for(org_admin).post(url(org), {"username": "promoted", "role": "admin"})
    assert response.status_code == 302  # no secret to show: post/redirect/get
    assert OrganizationMembership.objects.get(user=worker).role == OrgRole.ADMIN


def test_add_errors_are_named(org_admin, org, owner, outsider):
    client = client_for(org_admin)
    cases = [
        ({"username": "owner", "role": "researcher"}, "already in this organization"),
        ({"username": "outsider", "role": "researcher"}, "That username is taken"),
        ({"username": "x y", "role": "researcher"}, "Usernames are 3–40 characters"),
        ({"username": "fresh", "role": "king"}, "Select a valid choice"),
        ({"username": "fresh", "role": "researcher", "email": "nope"}, "Enter a valid email address"),
    ]
    for data, message in cases:
        response = client.post(url(org), data, **HX)
        assert response.status_code == 400, data
        assert message in response.content.decode(), data
    assert not OrganizationMembership.objects.filter(user=outsider, organization=org).exists()
    assert not User.objects.filter(username="fresh").exists()


def test_change_role_and_remove(org_admin, owner, org):
    membership = OrganizationMembership.objects.get(user=owner)
    client = client_for(org_admin)
    response = client.post(url(org, f"{membership.pk}/role/"), {"role": "admin"}, **HX)
    assert response.status_code == 200 and "owner is now organization admin" in response.content.decode()
    assert client.post(url(org, f"{membership.pk}/remove/")).status_code == 302
    assert not OrganizationMembership.objects.filter(pk=membership.pk).exists()


def test_the_last_admin_stays(org_admin, org):
    membership = OrganizationMembership.objects.get(user=org_admin)
    client = client_for(org_admin)
    response = client.post(url(org, f"{membership.pk}/role/"), {"role": "researcher"}, **HX)
    assert response.status_code == 400 and "at least one admin" in response.content.decode()
    response = client.post(url(org, f"{membership.pk}/remove/"), **HX)
    assert response.status_code == 400
    assert OrganizationMembership.objects.get(pk=membership.pk).role == OrgRole.ADMIN


def test_new_researcher_manages_the_orgs_projects(org_admin, org):
    project = ProjectFactory(organization=org)
    client_for(org_admin).post(url(org), {"username": "scientist", "role": "researcher"})
    scientist = User.objects.get(username="scientist")
    assert client_for(scientist).get(f"/projects/{project.pk}/members/").status_code == 200
