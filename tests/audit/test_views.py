"""The organization audit page and API: admins only, allowlisted filters."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from tests.conftest import api_client_for, client_for
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(org, owner, project, annotator, outsider, other_project):  # type: ignore[no-untyped-def]
    audit_record(actor=owner, action="project.schema_changed", target=project, project=project)
    audit_record(actor=owner, action="membership.role_changed", project=project, subject_user=annotator,
                 detail={"from": "annotator", "to": "reviewer"})
    audit_record(actor=annotator, action="auth.login", target=annotator, subject_user=annotator)
    audit_record(actor=None, actor_label="annotator", action="auth.login_failed", subject_user=annotator)
    # Another tenant's events, and sign-ins of a stranger: never shown to org X.
    audit_record(actor=outsider, action="project.schema_changed", target=other_project, project=other_project)
    audit_record(actor=outsider, action="auth.login", target=outsider, subject_user=outsider)
    old = audit_record(actor=owner, action="export.created", project=project)
    return old


def results(response) -> str:  # type: ignore[no-untyped-def]
    """The results section only (the filter form lists every action name too)."""
    return response.content.decode().split('id="audit-results"', 1)[1]


def page(org, query: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/organizations/{org.pk}/audit/{query}"


def api(org, query: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/organizations/{org.pk}/audit/{query}"


def test_an_org_admin_reads_their_organizations_log(org, org_admin, events):
    response = client_for(org_admin).get(page(org))
    assert response.status_code == 200
    html = results(response)
    for text in ("Questions changed", "Role changed", "Signed in", "Failed sign-in", "Export created"):
        assert text in html
    assert "Project of Y" not in html and "outsider" not in html


def test_only_org_admins_see_it(org, owner, annotator, outsider, other_org):
    assert client_for(owner).get(page(org)).status_code == 404  # a researcher of the org
    assert client_for(annotator).get(page(org)).status_code == 404
    assert client_for(outsider).get(page(org)).status_code == 404
    assert client_for(outsider).get(page(other_org)).status_code == 404  # researcher, not admin
    assert Client().get(page(org)).status_code == 302
    assert api_client_for(owner).get(api(org)).status_code == 404
    assert Client().get(api(org)).status_code in (401, 403)


def test_filters_on_the_page(org, org_admin, events, annotator):
    client = client_for(org_admin)
    html = results(client.get(page(org, "?action=auth")))
    assert "Signed in" in html and "Failed sign-in" in html and "Questions changed" not in html
    html = results(client.get(page(org, "?actor=OWNER")))
    assert "Questions changed" in html and "Signed in" not in html
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    html = client.get(page(org, f"?since={tomorrow}")).content.decode()
    assert "No event matches these filters" in html


def test_bad_filters_get_named_errors(org, org_admin, events):
    client = client_for(org_admin)
    response = client.get(page(org, "?action=actor__is_superuser"))
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    response = client.get(page(org, "?since=2026-02-02&until=2026-01-01"))
    assert response.status_code == 400 and "The end date is before the start date" in response.content.decode()


def test_the_api_lists_events_newest_first(org, org_admin, events):
    response = api_client_for(org_admin).get(api(org))
    assert response.status_code == 200
    body = response.json()
    actions = [row["action"] for row in body["results"]]
    assert actions == ["export.created", "auth.login_failed", "auth.login", "membership.role_changed",
                       "project.schema_changed"]
    first = body["results"][-1]
    assert first["actor"] == {"id": events.actor_id, "username": "owner"}
    assert first["object"]["type"] == "projects.project" and first["action_label"] == "Questions changed"


def test_the_api_filters_are_an_allowlist(org, org_admin, events, project):
    client = api_client_for(org_admin)
    assert [r["action"] for r in client.get(api(org, "?action=membership.role_changed")).json()["results"]] == [
        "membership.role_changed"
    ]
    assert len(client.get(api(org, f"?project={project.pk}&actor=owner")).json()["results"]) == 3
    for query, code in (
        ("?actor__is_superuser=true", "unknown_filter"),
        ("?ordering=-actor__password", "unknown_filter"),
        ("?action=nope", "invalid_filter"),
        ("?since=yesterday", "invalid_filter"),
        ("?since=2026-02-02&until=2026-01-01", "invalid_filter"),
    ):
        response = client.get(api(org, query))
        assert response.status_code == 400, query
        assert response.json()["error"]["code"] == code, query


def test_the_api_answers_wrong_methods(org, org_admin):
    assert api_client_for(org_admin).post(api(org), {}).status_code == 405
    assert api_client_for(org_admin).delete(api(org)).status_code == 405


def test_events_of_a_project_moved_between_orgs_stay_with_the_org_they_happened_in(org, org_admin, other_org, owner):
    project = ProjectFactory(organization=org)
    audit_record(actor=owner, action="project.created", target=project, project=project)
    project.organization = other_org
    project.save()
    assert AuditEvent.objects.get(action="project.created").organization_id == org.pk
    assert "Project created" in client_for(org_admin).get(page(org)).content.decode()
