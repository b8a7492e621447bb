"""The qualification quiz, training feedback, and the hook the workspace calls after a submission."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string

from apps.accounts.models import ProjectMembership
from apps.items.models import Item
from apps.projects.models import GuidelineVersion
from apps.quality.models import GoldNote, QualitySettings, SuspensionEvent, SuspensionKind
from apps.quality.qualification import QualificationState, qualification_items, qualification_status
from apps.quality.selectors import gold_feedback
from apps.quality.services import quality_after_submit
from tests.conftest import api_client_for
from tests.factories import make_item
from tests.quality.helpers import CHOICE_QUESTION, RATING_QUESTION, annotate, annotators, membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def quiz_project(project):  # type: ignore[no-untyped-def]
    project.questions = [CHOICE_QUESTION, RATING_QUESTION]
    project.save()
    QualitySettings.objects.create(project=project, qualification_required=True, qualification_size=2,
                                   qualification_pass_mark=0.75, training_feedback=True, min_gold_accuracy=None)
    project.gold = [
        make_item(project, is_gold=True, gold_answers={"label": "unsafe", "fluency": 2}),
        make_item(project, is_gold=True, gold_answers={"label": "safe"}),
        make_item(project, is_gold=True, gold_answers={"label": "unclear"}),
    ]
    return project


def test_quiz_passes_at_the_pass_mark(quiz_project, annotator):  # type: ignore[no-untyped-def]
    member = membership(quiz_project, annotator)
    status = qualification_status(member)
    assert status.state == QualificationState.IN_PROGRESS and status.needed == 2 and not status.may_annotate
    assert list(qualification_items(member)) == quiz_project.gold
    first = annotate(quiz_project.gold[0], annotator, {"label": "unsafe", "fluency": 3})  # both within tolerance
    quality_after_submit(annotation_id=first.pk)
    assert qualification_status(member).answered == 1
    second = annotate(quiz_project.gold[1], annotator, {"label": "safe", "fluency": 5})
    quality_after_submit(annotation_id=second.pk)
    member.refresh_from_db()
    assert member.qualified_at is not None
    status = qualification_status(member)
    assert status.state == QualificationState.PASSED and status.score == 1.0 and status.may_annotate
    body = api_client_for(annotator).get(f"/api/v1/projects/{quiz_project.pk}/qualification/").json()
    assert body == {"required": True, "state": "passed", "answered": 2, "needed": 2, "score": 1.0,
                    "pass_mark": 0.75, "may_annotate": True}


def test_failing_the_quiz_suspends_with_a_notice(quiz_project):  # type: ignore[no-untyped-def]
    (person,) = annotators(quiz_project, 1)
    for item in quiz_project.gold[:2]:
        annotation = annotate(item, person, {"label": "unclear", "fluency": 5})
        quality_after_submit(annotation_id=annotation.pk)
    member = membership(quiz_project, person)
    assert member.suspended_at is not None and member.qualified_at is None
    assert "qualification quiz" in member.suspended_reason
    event = SuspensionEvent.objects.get(annotator=person)
    assert event.kind == SuspensionKind.QUALIFICATION_FAILED and event.acknowledged_at is None
    assert qualification_status(member).state == QualificationState.FAILED


def test_quiz_without_gold_does_not_block(project, annotator):  # type: ignore[no-untyped-def]
    QualitySettings.objects.create(project=project, qualification_required=True)
    assert qualification_status(membership(project, annotator)).may_annotate


def test_training_feedback_shows_expected_answer_and_guideline_excerpt(quiz_project, annotator):  # type: ignore[no-untyped-def]
    GuidelineVersion.objects.create(project=quiz_project, version=2, text=(
        "# Introduction\nThanks for helping.\n\n## Harmful responses\nA response is unsafe when it helps "
        "someone hurt people.\n\n## Fluency\nRate grammar and flow."))
    GoldNote.objects.create(item=quiz_project.gold[0], explanation="It explains how to **hurt** someone.")
    wrong = annotate(quiz_project.gold[0], annotator, {"label": "safe", "fluency": 2})
    feedback = gold_feedback(wrong)
    assert feedback is not None and not feedback.passed
    rows = {row["id"]: row for row in feedback.questions}
    assert rows["label"] == {"id": "label", "prompt": "Is the response harmful?", "passed": False,
                             "given": "Safe", "expected": "Unsafe"}
    assert rows["fluency"]["passed"]
    assert "Harmful responses" in feedback.guideline_excerpt_html and "Fluency" not in feedback.guideline_excerpt_html
    assert "<strong>hurt</strong>" in feedback.explanation_html
    html = render_to_string("quality/partials/gold_feedback.html", {"feedback": feedback})
    assert "Unsafe" in html and "different" in html
    QualitySettings.objects.filter(project=quiz_project).update(training_feedback=False)
    assert gold_feedback(wrong) is None
    regular = annotate(make_item(quiz_project), annotator, {"label": "safe", "fluency": 2})
    QualitySettings.objects.filter(project=quiz_project).update(training_feedback=True)
    assert gold_feedback(regular) is None  # only gold items give feedback


def test_after_submit_hook_raises_overlap_immediately(project):  # type: ignore[no-untyped-def]
    project.questions = [CHOICE_QUESTION]
    project.confidence_threshold = 0.7
    project.save()
    a, b = annotators(project, 2)
    item = make_item(project)
    annotate(item, a, {"label": "safe"})
    second = annotate(item, b, {"label": "unsafe"})
    quality_after_submit(annotation_id=second.pk)
    assert Item.objects.get(pk=item.pk).required_annotations == 3
    assert ProjectMembership.objects.filter(project=project, suspended_at__isnull=False).count() == 0
