"""Annotator wellbeing: harmful-content count, taking a break (pause / resume), opting out."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.annotations.errors import QueuePaused
from apps.annotations.models import Assignment, AssignmentStatus, Skip, WorkspacePreference
from apps.annotations.services import lease_next_item, queue_pause
from apps.items.models import Item
from tests.annotations.conftest import add_annotator, items
from tests.conftest import api_client_for, client_for

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def page(project) -> str:  # type: ignore[no-untyped-def]
    return f"/projects/{project.pk}/annotate/"


def api(project, action: str) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/{action}/"


def test_harmful_count_is_shown_with_and_without_a_cap(rating_project, member):
    items(rating_project, 2, is_harmful=True, required_annotations=1)
    items(rating_project, 1)
    rating_project.harmful_exposure_cap = 20
    rating_project.save()
    client = client_for(member)
    response = client.get(page(rating_project))
    assert b"Harmful content today: <strong>1</strong> of 20" in response.content
    # Finishing the item and leasing the next harmful one raises the count.
    Assignment.objects.filter(annotator=member).update(status=AssignmentStatus.SKIPPED)
    response = client.post(page(rating_project) + "next/", **HX)
    assert b"Harmful content today: <strong>2</strong> of 20" in response.content

    rating_project.harmful_exposure_cap = None
    rating_project.save()
    response = client.get(page(rating_project))
    assert b"Harmful content today: <strong>2</strong></span>" in response.content


def test_harmful_count_costs_no_extra_query(rating_project, member):
    items(rating_project, 1, is_harmful=True)
    client = client_for(member)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(page(rating_project) + "next/", **HX)
    assert b"Harmful content today: <strong>1</strong>" in response.content
    # The count comes from the leasing statement, not from an ORM query of its own.
    assert not [q for q in queries.captured_queries if '"annotations_assignment"."is_harmful"' in q["sql"]]


def test_no_harmful_count_when_the_project_has_no_cap_and_none_were_seen(rating_project, member):
    items(rating_project, 1)
    assert b"Harmful content today" not in client_for(member).get(page(rating_project)).content


def test_pause_releases_the_lease_survives_reload_and_resume_leases_again(rating_project, member):
    item, second = items(rating_project, 2, required_annotations=1)
    client = client_for(member)
    assert b'id="ws-item"' in client.get(page(rating_project)).content
    assignment = Assignment.objects.get(annotator=member)
    assert assignment.item_id == item.pk
    item.refresh_from_db()
    assert item.active_count == 1

    response = client.post(page(rating_project) + "pause/", **HX)
    assert response.status_code == 200
    assert b'data-no-work="paused"' in response.content and b"Resume" in response.content
    assignment.refresh_from_db()
    item.refresh_from_db()
    assert assignment.status == AssignmentStatus.EXPIRED and item.active_count == 0
    assert not Skip.objects.exists()  # a break is not a skip
    assert WorkspacePreference.objects.get(annotator=member, project=rating_project).paused_at is not None

    # Another annotator gets the released item.
    other = add_annotator(rating_project, guidelines_seen_version=1)
    assert lease_next_item(other, rating_project).item_id == item.pk

    # A reload keeps the break; asking for the next item hands out nothing.
    assert b'data-no-work="paused"' in client.get(page(rating_project)).content
    assert b'data-no-work="paused"' in client.post(page(rating_project) + "next/", **HX).content
    with pytest.raises(QueuePaused):
        lease_next_item(member, rating_project)
    assert Assignment.objects.filter(annotator=member).count() == 1

    response = client.post(page(rating_project) + "resume/", **HX)
    assert b'id="ws-item"' in response.content
    assert WorkspacePreference.objects.get(annotator=member, project=rating_project).paused_at is None
    assert Assignment.objects.get(annotator=member, status=AssignmentStatus.LIVE).item_id == second.pk


def test_pause_keeps_the_opt_out_and_plain_posts_redirect(rating_project, member):
    items(rating_project, 1)
    WorkspacePreference.objects.create(project=rating_project, annotator=member, harmful_opt_out=True)
    client = client_for(member)
    response = client.post(page(rating_project) + "pause/")
    assert response.status_code == 302 and response["Location"] == page(rating_project)
    preference = WorkspacePreference.objects.get(annotator=member)
    assert preference.harmful_opt_out and preference.paused_at is not None
    assert client.post(page(rating_project) + "resume/").status_code == 302
    assert client.get(page(rating_project) + "pause/").status_code == 405


def test_pause_and_resume_pages_refuse_anonymous_and_outsiders(rating_project, outsider):
    for action in ("pause", "resume"):
        response = Client().post(page(rating_project) + f"{action}/")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        assert client_for(outsider).post(page(rating_project) + f"{action}/", **HX).status_code == 404


def test_api_pause_next_resume(rating_project, member):
    item, _ = items(rating_project, 2, required_annotations=1)
    client = api_client_for(member)
    assert client.post(api(rating_project, "next")).status_code == 200

    response = client.post(api(rating_project, "pause"))
    assert response.status_code == 200 and response.json() == {"paused": True, "released": 1}
    item.refresh_from_db()
    assert item.active_count == 0
    # Pausing again is harmless: nothing left to release.
    assert client.post(api(rating_project, "pause")).json() == {"paused": True, "released": 0}

    response = client.post(api(rating_project, "next"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "paused"

    response = client.post(api(rating_project, "resume"))
    assert response.status_code == 200 and response.json() == {"paused": False}
    response = client.post(api(rating_project, "next"))
    assert response.status_code == 200 and response.json()["item"]["id"] != item.pk


def test_api_pause_errors(rating_project, member, outsider):
    from rest_framework.test import APIClient

    for action in ("pause", "resume"):
        assert APIClient().post(api(rating_project, action)).status_code in (401, 403)
        assert api_client_for(outsider).post(api(rating_project, action)).status_code == 404
        assert api_client_for(member).get(api(rating_project, action)).status_code == 405
        assert api_client_for(member).post(f"/api/v1/projects/999999/{action}/").status_code == 404


def test_pause_only_touches_the_callers_own_queue(rating_project, member):
    items(rating_project, 2)
    other = add_annotator(rating_project, guidelines_seen_version=1)
    mine = lease_next_item(member, rating_project)
    theirs = lease_next_item(other, rating_project)
    assert queue_pause(annotator=member, project=rating_project) == 1
    assert Assignment.objects.get(pk=mine.pk).status == AssignmentStatus.EXPIRED
    assert Assignment.objects.get(pk=theirs.pk).status == AssignmentStatus.LIVE
    assert lease_next_item(other, rating_project).pk == theirs.pk


def test_opt_out_toggle_is_shown_when_allowed_and_hides_harmful_items(rating_project, member):
    harmful = items(rating_project, 1, is_harmful=True, priority=10)[0]
    plain = items(rating_project, 1)[0]
    client = client_for(member)
    assert b"Do not show me items marked as possibly harmful" not in client.get(page(rating_project)).content
    Assignment.objects.all().delete()
    Item.objects.update(active_count=0)

    rating_project.allow_harmful_opt_out = True
    rating_project.save()
    response = client.post(page(rating_project) + "preferences/", {"harmful_opt_out": "1"})
    assert response.status_code == 302
    response = client.get(page(rating_project))
    assert b"Show me items marked as possibly harmful again" in response.content
    assert Assignment.objects.get(annotator=member).item_id == plain.pk
    assert not Assignment.objects.filter(item=harmful).exists()
