"""The quality pages: dashboard (with htmx partials), review queue, item review, gold list."""

from __future__ import annotations

import pytest

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Annotation, Flag, Review
from apps.quality.models import ItemAggregate, QualitySettings, SuspensionEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_dashboard_shows_precomputed_figures(computed, owner, django_assert_max_num_queries):  # type: ignore[no-untyped-def]
    client = client_for(owner)
    with django_assert_max_num_queries(20):
        response = client.get(f"/projects/{computed.pk}/quality/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="quality-chart-data"' in body and 'data-chart="progress"' in body and 'data-chart="leaderboard"' in body
    assert "Krippendorff" in body and "Annotators" in body and "Quality settings" in body
    assert "vendor/chartjs/chart.umd.min.js" in body and "<script>" not in body  # no inline scripts (CSP)


def test_dashboard_empty_state_and_access(project, owner, reviewer, annotator, outsider, client):  # type: ignore[no-untyped-def]
    body = client_for(owner).get(f"/projects/{project.pk}/quality/").content.decode()
    assert "No quality figures yet" in body
    reviewer_page = client_for(reviewer).get(f"/projects/{project.pk}/quality/")
    assert reviewer_page.status_code == 200 and "Quality settings" not in reviewer_page.content.decode()
    assert client_for(annotator).get(f"/projects/{project.pk}/quality/").status_code == 403
    assert client_for(outsider).get(f"/projects/{project.pk}/quality/").status_code == 404
    assert client.get(f"/projects/{project.pk}/quality/").status_code == 302  # to the login page
    assert client_for(owner).post(f"/projects/{project.pk}/quality/").status_code == 405


def test_status_partial_polls_and_reloads_when_done(computed, owner):  # type: ignore[no-untyped-def]
    client = client_for(owner)
    response = client.get(f"/projects/{computed.pk}/quality/status/?was=running", **HX)
    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    assert "HX-Refresh" not in client.get(f"/projects/{computed.pk}/quality/status/", **HX)


def test_recompute_button_queues(computed, owner, reviewer):  # type: ignore[no-untyped-def]
    response = client_for(owner).post(f"/projects/{computed.pk}/quality/recompute/", **HX)
    assert response.status_code == 200 and "queued" in response.content.decode()
    assert client_for(reviewer).post(f"/projects/{computed.pk}/quality/recompute/").status_code == 403
    assert client_for(owner).get(f"/projects/{computed.pk}/quality/recompute/").status_code == 405


def test_settings_form_saves_and_names_bad_fields(computed, owner):  # type: ignore[no-untyped-def]
    client = client_for(owner)
    data = {"qualification_size": 3, "qualification_pass_mark": 0.75, "rating_tolerance": 1, "span_f1_pass": 0.5,
            "ranking_tau_pass": 0.5, "min_gold_accuracy": 0.7, "gold_min_answers": 4, "agreement_min_answers": 10,
            "too_fast_min_answers": 10, "auto_suspend": "on", "qualification_required": "on"}
    response = client.post(f"/projects/{computed.pk}/quality/settings/", data, **HX)
    assert response.status_code == 200 and "Saved" in response.content.decode()
    saved = QualitySettings.objects.get(project=computed)
    assert saved.qualification_required and saved.min_gold_accuracy == 0.7 and saved.max_too_fast_share is None
    bad = client.post(f"/projects/{computed.pk}/quality/settings/", {**data, "qualification_pass_mark": 3}, **HX)
    assert bad.status_code == 422 and "less than or equal to 1" in bad.content.decode()


def test_annotator_table_sorts_suspends_and_reinstates(computed, owner, annotator):  # type: ignore[no-untyped-def]
    client = client_for(owner)
    table = client.get(f"/projects/{computed.pk}/quality/annotators/?order=agreement", **HX)
    assert table.status_code == 200 and 'id="quality-annotators"' in table.content.decode()
    assert "<html" not in table.content.decode()  # the partial only
    response = client.post(f"/projects/{computed.pk}/quality/annotators/{annotator.pk}/suspend/", **HX)
    assert "Annotator suspended" in response.content.decode()
    assert ProjectMembership.objects.get(project=computed, user=annotator).suspended_at is not None
    client.post(f"/projects/{computed.pk}/quality/annotators/{annotator.pk}/reinstate/", **HX)
    assert ProjectMembership.objects.get(project=computed, user=annotator).suspended_at is None
    assert SuspensionEvent.objects.filter(project=computed, annotator=annotator).count() == 2


def test_review_queue_lists_disagreements_and_flags(computed, reviewer, annotator, django_assert_max_num_queries):  # type: ignore[no-untyped-def]
    client = client_for(reviewer)
    disputed = computed.items_by_name["disputed"]
    with django_assert_max_num_queries(16):
        body = client.get(f"/projects/{computed.pk}/review/").content.decode()
    assert "Disputed prompt" in body and "Agreed prompt" not in body
    Flag.objects.create(project=computed, item=computed.items_by_name["agreed"], annotator=annotator, reason="Offensive")
    flags = client.get(f"/projects/{computed.pk}/review/?queue=flags", **HX).content.decode()
    assert "Agreed prompt" in flags and "<html" not in flags
    assert f"/review/items/{disputed.pk}/" in body
    assert client_for(annotator).get(f"/projects/{computed.pk}/review/").status_code == 403


def test_review_item_shows_answers_side_by_side_and_records_decisions(computed, reviewer):  # type: ignore[no-untyped-def]
    client = client_for(reviewer)
    disputed = computed.items_by_name["disputed"]
    url = f"/projects/{computed.pk}/review/items/{disputed.pk}/"
    body = client.get(url).content.decode()
    assert "Unsafe" in body and "Safe" in body and "Response A is better" in body and "Response B is better" in body
    response = client.post(url, {"decision": "correct", "q__label": "unsafe", "q__fluency": "3", "note": "Clearly unsafe"})
    assert response.status_code == 302
    aggregate = ItemAggregate.objects.get(item=disputed)
    assert aggregate.reviewed and aggregate.answers["label"] == "unsafe" and aggregate.answers["fluency"] == 3
    assert aggregate.confidence["label"] == 1.0
    review = Review.objects.get(item=disputed)
    assert review.decision == "correct" and review.note == "Clearly unsafe"
    wrong = client.post(url, {"decision": "correct", "q__fluency": "9"})
    assert wrong.status_code == 422 and "fluency" in wrong.content.decode()
    first = Annotation.objects.filter(item=disputed).order_by("id").first()
    assert client.post(url, {"decision": "reject", "annotation": first.pk}).status_code == 302
    assert ItemAggregate.objects.get(item=disputed).excluded_count == 1
    assert Annotation.objects.filter(pk=first.pk).exists()  # kept


def test_gold_marking_page_is_for_managers(computed, owner, reviewer):  # type: ignore[no-untyped-def]
    agreed = computed.items_by_name["agreed"]
    url = f"/projects/{computed.pk}/review/items/{agreed.pk}/gold/"
    assert client_for(reviewer).post(url, {"q__label": "safe"}).status_code == 403
    client_for(owner).post(url, {"q__label": "safe", "explanation": "Nothing harmful here."})
    agreed.refresh_from_db()
    assert agreed.is_gold and agreed.gold_answers == {"label": "safe"}
    listing = client_for(owner).get(f"/projects/{computed.pk}/quality/gold/").content.decode()
    assert "Agreed prompt" in listing and "Is the response harmful?: Safe" in listing
    client_for(owner).post(url, {"gold": "unmark"})
    agreed.refresh_from_db()
    assert not agreed.is_gold and agreed.gold_answers is None
