"""REST endpoints of quality control: each works, refuses the wrong method, anonymous callers,
other tenants (404) and bad input (a named error)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Annotation, Review
from apps.quality import selectors
from apps.quality.models import ItemAggregate, QualitySettings
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


def test_quality_figures(computed, owner, reviewer, annotator, outsider):  # type: ignore[no-untyped-def]
    url = f"/api/v1/projects/{computed.pk}/quality/"
    body = api_client_for(owner).get(url).json()
    assert body["status"] == "succeeded" and body["figures"]["annotations"] == 5
    assert {q["id"] for q in body["figures"]["questions"]} == {"label", "fluency", "preference"}
    assert body["figures"]["leaderboards"][0]["question"] == "preference"
    # Queue sizes stored with the figures agree with the live queues.
    assert body["figures"]["queues"] == selectors.queue_counts(computed) == {
        "disagreements": 1, "low_confidence": 0, "flags": 0}
    assert api_client_for(reviewer).get(url).status_code == 200
    assert api_client_for(annotator).get(url).status_code == 403
    assert api_client_for(outsider).get(url).json()["error"]["code"] == "not_found"
    assert APIClient().get(url).status_code in (401, 403)
    assert api_client_for(owner).post(url).status_code == 405


def test_recompute_endpoint(computed, owner, reviewer):  # type: ignore[no-untyped-def]
    url = f"/api/v1/projects/{computed.pk}/quality/recompute/"
    response = api_client_for(owner).post(url)
    assert response.status_code == 202 and response.json()["queued"] is True
    assert api_client_for(owner).post(url).json()["queued"] is False  # debounced
    assert api_client_for(reviewer).post(url).status_code == 403
    assert api_client_for(owner).get(url).status_code == 405


def test_settings_endpoint_validates(project, owner, reviewer, outsider):  # type: ignore[no-untyped-def]
    url = f"/api/v1/projects/{project.pk}/quality/settings/"
    client = api_client_for(owner)
    assert client.get(url).json()["qualification_size"] == 5
    response = client.patch(url, {"min_gold_accuracy": 0.75, "qualification_required": True}, format="json")
    assert response.status_code == 200 and response.json()["min_gold_accuracy"] == 0.75
    assert QualitySettings.objects.get(project=project).qualification_required
    bad = client.patch(url, {"qualification_pass_mark": 1.5}, format="json").json()["error"]
    assert bad["code"] == "invalid" and "qualification_pass_mark" in bad["message"]
    unknown = client.patch(url, {"gold_ratio": 0.2}, format="json").json()["error"]
    assert "gold_ratio" in unknown["details"]
    assert api_client_for(reviewer).get(url).status_code == 403
    assert api_client_for(outsider).patch(url, {}, format="json").status_code == 404
    assert client.post(url, {}, format="json").status_code == 405


def test_annotator_scores_and_actions(computed, owner, reviewer, annotator, outsider):  # type: ignore[no-untyped-def]
    url = f"/api/v1/projects/{computed.pk}/annotators/"
    rows = api_client_for(reviewer).get(url + "?ordering=agreement").json()["results"]
    mine = next(r for r in rows if r["annotator"] == annotator.pk)
    assert mine["annotations"] == 2 and mine["suspended"] is False and "gold_answers" not in mine
    assert api_client_for(owner).get(url + "?ordering=shoe_size").json()["error"]["code"] == "invalid_ordering"
    assert api_client_for(outsider).get(url).status_code == 404
    suspend = f"{url}{annotator.pk}/suspend/"
    response = api_client_for(owner).post(suspend, {"reason": "Copy-pasting answers"}, format="json")
    assert response.status_code == 200 and response.json()["suspended"] is True
    assert ProjectMembership.objects.get(user=annotator, project=computed).suspended_reason == "Copy-pasting answers"
    assert api_client_for(owner).post(suspend, {}, format="json").json()["error"]["code"] == "already_suspended"
    assert api_client_for(reviewer).post(suspend, {}, format="json").status_code == 403
    assert api_client_for(owner).post(f"{url}{outsider.pk}/suspend/", {}, format="json").status_code == 404
    reinstated = api_client_for(owner).post(f"{url}{annotator.pk}/reinstate/", {}, format="json").json()
    assert reinstated["suspended"] is False
    assert api_client_for(owner).get(suspend).status_code == 405


def test_review_queue_endpoint(computed, reviewer, outsider):  # type: ignore[no-untyped-def]
    url = f"/api/v1/projects/{computed.pk}/review/"
    rows = api_client_for(reviewer).get(url).json()["results"]
    assert [r["item"] for r in rows] == [computed.items_by_name["disputed"].pk]
    assert api_client_for(reviewer).get(url + "?queue=flags").json()["count"] == 0
    assert api_client_for(reviewer).get(url + "?queue=nope").json()["error"]["code"] == "invalid_queue"
    assert api_client_for(outsider).get(url).status_code == 404


def test_item_review_endpoint(computed, reviewer, annotator, outsider):  # type: ignore[no-untyped-def]
    disputed = computed.items_by_name["disputed"]
    url = f"/api/v1/items/{disputed.pk}/reviews/"
    detail = api_client_for(reviewer).get(url).json()
    assert len(detail["annotations"]) == 2 and detail["aggregate"]["disagreement"] is True
    assert [r["label"] for r in detail["responses"]] == ["A", "B"]
    accepted = api_client_for(reviewer).post(
        url, {"decision": "accept", "annotation": detail["annotations"][1]["id"], "note": "B is right"}, format="json")
    assert accepted.status_code == 201
    assert accepted.json()["aggregate"]["answers"]["label"] == "unsafe" and accepted.json()["aggregate"]["reviewed"]
    tricky = 'Back\\slash, tab\t, newline\n, quote " and ünïcode'
    corrected = api_client_for(reviewer).post(
        url, {"decision": "correct", "answers": {"label": "unclear", "why": tricky}}, format="json").json()
    assert corrected["aggregate"]["answers"]["label"] == "unclear"
    assert ItemAggregate.objects.get(item=disputed).answers["why"] == tricky  # survives the COPY round trip
    bad = api_client_for(reviewer).post(url, {"decision": "correct", "answers": {"label": "maybe"}}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_answers"
    assert "answers.label" in bad.json()["error"]["message"]
    missing = api_client_for(reviewer).post(url, {"decision": "reject"}, format="json").json()["error"]
    assert missing["code"] == "invalid_annotation"
    other = Annotation.objects.exclude(item=disputed).first()
    assert api_client_for(reviewer).post(url, {"decision": "reject", "annotation": other.pk},
                                         format="json").json()["error"]["code"] == "invalid_annotation"
    assert api_client_for(reviewer).post(url, {"decision": "maybe"}, format="json").status_code == 400
    assert api_client_for(annotator).get(url).status_code == 403
    assert api_client_for(outsider).get(url).status_code == 404
    assert api_client_for(reviewer).delete(url).status_code == 405
    assert Review.objects.filter(item=disputed).count() == 2
    assert api_client_for(reviewer).get(f"/api/v1/items/{disputed.pk}/aggregate/").json()["source"] == "review"


def test_gold_endpoint(computed, owner, reviewer, annotator, outsider):  # type: ignore[no-untyped-def]
    agreed = computed.items_by_name["agreed"]
    url = f"/api/v1/items/{agreed.pk}/gold/"
    client = api_client_for(owner)
    response = client.patch(url, {"is_gold": True, "gold_answers": {"label": "safe", "preference": {"choice": "a"}},
                                  "explanation": "Both say safe."}, format="json")
    assert response.status_code == 200
    assert response.json() == {"item": agreed.pk, "is_gold": True, "explanation": "Both say safe.",
                               "gold_answers": {"label": "safe", "preference": {"choice": "a"}}}
    assert ItemAggregate.objects.get(item=agreed).source == "gold"
    bad = client.patch(url, {"is_gold": True, "gold_answers": {"fluency": 11}}, format="json").json()["error"]
    assert bad["code"] == "invalid_answers" and "gold_answers.fluency" in bad["message"]
    empty = client.patch(url, {"is_gold": True, "gold_answers": {}}, format="json").json()["error"]
    assert empty["code"] == "invalid_answers"
    assert client.patch(url, {"gold_answers": {}}, format="json").json()["error"]["code"] == "invalid"
    assert client.get(url).json()["is_gold"] is True
    for person in (reviewer, annotator):
        assert api_client_for(person).get(url).status_code == 403
    assert api_client_for(outsider).patch(url, {"is_gold": False}, format="json").status_code == 404
    assert client.post(url, {}, format="json").status_code == 405
    assert client.patch("/api/v1/items/999999/gold/", {"is_gold": False}, format="json").status_code == 404
    assert client.patch(url, {"is_gold": False}, format="json").json()["gold_answers"] is None
