"""Fixtures for the security tests: a project with an item, and URL values for every route."""

from __future__ import annotations

import pytest

from apps.accounts.models import ProjectMembership, ProjectRole
from tests.factories import ProjectMembershipFactory, UserFactory, make_item


@pytest.fixture(autouse=True)
def _fast_passwords(settings):  # type: ignore[no-untyped-def]
    # Seven personas per test: a slow password hash would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def annotator_b(other_project):  # type: ignore[no-untyped-def]
    """An annotator of the other tenant's project (project B, organization Y)."""
    user = UserFactory(username="annotator_b")
    ProjectMembershipFactory(project=other_project, user=user, role=ProjectRole.ANNOTATOR)
    return user


@pytest.fixture
def url_values(org, project, annotator):  # type: ignore[no-untyped-def]
    """Values for the URL parameters of project A in organization X (ids that exist)."""
    item = make_item(project, responses=2)
    membership = ProjectMembership.objects.get(project=project, user=annotator)
    return {
        "project_id": project.pk,
        "organization_id": org.pk,
        "org_id": org.pk,
        "item_id": item.pk,
        "membership_id": membership.pk,
        "user_id": annotator.pk,
        "version": 1,
    }
