"""The qualification quiz inside the assignment engine and the workspace; training feedback.

A quiz lease is a gold item outside the counting: it takes no slot of the item, its
answer is surplus, and gold items stay open for every candidate (DESIGN.md 1, issue 6).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.annotations.errors import AnnotatorSuspended, NotQualified
from apps.annotations.models import Assignment, AssignmentStatus
from apps.annotations.services import (
    annotation_submit,
    assignment_skip,
    lease_next,
    lease_next_item,
    leases_expire,
)
from apps.items.models import Item, ItemState
from apps.quality.models import GoldNote, QualitySettings
from apps.quality.services import quality_after_submit
from tests.annotations.conftest import add_annotator, items
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def quiz_project(rating_project):  # type: ignore[no-untyped-def]
    """rating_project with a two-item quiz (pass mark 1.0), training feedback and three real items."""
    QualitySettings.objects.create(project=rating_project, qualification_required=True, qualification_size=2,
                                   qualification_pass_mark=1.0, training_feedback=True, min_gold_accuracy=None)
    rating_project.gold_ratio = 0.5
    rating_project.save()
    rating_project.real = items(rating_project, 3)
    rating_project.gold = items(rating_project, 3, is_gold=True, gold_answers={"overall": 4}, required_annotations=1)
    return rating_project


def submit(assignment, value: int):  # type: ignore[no-untyped-def]
    result = annotation_submit(assignment=assignment, answers={"overall": value})
    quality_after_submit(annotation_id=result.annotation.pk)  # what the worker runs after the commit
    return result


def test_the_quiz_comes_first_and_takes_no_slot(quiz_project, member):  # type: ignore[no-untyped-def]
    first = lease_next(member, quiz_project)
    assert first.assignment.is_qualification and first.assignment.item_id == quiz_project.gold[0].pk
    assert first.qualification.answered == 0 and first.qualification.needed == 2
    assert Item.objects.get(pk=quiz_project.gold[0].pk).active_count == 0
    result = submit(first.assignment, 4)  # within the rating tolerance of 1
    assert result.outcome == "qualification" and result.annotation.surplus
    gold = Item.objects.get(pk=quiz_project.gold[0].pk)
    assert (gold.annotation_count, gold.active_count, gold.state) == (0, 0, ItemState.OPEN)

    second = lease_next(member, quiz_project)
    assert second.assignment.is_qualification and second.assignment.item_id == quiz_project.gold[1].pk
    assert second.qualification.answered == 1
    submit(second.assignment, 5)

    # Passed: the main queue opens, and the quiz does not count against the gold ratio
    # (with ratio 0.5 a gold item would be due at once if the two quiz items counted as leases).
    main = [lease_next_item(member, quiz_project) for _ in range(1)][0]
    assert not main.is_qualification
    assert member.project_memberships.get(project=quiz_project).qualified_at is not None


def test_every_candidate_gets_the_same_quiz_even_when_gold_needs_one_answer(quiz_project, member):  # type: ignore[no-untyped-def]
    submit(lease_next_item(member, quiz_project), 4)
    other = add_annotator(quiz_project, "second", guidelines_seen_version=1)
    assert lease_next_item(other, quiz_project).item_id == quiz_project.gold[0].pk


def test_failing_the_quiz_closes_the_main_queue(quiz_project, member):  # type: ignore[no-untyped-def]
    annotation_submit(assignment=lease_next_item(member, quiz_project), answers={"overall": 1})
    annotation_submit(assignment=lease_next_item(member, quiz_project), answers={"overall": 1})
    # Before the worker judged it, the engine already refuses the main queue...
    with pytest.raises(NotQualified):
        lease_next_item(member, quiz_project)
    response = api_client_for(member).post(f"/api/v1/projects/{quiz_project.pk}/next/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_qualified"
    assert not Assignment.objects.filter(annotator=member, is_qualification=False).exists()
    # ...and once it did, the annotator is suspended with the quiz as the reason.
    quality_after_submit(annotation_id=member.annotations.latest("id").pk)
    with pytest.raises(AnnotatorSuspended):
        lease_next_item(member, quiz_project)


def test_skipped_expired_and_reaped_quiz_leases_leave_the_counts_alone(quiz_project, member):  # type: ignore[no-untyped-def]
    first = lease_next_item(member, quiz_project)
    assignment_skip(assignment=first, reason="unsure")
    second = lease_next_item(member, quiz_project, now=timezone.now() - timedelta(hours=2))
    assert second.item_id == quiz_project.gold[1].pk
    assert leases_expire() == 1
    assert Assignment.objects.get(pk=second.pk).status == AssignmentStatus.EXPIRED
    assert [g.active_count for g in Item.objects.filter(is_gold=True).order_by("id")] == [0, 0, 0]
    # The third gold item is the last quiz item left; after it the quiz is judged on one answer.
    third = lease_next_item(member, quiz_project)
    assert third.item_id == quiz_project.gold[2].pk
    submit(third, 4)
    assert not lease_next_item(member, quiz_project).is_qualification


def test_members_outside_the_quiz_and_managers_go_straight_to_work(quiz_project, owner):  # type: ignore[no-untyped-def]
    qualified = add_annotator(quiz_project, "vetted", guidelines_seen_version=1, qualified_at=timezone.now())
    assert not lease_next_item(qualified, quiz_project).is_qualification
    assert not lease_next_item(owner, quiz_project).is_qualification  # a researcher trying their project


def test_workspace_shows_quiz_progress_and_training_feedback(client, quiz_project, member):  # type: ignore[no-untyped-def]
    GoldNote.objects.create(item=quiz_project.gold[0], explanation="Four: it answers **fully**.")
    client.force_login(member)
    page = client.get(f"/projects/{quiz_project.pk}/annotate/").content.decode()
    assert "Qualification quiz" in page and "item 1 of 2" in page and "pass mark 100%" in page
    assignment = Assignment.objects.get(annotator=member, status=AssignmentStatus.LIVE)
    response = client.post(f"/api/v1/assignments/{assignment.pk}/submit/", {"answers": {"overall": 2}},
                           content_type="application/json")
    body = response.json()
    assert response.status_code == 201 and body["outcome"] == "qualification"
    feedback = client.get(body["training_feedback_url"], headers={"HX-Request": "true"}).content.decode()
    assert "Training item: compare your answer" in feedback and "<strong>fully</strong>" in feedback
    assert "data-ws-continue" in feedback
    # Someone else's answer, or feedback switched off: nothing to see.
    other = add_annotator(quiz_project, "nosy", guidelines_seen_version=1)
    client.force_login(other)
    assert client.get(body["training_feedback_url"]).status_code == 404
    QualitySettings.objects.filter(project=quiz_project).update(training_feedback=False)
    client.force_login(member)
    assert client.get(body["training_feedback_url"]).status_code == 404


def test_training_feedback_url_only_for_gold_items(client, rating_project, member):  # type: ignore[no-untyped-def]
    QualitySettings.objects.create(project=rating_project, training_feedback=True)
    items(rating_project, 1)
    client.force_login(member)
    client.get(f"/projects/{rating_project.pk}/annotate/")
    assignment = Assignment.objects.get(annotator=member)
    body = client.post(f"/api/v1/assignments/{assignment.pk}/submit/", {"answers": {"overall": 2}},
                       content_type="application/json").json()
    assert body["outcome"] == "accepted" and "training_feedback_url" not in body


def test_failed_quiz_page_says_so(client, quiz_project, member):  # type: ignore[no-untyped-def]
    for _ in range(2):
        annotation_submit(assignment=lease_next_item(member, quiz_project), answers={"overall": 1})
    client.force_login(member)
    page = client.get(f"/projects/{quiz_project.pk}/annotate/").content.decode()
    assert "The qualification quiz was not passed" in page and "scored 0%" in page
