"""Drafts, submissions, skips and reports for one assignment.

Each function that ends an assignment locks the assignment row first and the item
row second (see `leasing` for the whole protocol), and keeps

    Item.active_count == live assignments + counted (non-surplus) annotations.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.annotations.errors import AssignmentClosed, IdempotencyConflict, InvalidInput
from apps.annotations.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Draft,
    Flag,
    FlagCategory,
    Skip,
)
from apps.annotations.selectors import item_content
from apps.items.models import Item, ItemState
from apps.projects.schema import validate_answers

logger = logging.getLogger(__name__)

MAX_DRAFT_BYTES = 512 * 1024
MAX_IDEMPOTENCY_KEY = 200
_INT_MAX = 2**31 - 1

SKIP_REASONS = {
    "unsure": "I am not sure how to judge this",
    "expertise": "It needs expertise I do not have",
    "unreadable": "I cannot read or understand it",
    "too_long": "It is too long to judge carefully",
}


def answers_fingerprint(answers: Any) -> str:
    """A stable hash of a submission's answers: key order and whitespace do not matter."""
    canonical = json.dumps(answers, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock(assignment: Assignment) -> Assignment:
    """Lock the assignment row (the first lock of every write here). A row that is gone was
    deleted with its item by the project's managers while the annotator held it."""
    locked = Assignment.objects.select_for_update().filter(pk=assignment.pk).first()
    if locked is None:
        raise AssignmentClosed(
            "This item was removed from the project while you had it open; your answer was not needed.",
            details={"status": "deleted"},
        )
    return locked


def _release_slot(assignment: Assignment) -> None:
    """A live lease ends without an answer: the item gets its slot back (a quiz lease took none)."""
    if not assignment.is_qualification:
        Item.objects.filter(pk=assignment.item_id).update(active_count=Greatest(F("active_count") - 1, 0))


# Every write of a submission in one statement (the assignment row is already locked):
# count the annotation on the item (completing it when it has all it needs; a late
# submission whose lease was returned takes a slot again), close the assignment, drop the
# draft, store the annotation. SQL evaluates every SET expression on the old row, hence
# `annotation_count + 1 >= required_annotations`. A surplus submission touches no count.
_SUBMIT_SQL = f"""
WITH counted AS (
    UPDATE {Item._meta.db_table}
    SET annotation_count = annotation_count + 1,
        active_count = active_count + %(new_slot)s,
        state = CASE WHEN state = '{ItemState.OPEN}' AND annotation_count + 1 >= required_annotations
                     THEN '{ItemState.COMPLETED}' ELSE state END
    WHERE id = %(item)s AND %(counted)s
    RETURNING id
), closed AS (
    UPDATE {Assignment._meta.db_table}
    SET status = '{AssignmentStatus.SUBMITTED}', finished_at = %(now)s, updated_at = %(now)s
    WHERE id = %(assignment)s
    RETURNING id
), dropped AS (
    DELETE FROM {Draft._meta.db_table} WHERE assignment_id = %(assignment)s RETURNING id
)
INSERT INTO {Annotation._meta.db_table}
    (project_id, item_id, annotator_id, assignment_id, answers, time_spent_ms, guideline_version,
     idempotency_key, request_fingerprint, submitted_at, late, surplus, too_fast)
VALUES (%(project)s, %(item)s, %(annotator)s, %(assignment)s, %(answers)s::jsonb, %(spent)s,
        %(guideline_version)s, %(key)s, %(fingerprint)s, %(now)s, %(late)s, %(surplus)s, %(too_fast)s)
RETURNING *
"""


def draft_save(*, assignment: Assignment, answers: Any, active_ms: int = 0) -> Draft:
    """Store the annotator's partial answers as they are (no validation: nothing typed is lost).

    Allowed while the lease is live and after it expired (a late submission may follow);
    keys that are not questions of the project are dropped.
    """
    if not isinstance(answers, dict):
        raise InvalidInput("answers must be an object keyed by question id.", details={"answers": "must be an object"})
    if assignment.status not in (AssignmentStatus.LIVE, AssignmentStatus.EXPIRED):
        raise AssignmentClosed(
            f"This item was already {assignment.get_status_display().lower()}; the draft was not saved.",
            details={"status": assignment.status},
        )
    known = {question.get("id") for question in assignment.project.questions}
    answers = {key: value for key, value in answers.items() if key in known}
    if len(json.dumps(answers, default=str)) > MAX_DRAFT_BYTES:
        raise InvalidInput(
            f"The draft is larger than {MAX_DRAFT_BYTES // 1024} KB.", details={"answers": "too large"}
        )
    if isinstance(active_ms, bool) or not isinstance(active_ms, int) or active_ms < 0:
        raise InvalidInput("active_ms must be a whole number of milliseconds.", details={"active_ms": "invalid"})
    now = timezone.now()
    draft = Draft(assignment_id=assignment.pk, answers=answers, active_ms=min(active_ms, _INT_MAX), updated_at=now)
    # One upsert statement: autosave runs every few seconds per annotator.
    Draft.objects.bulk_create(
        [draft], update_conflicts=True, unique_fields=["assignment"], update_fields=["answers", "active_ms", "updated_at"]
    )
    return draft


@dataclass(frozen=True)
class SubmitResult:
    annotation: Annotation
    replayed: bool
    qualification: bool = False  # an answer in the qualification quiz (judged, never counted)

    @property
    def outcome(self) -> str:
        if self.qualification:
            return "qualification"
        if self.annotation.surplus:
            return "surplus"
        return "accepted_late" if self.annotation.late else "accepted"


def annotation_submit(
    *,
    assignment: Assignment,
    answers: Any,
    time_spent_ms: int | None = None,
    idempotency_key: str = "",
    now: datetime | None = None,
) -> SubmitResult:
    """Validate and store the answers for an assignment, exactly once.

    Idempotent per assignment (and per `idempotency_key` when given): a repeat with the
    same answers returns the stored annotation (`replayed`); different answers raise
    IdempotencyConflict. On a live lease the annotation counts. On a lease the reaper
    already returned it counts (late) if the item still needs one, and is otherwise
    kept as a surplus record for the researcher and not counted.

    Locks: the assignment row (FOR UPDATE) — concurrent replays queue there — then,
    for an expired lease, the item row. Raises AnswerError (field-level), AssignmentClosed,
    IdempotencyConflict.
    """
    now = now or timezone.now()
    project = assignment.project
    idempotency_key = (idempotency_key or "").strip()
    if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(
            f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters.",
            details={"Idempotency-Key": "too long"},
        )
    fingerprint = answers_fingerprint(answers)
    with transaction.atomic():
        locked = _lock(assignment)
        # Read after the lock in a statement of its own, on purpose: under READ COMMITTED a
        # join in the locking query would read the annotation from the snapshot taken
        # *before* waiting for the lock, and miss the one a concurrent replay just committed.
        content = item_content(
            item_id=locked.item_id, project=project, assignment_id=locked.pk, with_submission=True
        )
        if content.submitted_id is not None:
            if content.submitted_fingerprint != fingerprint:
                raise IdempotencyConflict(
                    "This item was already submitted with different answers; the first submission stands.",
                    details={"annotation": content.submitted_id},
                )
            return SubmitResult(
                annotation=Annotation.objects.get(pk=content.submitted_id), replayed=True,
                qualification=locked.is_qualification,
            )
        if locked.status in (AssignmentStatus.SKIPPED, AssignmentStatus.FLAGGED):
            raise AssignmentClosed(
                f"This item was {locked.get_status_display().lower()}, so it takes no answers.",
                details={"status": locked.status},
            )
        if idempotency_key and Annotation.objects.filter(
            annotator_id=locked.annotator_id, idempotency_key=idempotency_key
        ).exists():
            raise IdempotencyConflict(
                "This Idempotency-Key was already used for another submission; use a new key per item.",
                details={"Idempotency-Key": idempotency_key},
            )
        # Span offsets come over the text as shown (redacted under the PII policy); the
        # stored answer is over the original text, as apps.projects.schema specifies.
        cleaned = validate_answers(
            project.questions,
            content.spans_to_original(project.questions, answers),
            generation_ids=content.generation_ids,
            texts=content.original_texts,
            prompt_text=content.original_prompt_text,
        )

        counted, takes_new_slot = True, False
        late = locked.status == AssignmentStatus.EXPIRED or now > locked.expires_at
        if locked.is_qualification:
            # A quiz answer is judged by the quiz, never counted on the gold item.
            counted = False
        elif locked.status != AssignmentStatus.LIVE:
            # The reaper returned this lease: it counts only if the item still has room.
            item = (
                Item.objects.select_for_update(no_key=True)
                .only("state", "active_count", "required_annotations")
                .get(pk=locked.item_id)
            )
            counted = item.state == ItemState.OPEN and item.active_count < item.required_annotations
            takes_new_slot = counted
        # (A live lease's slot simply becomes the annotation's slot, even past its expiry
        # while not yet reaped: the slot was never given back.)

        elapsed_ms = max(int((now - locked.leased_at).total_seconds() * 1000), 0)
        if time_spent_ms is None:
            time_spent_ms = (content.draft.active_ms if content.draft else 0) or elapsed_ms
        # Active time can not exceed the time since the lease began.
        spent = max(0, min(int(time_spent_ms), elapsed_ms, _INT_MAX))
        params = {
            "project": locked.project_id,
            "item": locked.item_id,
            "annotator": locked.annotator_id,
            "assignment": locked.pk,
            "answers": json.dumps(cleaned),
            "spent": spent,
            "guideline_version": content.guideline_version,
            "key": idempotency_key,
            "fingerprint": fingerprint,
            "now": now,
            "late": late,
            "surplus": not counted,
            "too_fast": spent < project.min_seconds_per_item * 1000,
            "counted": counted,
            "new_slot": 1 if takes_new_slot else 0,
        }
        # Inputs were validated above; the constraints are the database's own.
        if idempotency_key:
            # Two different items submitted at once with one key: the constraint decides.
            try:
                with transaction.atomic():
                    annotation = next(iter(Annotation.objects.raw(_SUBMIT_SQL, params)))
            except IntegrityError:
                raise IdempotencyConflict(
                    "This Idempotency-Key was already used for another submission; use a new key per item.",
                    details={"Idempotency-Key": idempotency_key},
                ) from None
        else:
            annotation = next(iter(Annotation.objects.raw(_SUBMIT_SQL, params)))
    annotation_id = annotation.pk
    # Quality control reacts to each committed submission at once: dynamic overlap may raise
    # the item's required count, the qualification quiz is judged, a recompute is debounced.
    transaction.on_commit(lambda: _quality_after_submit(annotation_id))
    return SubmitResult(annotation=annotation, replayed=False, qualification=locked.is_qualification)


def _quality_after_submit(annotation_id: int) -> None:
    from apps.quality.tasks import after_submit_enqueue

    try:
        after_submit_enqueue(annotation_id)
    except Exception:  # the answer is stored; the periodic quality sweep catches up
        logger.warning("could not queue quality.after_submit for annotation %s", annotation_id, exc_info=True)


def _reason_text(reason: Any, *, field: str, limit: int, required: bool) -> str:
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise InvalidInput(f"{field} must be text.", details={field: "must be text"})
    reason = reason.strip()
    if required and not reason:
        raise InvalidInput(f"Say why ({field} is required).", details={field: "is required"})
    if len(reason) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters.", details={field: f"at most {limit} characters"})
    return reason


def assignment_skip(*, assignment: Assignment, reason: Any, now: datetime | None = None) -> Skip:
    """Skip with a reason (a key of SKIP_REASONS or free text). The annotator never gets the item again.

    Idempotent: skipping a skipped assignment returns the first Skip. Locks the
    assignment row, then the item row when a live lease gives its slot back.
    """
    now = now or timezone.now()
    text = _reason_text(reason, field="reason", limit=500, required=True)
    text = SKIP_REASONS.get(text, text)
    with transaction.atomic():
        locked = _lock(assignment)
        if locked.status == AssignmentStatus.SKIPPED:
            return Skip.objects.get(assignment_id=locked.pk)
        if locked.status not in (AssignmentStatus.LIVE, AssignmentStatus.EXPIRED):
            raise AssignmentClosed(
                f"This item was already {locked.get_status_display().lower()}; it can not be skipped now.",
                details={"status": locked.status},
            )
        if locked.status == AssignmentStatus.LIVE:
            _release_slot(locked)
        Assignment.objects.filter(pk=locked.pk).update(status=AssignmentStatus.SKIPPED, finished_at=now, updated_at=now)
        Draft.objects.filter(assignment_id=locked.pk).delete()
        return Skip.objects.create(assignment_id=locked.pk, reason=text)


def assignment_release(*, assignment: Assignment, now: datetime | None = None) -> bool:
    """Give a live lease back to the pool without an answer or a skip (the annotator takes a break).

    The assignment ends as expired, exactly as if its time had run out: the item's slot
    is freed for other annotators, the draft is kept and a late submission is still
    accepted. Returns whether a live lease was released. Locks the assignment row,
    then the item row.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(assignment)
        if locked.status != AssignmentStatus.LIVE:
            return False
        _release_slot(locked)
        Assignment.objects.filter(pk=locked.pk).update(status=AssignmentStatus.EXPIRED, finished_at=now, updated_at=now)
        return True


def assignment_flag(*, assignment: Assignment, category: Any, reason: Any = "", now: datetime | None = None) -> Flag:
    """Report the item's content. It is hidden from this annotator and queued for review.

    A report of harmful content marks the item harmful, so later annotators see it
    behind the content warning and the project's exposure cap applies. Idempotent per
    (item, annotator). Locks the assignment row, then the item row.
    """
    now = now or timezone.now()
    if category not in FlagCategory.values:
        raise InvalidInput(
            f"category must be one of {', '.join(FlagCategory.values)}.",
            details={"category": f"choose one of {', '.join(FlagCategory.values)}"},
        )
    text = _reason_text(reason, field="reason", limit=1000, required=category == FlagCategory.OTHER)
    with transaction.atomic():
        locked = _lock(assignment)
        existing = Flag.objects.filter(item_id=locked.item_id, annotator_id=locked.annotator_id).first()
        if existing is not None:
            return existing
        if locked.status == AssignmentStatus.LIVE:
            _release_slot(locked)
        if locked.status in (AssignmentStatus.LIVE, AssignmentStatus.EXPIRED):
            Assignment.objects.filter(pk=locked.pk).update(
                status=AssignmentStatus.FLAGGED, finished_at=now, updated_at=now
            )
            Draft.objects.filter(assignment_id=locked.pk).delete()
        if category == FlagCategory.HARMFUL:
            Item.objects.filter(pk=locked.item_id, is_harmful=False).update(is_harmful=True)
        return Flag.objects.create(
            project_id=locked.project_id,
            item_id=locked.item_id,
            annotator_id=locked.annotator_id,
            category=category,
            reason=text or FlagCategory(category).label,
        )
