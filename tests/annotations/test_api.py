"""The annotation API: every endpoint works, refuses the wrong method, anonymous callers,
outsiders and other annotators, and names bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.annotations.api import AnnotationThrottle
from apps.annotations.models import Annotation, Assignment, AssignmentStatus, Draft, Flag, Skip
from apps.annotations.services import lease_next_item, leases_expire
from apps.items.models import Item
from tests.annotations.conftest import add_annotator, items
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def lease(rating_project, member):  # type: ignore[no-untyped-def]
    items(rating_project, 2)
    return lease_next_item(member, rating_project)


def url(assignment: Assignment, action: str) -> str:
    return f"/api/v1/assignments/{assignment.pk}/{action}/"


ENDPOINTS = [("post", "submit"), ("post", "skip"), ("post", "flag"), ("post", "heartbeat"), ("put", "draft")]


def test_next_leases_and_hides_what_annotators_must_not_see(rating_project, member):
    (item,) = items(rating_project, 1, responses=2, is_gold=True, gold_answers={"overall": 5}, metadata={"model": "x"})
    rating_project.gold_ratio = 1.0
    rating_project.save()
    response = api_client_for(member).post(f"/api/v1/projects/{rating_project.pk}/next/")
    assert response.status_code == 200
    body = response.json()
    assert body["item"]["id"] == item.pk
    assert [r["label"] for r in body["item"]["responses"]] == ["A", "B"]
    assert body["assignment"]["urls"]["submit"] == f"/api/v1/assignments/{body['assignment']['id']}/submit/"
    assert body["questions"][0]["id"] == "overall"
    text = response.content.decode()
    for secret in ("gold", "model-a", "model-b", '"model"', "metadata"):
        assert secret not in text
    assert "previous_answers" not in body  # blind mode


def test_next_answers_204_when_no_work_is_left(rating_project, member):
    assert api_client_for(member).post(f"/api/v1/projects/{rating_project.pk}/next/").status_code == 204


def test_next_refuses_wrong_method_anonymous_outsider_and_suspended(rating_project, member, outsider, other_project):
    items(rating_project, 1)
    path = f"/api/v1/projects/{rating_project.pk}/next/"
    assert api_client_for(member).get(path).status_code == 405
    assert APIClient().post(path).status_code == 401
    assert api_client_for(outsider).post(path).status_code == 404
    assert api_client_for(member).post(f"/api/v1/projects/{other_project.pk}/next/").status_code == 404
    suspended = add_annotator(rating_project, suspended_at=timezone.now())
    response = api_client_for(suspended).post(path)
    assert response.status_code == 403 and response.json()["error"]["code"] == "annotator_suspended"
    assert not Assignment.objects.exists()


def test_non_blind_projects_show_earlier_answers_but_never_on_gold(rating_project, member):
    rating_project.blind_mode = False
    rating_project.save()
    items(rating_project, 1, required_annotations=3)
    first = add_annotator(rating_project)
    api_client_for(first).post(
        url(lease_next_item(first, rating_project), "submit"), {"answers": {"overall": 2}}, format="json"
    )
    body = api_client_for(member).post(f"/api/v1/projects/{rating_project.pk}/next/").json()
    assert body["previous_answers"] == [{"label": "Annotator 1", "answers": {"overall": 2}}]
    Item.objects.update(is_gold=True)
    Assignment.objects.filter(annotator=member).update(is_gold=True)
    body = api_client_for(member).post(f"/api/v1/projects/{rating_project.pk}/next/").json()
    assert body["previous_answers"] == []


def test_the_next_item_path_runs_a_fixed_handful_of_queries(rating_project, member):
    """Pinned: the count must not grow with the project (10 vs 200 items, half done)."""
    path = f"/api/v1/projects/{rating_project.pk}/next/"
    client = api_client_for(member)
    counts = []
    for size in (10, 200):
        items(rating_project, size)
        for assignment_id in Assignment.objects.filter(annotator=member).values_list("id", flat=True):
            Assignment.objects.filter(pk=assignment_id).update(status=AssignmentStatus.SKIPPED)
        with CaptureQueriesContext(connection) as new_lease:
            assert client.post(path).status_code == 200
        with CaptureQueriesContext(connection) as resumed:
            assert client.post(path).status_code == 200
        counts.append((len(new_lease), len(resumed)))
    # Access (the project with the caller's role, one statement), the savepoint pair of the
    # test's transaction, advisory lock, stats, one claim-and-record statement (or, resuming,
    # one UPDATE … RETURNING of the live lease), item content: 7 either way.
    assert counts == [(7, 7), (7, 7)], [q["sql"][:80] for q in new_lease.captured_queries]


def test_submit_works_and_replays(lease, member):
    client = api_client_for(member)
    first = client.post(url(lease, "submit"), {"answers": {"overall": 4}}, format="json", HTTP_IDEMPOTENCY_KEY="a1")
    assert first.status_code == 201
    body = first.json()
    assert body["outcome"] == "accepted" and body["counted"] is True and body["annotation"]["answers"] == {"overall": 4}
    replay = client.post(url(lease, "submit"), {"answers": {"overall": 4}}, format="json", HTTP_IDEMPOTENCY_KEY="a1")
    assert replay.status_code == 201 and replay.json() == body and replay["Idempotent-Replayed"] == "true"
    conflict = client.post(url(lease, "submit"), {"answers": {"overall": 1}}, format="json", HTTP_IDEMPOTENCY_KEY="a1")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    assert Annotation.objects.count() == 1


def test_submit_names_each_bad_field(lease, member):
    client = api_client_for(member)
    response = client.post(url(lease, "submit"), {"answers": {"overall": 7}}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_answers" and error["details"] == {"overall": "must be a whole number from 1 to 5"}
    assert client.post(url(lease, "submit"), {"answers": {}}, format="json").json()["error"]["details"] == {
        "overall": "this question needs an answer"
    }
    missing = client.post(url(lease, "submit"), {}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["details"] == {"answers": "is required"}
    negative = client.post(url(lease, "submit"), {"answers": {"overall": 3}, "time_spent_ms": -5}, format="json")
    assert negative.status_code == 400 and "time_spent_ms" in negative.json()["error"]["details"]
    not_json = client.post(url(lease, "submit"), "nope", content_type="application/json")
    assert not_json.status_code == 400
    assert not Annotation.objects.exists()


def test_late_submission_over_the_api_says_whether_it_counted(rating_project, member):
    items(rating_project, 1, required_annotations=1)
    stale = lease_next_item(member, rating_project, now=timezone.now() - timedelta(hours=1))
    leases_expire()
    heartbeat = api_client_for(member).post(url(stale, "heartbeat"))
    assert heartbeat.status_code == 409
    error = heartbeat.json()["error"]
    assert error["code"] == "lease_expired" and "still_needed" in error["details"]
    assert "still needs an answer" in error["message"]
    other = add_annotator(rating_project)
    api_client_for(other).post(url(lease_next_item(other, rating_project), "submit"), {"answers": {"overall": 1}}, format="json")
    response = api_client_for(member).post(url(stale, "submit"), {"answers": {"overall": 5}}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["outcome"] == "surplus" and body["counted"] is False
    assert "kept for the researcher" in body["message"]


def test_draft_skip_flag_and_heartbeat_work(rating_project, member):
    items(rating_project, 3)
    client = api_client_for(member)
    first = lease_next_item(member, rating_project)
    saved = client.put(url(first, "draft"), {"answers": {"overall": 2}, "active_ms": 1500}, format="json")
    assert saved.status_code == 200 and Draft.objects.get().answers == {"overall": 2}
    assert client.put(url(first, "draft"), {"answers": [1]}, format="json").status_code == 400
    assert client.post(url(first, "heartbeat")).status_code == 200
    assert client.get(f"/api/v1/assignments/{first.pk}/").json()["draft"]["answers"] == {"overall": 2}
    skipped = client.post(url(first, "skip"), {"reason": "unsure"}, format="json")
    assert skipped.status_code == 200 and Skip.objects.get().reason == "I am not sure how to judge this"
    no_reason = client.post(url(lease_next_item(member, rating_project), "skip"), {}, format="json")
    assert no_reason.status_code == 400 and no_reason.json()["error"]["details"] == {"reason": "is required"}
    second = Assignment.objects.get(annotator=member, status=AssignmentStatus.LIVE)
    bad = client.post(url(second, "flag"), {"category": "dull"}, format="json")
    assert bad.status_code == 400 and "category" in bad.json()["error"]["details"]
    flagged = client.post(url(second, "flag"), {"category": "personal_data", "reason": "a phone number"}, format="json")
    assert flagged.status_code == 201 and Flag.objects.get().category == "personal_data"
    closed = client.post(url(second, "submit"), {"answers": {"overall": 1}}, format="json")
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "assignment_closed"


@pytest.mark.parametrize(("method", "action"), ENDPOINTS)
def test_only_the_assignments_own_annotator_gets_an_answer(lease, rating_project, outsider, method, action):
    body = {"answers": {"overall": 1}, "reason": "unsure", "category": "broken"}
    other = add_annotator(rating_project)
    assert getattr(api_client_for(other), method)(url(lease, action), body, format="json").status_code == 404
    assert getattr(api_client_for(outsider), method)(url(lease, action), body, format="json").status_code == 404
    assert getattr(APIClient(), method)(url(lease, action), body, format="json").status_code == 401
    assert api_client_for(other).get(url(lease, action)).status_code in (404, 405)
    lease.refresh_from_db()
    assert lease.status == AssignmentStatus.LIVE and not Draft.objects.exists()


@pytest.mark.parametrize(("method", "action"), ENDPOINTS)
def test_wrong_methods_are_refused(lease, member, method, action):
    wrong = "get" if method == "post" else "post"
    assert getattr(api_client_for(member), wrong)(url(lease, action)).status_code == 405


def test_removed_members_lose_access_to_their_assignments(lease, member, rating_project):
    member.project_memberships.all().delete()
    assert api_client_for(member).post(url(lease, "heartbeat")).status_code == 404


def test_leasing_and_submitting_are_rate_limited_per_user(rating_project, member, monkeypatch):
    # DRF reads the rates when the throttle class is defined; patch the class, not settings.
    monkeypatch.setattr(AnnotationThrottle, "THROTTLE_RATES", {"annotation": "3/min"})
    items(rating_project, 1)
    client = api_client_for(member)
    path = f"/api/v1/projects/{rating_project.pk}/next/"
    statuses = [client.post(path).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    other = add_annotator(rating_project)
    assert api_client_for(other).post(path).status_code == 200  # per user, not global
