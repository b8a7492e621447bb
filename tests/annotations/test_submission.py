"""Submit, skip, report and drafts (DESIGN.md 2, 3): validation, idempotency, late submissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.annotations.api import assignment_payload
from apps.annotations.errors import AssignmentClosed, IdempotencyConflict, InvalidInput
from apps.annotations.models import Annotation, Assignment, AssignmentStatus, Draft, Flag
from apps.annotations.services import (
    annotation_submit,
    assignment_flag,
    assignment_skip,
    draft_save,
    lease_next_item,
    leases_expire,
)
from apps.items.models import Item, ItemState
from apps.privacy.models import PiiSpan
from apps.projects.models import GuidelineVersion
from apps.projects.schema import AnswerError
from tests.annotations.conftest import add_annotator, items, normalised

pytestmark = pytest.mark.django_db


@pytest.fixture
def typed_lease(typed_project):  # type: ignore[no-untyped-def]
    (item,) = items(typed_project, 1, responses=2, prompt_text="Is the sky green?")
    annotator = add_annotator(typed_project)
    assignment = lease_next_item(annotator, typed_project)
    a, b = item.ordered_generations()
    return assignment, a, b


def valid_answers(a, b):  # type: ignore[no-untyped-def]
    return {
        "topic": "chat",
        "issues": ["bias"],
        "fluency": {str(a.pk): 4, str(b.pk): 2},
        "preference": {"choice": "a", "strength": 2},
        "order": [a.pk, b.pk],
        "why": "A is correct.",
        "marks": [{"start": 0, "end": 8, "label": "harmful", "generation": b.pk}],
    }


def errors_for(assignment, answers) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(AnswerError) as caught:
        annotation_submit(assignment=assignment, answers=answers)
    return caught.value.errors


def test_valid_answers_for_every_question_type_are_stored(typed_lease):
    assignment, a, b = typed_lease
    result = annotation_submit(assignment=assignment, answers=valid_answers(a, b), time_spent_ms=1234)
    stored = Annotation.objects.get()
    assert not result.replayed and result.outcome == "accepted"
    assert stored.answers["preference"] == {"choice": "a", "strength": 2}
    assert stored.answers["marks"] == [{"generation": b.pk, "start": 0, "end": 8, "label": "harmful"}]
    assert stored.guideline_version == 1
    assert 0 <= stored.time_spent_ms <= 1234
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SUBMITTED


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"topic": None}, "topic", "needs an answer"),
        ({"topic": "sports"}, "topic", "choose one of"),
        ({"issues": ["bias", "false", "rude"]}, "issues", "between 0 and 2"),
        ({"fluency": {"A": 4}}, "fluency", "unknown response ids"),
        ({"preference": {"choice": "c"}}, "preference", "choose a, b, tie or both_bad"),
        ({"preference": {"choice": "a"}}, "preference", "strength must be"),
        ({"order": "first"}, "order", "every response exactly once"),
        ({"why": "no"}, "why", "at least 5"),
        ({"fixed": {}}, "fixed", None),  # optional: empty is fine
        ({"marks": [{"start": 0, "end": 999, "label": "harmful", "generation": 0}]}, "marks", "generation"),
        ({"marks": [{"start": 5, "end": 999, "label": "harmful", "generation": "B"}]}, "marks", "outside the text"),
        ({"marks": [{"start": 0, "end": 3, "label": "typo", "generation": "B"}]}, "marks", "label must be one of"),
    ],
)
def test_each_question_type_reports_field_level_errors(typed_lease, change, path, fragment):
    assignment, a, b = typed_lease
    answers = valid_answers(a, b)
    answers.update(change)
    if isinstance(answers.get("marks"), list):
        for span in answers["marks"]:
            if span.get("generation") == "B":
                span["generation"] = b.pk
    if fragment is None:
        annotation_submit(assignment=assignment, answers=answers)
        return
    errors = errors_for(assignment, answers)
    assert fragment in errors[path], errors
    assert not Annotation.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.LIVE  # nothing stored, the lease stands


def test_per_response_and_span_offset_errors_name_the_path(typed_lease):
    assignment, a, b = typed_lease
    answers = valid_answers(a, b)
    answers["fluency"] = {str(a.pk): 9}
    answers["marks"] = [{"start": 0, "end": 10_000, "label": "harmful", "generation": b.pk}]
    errors = errors_for(assignment, answers)
    assert errors[f"fluency.{a.pk}"] == "must be a whole number from 1 to 5"
    assert errors[f"fluency.{b.pk}"] == "this response needs an answer"
    assert "outside the text" in errors["marks"]


def test_conditional_question_is_dropped_when_its_condition_is_not_met(typed_lease):
    assignment, a, b = typed_lease
    answers = valid_answers(a, b)
    answers["preference"] = {"choice": "tie"}
    answers["why"] = "x"  # too short, but the question is not shown for a tie
    annotation_submit(assignment=assignment, answers=answers)
    assert "why" not in Annotation.objects.get().answers


def test_replay_returns_the_first_result_and_different_answers_conflict(rating_project, member):
    items(rating_project, 1)
    assignment = lease_next_item(member, rating_project)
    first = annotation_submit(assignment=assignment, answers={"overall": 4}, idempotency_key="k-1")
    again = annotation_submit(assignment=assignment, answers={"overall": 4}, idempotency_key="k-1")
    assert again.replayed and again.annotation.pk == first.annotation.pk
    # Without the header the assignment id is the key.
    assert annotation_submit(assignment=assignment, answers={"overall": 4}).replayed
    with pytest.raises(IdempotencyConflict):
        annotation_submit(assignment=assignment, answers={"overall": 2}, idempotency_key="k-1")
    assert Annotation.objects.count() == 1
    item = Item.objects.get()
    assert item.annotation_count == 1 and item.active_count == 1


def test_an_idempotency_key_can_not_be_reused_for_another_item(rating_project, member):
    items(rating_project, 2)
    annotation_submit(assignment=lease_next_item(member, rating_project), answers={"overall": 4}, idempotency_key="same")
    second = lease_next_item(member, rating_project)
    with pytest.raises(IdempotencyConflict):
        annotation_submit(assignment=second, answers={"overall": 4}, idempotency_key="same")
    second.refresh_from_db()
    assert second.status == AssignmentStatus.LIVE


def test_late_submission_counts_when_the_item_still_needs_it(rating_project, member):
    (item,) = items(rating_project, 1, required_annotations=1)
    assignment = lease_next_item(member, rating_project, now=timezone.now() - timedelta(hours=1))
    assert leases_expire() == 1
    result = annotation_submit(assignment=assignment, answers={"overall": 4})
    assert result.outcome == "accepted_late"
    item.refresh_from_db()
    assert (item.active_count, item.annotation_count, item.state) == (1, 1, ItemState.COMPLETED)
    assert result.annotation.late and not result.annotation.surplus


def test_late_submission_is_kept_as_surplus_when_the_item_is_full(rating_project, member):
    (item,) = items(rating_project, 1, required_annotations=1)
    stale = lease_next_item(member, rating_project, now=timezone.now() - timedelta(hours=1))
    leases_expire()
    other = add_annotator(rating_project)
    annotation_submit(assignment=lease_next_item(other, rating_project), answers={"overall": 2})
    result = annotation_submit(assignment=stale, answers={"overall": 5})
    assert result.outcome == "surplus"
    assert result.annotation.surplus and result.annotation.answers == {"overall": 5}
    item.refresh_from_db()
    assert (item.active_count, item.annotation_count) == (1, 1)
    # A replay of the surplus submission reports the same outcome.
    assert annotation_submit(assignment=stale, answers={"overall": 5}).outcome == "surplus"


def test_submitting_past_expiry_before_the_reaper_ran_still_counts(rating_project, member):
    (item,) = items(rating_project, 1, required_annotations=1)
    assignment = lease_next_item(member, rating_project, now=timezone.now() - timedelta(hours=1))
    result = annotation_submit(assignment=assignment, answers={"overall": 1})
    assert result.outcome == "accepted_late"
    item.refresh_from_db()
    assert (item.active_count, item.annotation_count) == (1, 1)
    assert leases_expire() == 0


def test_time_on_task_is_capped_by_the_lease_age_and_too_fast_is_marked(rating_project, member):
    rating_project.min_seconds_per_item = 30
    rating_project.save()
    items(rating_project, 2)
    now = timezone.now()
    assignment = lease_next_item(member, rating_project, now=now - timedelta(seconds=10))
    annotation = annotation_submit(assignment=assignment, answers={"overall": 3}, time_spent_ms=10**9, now=now).annotation
    assert annotation.time_spent_ms == 10_000 and annotation.too_fast
    slow = lease_next_item(member, rating_project, now=now - timedelta(minutes=5))
    draft_save(assignment=slow, answers={"overall": 2}, active_ms=45_000)
    annotation = annotation_submit(assignment=slow, answers={"overall": 2}, now=now).annotation
    assert annotation.time_spent_ms == 45_000 and not annotation.too_fast


def test_the_guideline_version_in_force_is_recorded(rating_project, member):
    items(rating_project, 1)
    GuidelineVersion.objects.create(project=rating_project, version=2, text="Be stricter.")
    annotation = annotation_submit(assignment=lease_next_item(member, rating_project), answers={"overall": 3}).annotation
    assert annotation.guideline_version == 2


def test_skip_stores_the_reason_and_frees_the_slot(rating_project, member):
    (item,) = items(rating_project, 1)
    assignment = lease_next_item(member, rating_project)
    draft_save(assignment=assignment, answers={"overall": 2})
    skip = assignment_skip(assignment=assignment, reason="expertise")
    assert skip.reason == "It needs expertise I do not have"
    assert assignment_skip(assignment=assignment, reason="other words").pk == skip.pk  # idempotent
    item.refresh_from_db()
    assert item.active_count == 0
    assert not Draft.objects.exists()
    with pytest.raises(AssignmentClosed):
        annotation_submit(assignment=assignment, answers={"overall": 2})
    with pytest.raises(InvalidInput):
        assignment_skip(assignment=lease_next_item(add_annotator(rating_project), rating_project), reason="  ")


def test_report_hides_the_item_marks_it_harmful_and_frees_the_slot(rating_project, member):
    (item,) = items(rating_project, 1)
    assignment = lease_next_item(member, rating_project)
    flag = assignment_flag(assignment=assignment, category="harmful", reason="graphic violence")
    assert assignment_flag(assignment=assignment, category="other", reason="again").pk == flag.pk
    item.refresh_from_db()
    assert item.is_harmful and item.active_count == 0
    assert Assignment.objects.get().status == AssignmentStatus.FLAGGED
    assert lease_next_item(member, rating_project) is None
    assert Flag.objects.get().reason == "graphic violence"
    with pytest.raises(InvalidInput):
        assignment_flag(assignment=assignment, category="boring")


def test_report_of_something_else_needs_words(rating_project, member):
    items(rating_project, 1)
    assignment = lease_next_item(member, rating_project)
    with pytest.raises(InvalidInput) as caught:
        assignment_flag(assignment=assignment, category="other", reason="")
    assert caught.value.details == {"reason": "is required"}


def test_drafts_keep_partial_answers_until_submit(rating_project, member):
    items(rating_project, 1)
    assignment = lease_next_item(member, rating_project)
    draft_save(assignment=assignment, answers={"overall": 9, "stray": 1}, active_ms=500)
    draft_save(assignment=assignment, answers={"overall": 4}, active_ms=900)
    draft = Draft.objects.get()
    assert draft.answers == {"overall": 4} and draft.active_ms == 900
    with pytest.raises(InvalidInput):
        draft_save(assignment=assignment, answers=["not", "an", "object"])
    with pytest.raises(InvalidInput):
        draft_save(assignment=assignment, answers={"overall": "x" * 600_000})
    annotation_submit(assignment=assignment, answers={"overall": 4})
    assert not Draft.objects.exists()
    assignment.refresh_from_db()
    with pytest.raises(AssignmentClosed):
        draft_save(assignment=assignment, answers={"overall": 1})


def test_drafts_survive_expiry_for_a_late_submission(rating_project, member):
    items(rating_project, 1)
    assignment = lease_next_item(member, rating_project, now=timezone.now() - timedelta(hours=1))
    leases_expire()
    assignment.refresh_from_db()
    draft_save(assignment=assignment, answers={"overall": 3})
    assert Draft.objects.get().answers == {"overall": 3}


def test_annotators_see_personal_data_redacted_and_span_answers_map_back(rating_project, member):
    spans = {"id": "marks", "type": "spans", "prompt": "Mark problems", "labels": [{"value": "bad", "label": "Bad"}]}
    rating_project.questions = [*rating_project.questions, *normalised([spans])]
    rating_project.save()
    (item,) = items(rating_project, 1, has_pii=True)
    generation = item.item_generations.get().generation
    generation.text = "Mail bob@example.org now, it is urgent."
    generation.save()
    PiiSpan.objects.create(project=rating_project, generation=generation, start=5, end=20, type="EMAIL", score=0.9)
    assignment = lease_next_item(member, rating_project)
    shown = assignment_payload(assignment, rating_project)["item"]["responses"][0]["text"]
    assert shown == "Mail [EMAIL] now, it is urgent."
    # The annotator marks "urgent" in the text they see; it is stored over the original.
    start = shown.index("urgent")
    annotation = annotation_submit(
        assignment=assignment,
        answers={"overall": 2, "marks": [{"start": start, "end": start + 6, "label": "bad", "generation": generation.pk}]},
    ).annotation
    original = generation.text.index("urgent")
    assert original != start
    assert annotation.answers["marks"] == [
        {"generation": generation.pk, "start": original, "end": original + 6, "label": "bad"}
    ]

    rating_project.pii_policy = "show"
    rating_project.save()
    other = add_annotator(rating_project)
    payload = assignment_payload(lease_next_item(other, rating_project), rating_project)
    assert "bob@example.org" in payload["item"]["responses"][0]["text"]
