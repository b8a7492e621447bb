"""The researcher's privacy page and API: managers only, policy changes audited, rescans."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.core.models import JobStatus
from apps.privacy.models import PiiScanJob
from apps.privacy.services import pii_scan_items
from apps.projects.models import PiiPolicy
from tests.conftest import api_client_for, client_for
from tests.factories import make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def scanned(project):  # type: ignore[no-untyped-def]
    with_pii = make_item(project, responses=1, prompt_text="Contact jane.roe@example.org or 4111 1111 1111 1111")
    clean = make_item(project, responses=1, prompt_text="Explain photosynthesis.")
    pii_scan_items(item_ids=[with_pii.pk, clean.pk])
    return with_pii, clean


def url(project, suffix: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/projects/{project.pk}/privacy/{suffix}"


def test_it_lists_items_with_pii_redacted_and_counts_by_type(owner, project, scanned):
    with_pii, clean = scanned
    response = client_for(owner).get(url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"#{with_pii.pk}" in html and f"#{clean.pk}" not in html
    assert "Contact [EMAIL] or [CREDIT_CARD]" in html
    assert "jane.roe@example.org" not in html
    assert "Email address" in html and "Card number" in html
    assert "<strong>1</strong> of 2 items" in html
    assert re.search(r'value="redact"[^>]*checked', html)


def test_it_filters_by_an_allowlisted_type_and_ignores_others(owner, project, scanned):
    client = client_for(owner)
    assert f"#{scanned[0].pk}" in client.get(url(project) + "?type=EMAIL").content.decode()
    assert "No item contains personal data of this type" in client.get(url(project) + "?type=IBAN").content.decode()
    # Not a type: ignored, never used as a lookup.
    response = client.get(url(project) + "?type=prompt__text__icontains")
    assert response.status_code == 200 and f"#{scanned[0].pk}" in response.content.decode()


def test_an_empty_project_explains_what_to_do(owner, project):
    html = client_for(owner).get(url(project)).content.decode()
    assert "This project has no items yet" in html and "/imports/new/" in html


def test_only_managers_see_it(project, annotator, reviewer, outsider, org_admin):
    assert client_for(annotator).get(url(project)).status_code == 403
    assert client_for(reviewer).get(url(project)).status_code == 403
    assert client_for(outsider).get(url(project)).status_code == 404
    assert client_for(org_admin).get(url(project)).status_code == 200
    anonymous = Client().get(url(project))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_wrong_methods(owner, project):
    client = client_for(owner)
    assert client.post(url(project)).status_code == 405
    assert client.get(url(project, "policy/")).status_code == 405
    assert client.put(url(project, "scan/")).status_code == 405


def test_changing_the_policy_is_saved_and_audited(owner, project):
    response = client_for(owner).post(url(project, "policy/"), {"pii_policy": "exclude"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.pii_policy == PiiPolicy.EXCLUDE
    event = AuditEvent.objects.get(action="project.pii_policy_changed")
    assert (event.actor_id, event.project_id, event.organization_id) == (owner.pk, project.pk, project.organization_id)
    assert event.detail == {"from": "redact", "to": "exclude"}


def test_the_htmx_policy_form_answers_its_partial(owner, project):
    response = client_for(owner).post(url(project, "policy/"), {"pii_policy": "show"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="policy-card"') and "Policy saved" in html


def test_a_bad_policy_is_refused_with_a_message(owner, project):
    response = client_for(owner).post(url(project, "policy/"), {"pii_policy": "publish"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    project.refresh_from_db()
    assert project.pii_policy == PiiPolicy.REDACT


def test_annotators_cannot_change_the_policy(project, annotator, outsider):
    assert client_for(annotator).post(url(project, "policy/"), {"pii_policy": "show"}).status_code == 403
    assert client_for(outsider).post(url(project, "policy/"), {"pii_policy": "show"}).status_code == 404
    project.refresh_from_db()
    assert project.pii_policy == PiiPolicy.REDACT


def test_starting_a_scan_creates_one_job_and_shows_progress(owner, project, scanned, django_capture_on_commit_callbacks):
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url(project, "scan/"), HTTP_HX_REQUEST="true")
        client.post(url(project, "scan/"), HTTP_HX_REQUEST="true")  # a second click joins the first
    assert response.status_code == 200
    assert len(callbacks) == 1
    job = PiiScanJob.objects.get(project=project)
    assert (job.status, job.total_items) == (JobStatus.QUEUED, 2)
    html = response.content.decode()
    assert "Scanning: 0 of 2 items" in html and 'hx-trigger="every 2s"' in html
    assert AuditEvent.objects.filter(action="privacy.scan_started", project=project).count() == 1


def test_the_api_summary(owner, project, scanned, annotator, outsider):
    response = api_client_for(owner).get(f"/api/v1/projects/{project.pk}/privacy/")
    assert response.status_code == 200
    body = response.json()
    assert body["policy"] == "redact"
    assert (body["items_total"], body["items_with_pii"]) == (2, 1)
    assert {row["type"]: row["count"] for row in body["by_type"]} == {"EMAIL": 1, "CREDIT_CARD": 1}
    assert body["latest_scan"] is None
    assert api_client_for(annotator).get(f"/api/v1/projects/{project.pk}/privacy/").status_code == 403
    missing = api_client_for(outsider).get(f"/api/v1/projects/{project.pk}/privacy/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api_client_for(owner).post(f"/api/v1/projects/{project.pk}/privacy/").status_code == 405


def test_the_api_starts_a_scan(owner, project, scanned, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client_for(owner).post(f"/api/v1/projects/{project.pk}/privacy/scans/")
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and response.json()["total_items"] == 2
    assert Client().post(f"/api/v1/projects/{project.pk}/privacy/scans/").status_code in (401, 403)
