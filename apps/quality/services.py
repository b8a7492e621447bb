"""Writes of the quality app: settings, gold, reviews, suspensions, qualification, recomputes.

Entry points for the annotator workspace (apps.annotations):
    quality_after_submit(annotation_id=...)   call after a submission commits (dynamic overlap,
                                              qualification, debounced recompute)
and the reads in apps.quality.qualification (qualification_status(membership),
qualification_items(membership)) and apps.quality.selectors (gold_feedback(annotation)).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Annotation, Flag, Review, ReviewDecision
from apps.audit.services import audit_record
from apps.core.models import JobStatus
from apps.items.models import Item
from apps.projects.schema import AnswerError, validate_answers
from apps.quality.models import (
    GoldNote,
    ItemAggregate,
    QualitySettings,
    QualitySnapshot,
    SuspensionEvent,
    SuspensionKind,
)
from apps.quality.recompute import items_refresh, project_recompute, settings_for

logger = logging.getLogger(__name__)

RECOMPUTE_DELAY_SECONDS = 30
_LOCK_CLASS = 0x5157  # advisory-lock namespace for quality recomputes ("QW")


@dataclass
class QualityError(Exception):
    """Bad input to a quality action; `details` names the fields."""

    code: str
    message: str
    details: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.message


# --- settings ------------------------------------------------------------------------


SETTINGS_FIELDS = (
    "qualification_required", "qualification_size", "qualification_pass_mark", "training_feedback",
    "rating_tolerance", "span_f1_pass", "ranking_tau_pass", "auto_suspend", "min_gold_accuracy",
    "gold_min_answers", "min_agreement", "agreement_min_answers", "max_too_fast_share", "too_fast_min_answers",
)


def quality_settings_update(*, project, values: dict[str, Any]) -> QualitySettings:  # type: ignore[no-untyped-def]
    """Apply the given fields (others unchanged); raises QualityError naming each bad field."""
    from django.core.exceptions import ValidationError

    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise QualityError("invalid_settings", f"Unknown setting: {', '.join(sorted(unknown))}.",
                           {name: "not a quality setting" for name in sorted(unknown)})
    with transaction.atomic():
        current, _ = QualitySettings.objects.select_for_update().get_or_create(project=project)
        for name, value in values.items():
            setattr(current, name, value)
        try:
            current.full_clean(exclude=["project"])
        except ValidationError as exc:
            details = {name: "; ".join(messages) for name, messages in exc.message_dict.items()}
            name, message = next(iter(details.items()))
            raise QualityError("invalid_settings", f"{name}: {message}", details) from None
        current.save()
    recompute_schedule(project_id=project.pk, delay=5)
    return current


# --- recomputes ----------------------------------------------------------------------


def _pending_key(project_id: int) -> str:
    return f"quality:recompute-pending:{project_id}"


def recompute_schedule(*, project_id: int, delay: int = RECOMPUTE_DELAY_SECONDS) -> bool:
    """Queue a full recompute in `delay` seconds unless one is already waiting (debounce).

    Many submissions in a burst queue one task; the task clears the marker when it
    starts, so work submitted during a run schedules the next one.
    """
    if not cache.add(_pending_key(project_id), "1", timeout=delay + 900):
        return False
    QualitySnapshot.objects.get_or_create(project_id=project_id)
    QualitySnapshot.objects.filter(project_id=project_id).exclude(status=JobStatus.RUNNING).update(
        status=JobStatus.QUEUED, queued_at=timezone.now()
    )

    def send() -> None:
        from apps.quality.tasks import quality_recompute

        quality_recompute.apply_async((project_id,), countdown=delay)

    transaction.on_commit(send)
    return True


def snapshot_recompute(*, project_id: int) -> QualitySnapshot | None:
    """Run the full recompute for the project, recording status, progress and figures.

    Holds a session advisory lock per project so two workers never recompute the
    same project at once; the loser re-queues itself. Returns None when skipped.
    """
    from apps.projects.models import Project

    cache.delete(_pending_key(project_id))
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, project_id])
        if not cursor.fetchone()[0]:
            recompute_schedule(project_id=project_id)
            return None
    try:
        snapshot, _ = QualitySnapshot.objects.get_or_create(project=project)
        started = timezone.now()
        QualitySnapshot.objects.filter(pk=snapshot.pk).update(
            status=JobStatus.RUNNING, started_at=started, stage="Starting", progress=1, error=""
        )

        def progress(stage: str, percent: int) -> None:
            QualitySnapshot.objects.filter(pk=snapshot.pk).update(stage=stage, progress=percent)

        clock = time.perf_counter()
        try:
            figures = project_recompute(project=project, progress=progress)
        except Exception as exc:
            logger.exception("quality recompute of project %s failed", project_id)
            QualitySnapshot.objects.filter(pk=snapshot.pk).update(
                status=JobStatus.FAILED, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:2000],
                stage="Failed", progress=100,
            )
            return QualitySnapshot.objects.get(pk=snapshot.pk)
        QualitySnapshot.objects.filter(pk=snapshot.pk).update(
            status=JobStatus.SUCCEEDED, finished_at=timezone.now(), computed_at=timezone.now(),
            duration_ms=int((time.perf_counter() - clock) * 1000), figures=figures, stage="Done", progress=100,
            last_annotation_id=figures.get("last_annotation_id", 0),
        )
        return QualitySnapshot.objects.get(pk=snapshot.pk)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, project_id])


def quality_after_submit(*, annotation_id: int) -> None:
    """What quality does after each submission: refresh the item (dynamic overlap), judge the
    qualification quiz if the annotator is taking it, and debounce a full recompute.

    Call it after the submission's transaction commits (e.g. from transaction.on_commit
    or the `quality_after_submit` task).
    """
    annotation = Annotation.objects.select_related("project", "item").filter(pk=annotation_id).first()
    if annotation is None:
        return
    project = annotation.project
    items_refresh(project=project, item_ids=[annotation.item_id])
    if annotation.item.is_gold:
        membership = ProjectMembership.objects.filter(project=project, user_id=annotation.annotator_id).first()
        if membership is not None:
            qualification_record(membership=membership)
    recompute_schedule(project_id=project.pk)


# --- suspension ----------------------------------------------------------------------


def annotator_suspend(
    *, project, annotator_id: int, reason: str, automatic: bool = False, metrics: dict | None = None,  # type: ignore[no-untyped-def]
    by=None, kind: str = SuspensionKind.SUSPENDED, schedule: bool = True,  # type: ignore[no-untyped-def]
) -> bool:
    """Suspend an active member: their annotations stay stored but leave aggregation.

    Returns False when they were already suspended (or are not a member). The
    unacknowledged SuspensionEvent is the researchers' notice.
    """
    reason = (reason or "Suspended by a researcher.")[:500]
    with transaction.atomic():
        updated = ProjectMembership.objects.filter(
            project=project, user_id=annotator_id, suspended_at__isnull=True
        ).update(suspended_at=timezone.now(), suspended_reason=reason)
        if not updated:
            return False
        SuspensionEvent.objects.create(
            project=project, annotator_id=annotator_id, kind=kind, automatic=automatic, reason=reason,
            metrics=metrics or {}, created_by=by,
        )
        audit_record(actor=by, action="membership.suspended", project=project, subject_user=annotator_id,
                     actor_label=None if by is not None else "quality checks",
                     detail={"reason": reason, "automatic": automatic, "kind": str(kind)})
    logger.warning("project %s: annotator %s suspended (%s)", project.pk, annotator_id, reason)
    if schedule:
        recompute_schedule(project_id=project.pk, delay=5)
    return True


def annotator_reinstate(*, project, annotator_id: int, by, note: str = "") -> bool:  # type: ignore[no-untyped-def]
    """Lift a suspension. Later automatic checks judge only work submitted after this moment."""
    now = timezone.now()
    with transaction.atomic():
        membership = ProjectMembership.objects.select_for_update().filter(
            project=project, user_id=annotator_id, suspended_at__isnull=False
        ).first()
        if membership is None:
            return False
        membership.suspended_at = None
        membership.suspended_reason = ""
        if membership.qualified_at is None and settings_for(project).qualification_required:
            membership.qualified_at = now  # the researcher's decision overrides a failed quiz
        membership.save(update_fields=["suspended_at", "suspended_reason", "qualified_at", "updated_at"])
        SuspensionEvent.objects.filter(project=project, annotator_id=annotator_id, acknowledged_at__isnull=True).update(
            acknowledged_at=now
        )
        SuspensionEvent.objects.create(
            project=project, annotator_id=annotator_id, kind=SuspensionKind.REINSTATED, automatic=False,
            reason=(note or "Reinstated by a researcher.")[:500], created_by=by, acknowledged_at=now,
        )
        audit_record(actor=by, action="membership.reinstated", target=membership, project=project,
                     subject_user=annotator_id, detail={"note": note})
    recompute_schedule(project_id=project.pk, delay=5)
    return True


def notices_acknowledge(*, project, event_ids: list[int] | None = None) -> int:  # type: ignore[no-untyped-def]
    events = SuspensionEvent.objects.filter(project=project, acknowledged_at__isnull=True)
    if event_ids is not None:
        events = events.filter(pk__in=event_ids)
    return events.update(acknowledged_at=timezone.now())


# --- qualification -------------------------------------------------------------------


def qualification_record(*, membership: ProjectMembership):  # type: ignore[no-untyped-def]
    """Judge the quiz once it is complete: pass → qualified_at; fail → suspended with a notice."""
    from apps.quality.qualification import QualificationState, qualification_status

    status = qualification_status(membership)
    if status.state == QualificationState.PASSED and membership.qualified_at is None:
        ProjectMembership.objects.filter(pk=membership.pk, qualified_at__isnull=True).update(qualified_at=timezone.now())
        membership.refresh_from_db(fields=["qualified_at"])
    elif status.state == QualificationState.FAILED and membership.suspended_at is None:
        annotator_suspend(
            project=membership.project, annotator_id=membership.user_id, kind=SuspensionKind.QUALIFICATION_FAILED,
            automatic=True, metrics={"score": status.score, "answered": status.answered, "pass_mark": status.pass_mark},
            reason=(f"Did not pass the qualification quiz: {status.score * 100:.0f}% on {status.answered} gold items "
                    f"(pass mark {status.pass_mark * 100:.0f}%)."),
        )
        membership.refresh_from_db(fields=["suspended_at", "suspended_reason"])
    return status


# --- gold ---------------------------------------------------------------------------------


def _item_context(item: Item) -> dict[str, Any]:
    generations = item.ordered_generations()
    return {
        "generation_ids": [g.pk for g in generations],
        "texts": {g.pk: g.text for g in generations},
        "prompt_text": item.prompt.text,
    }


def _clean_answers(project, item: Item, answers: Any, field_name: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    try:
        cleaned = validate_answers(project.questions or [], answers, partial=True, **_item_context(item))
    except AnswerError as exc:
        path, message = next(iter(exc.errors.items()))
        raise QualityError("invalid_answers", f"{field_name}.{path}: {message}",
                           {f"{field_name}.{k}": v for k, v in exc.errors.items()}) from None
    if not cleaned:
        raise QualityError("invalid_answers", f"{field_name}: give at least one answer, keyed by question id.",
                           {field_name: "no answers for this project's questions"})
    return cleaned


def gold_set(*, project, item: Item, is_gold: bool, gold_answers: Any = None, explanation: str | None = None, by=None) -> Item:  # type: ignore[no-untyped-def]
    """Mark or unmark an item as gold. Gold answers are validated like an annotation (partially:
    only the questions given are scored)."""
    cleaned = _clean_answers(project, item, gold_answers, "gold_answers") if is_gold else None
    with transaction.atomic():
        Item.objects.filter(pk=item.pk).update(is_gold=is_gold, gold_answers=cleaned, updated_at=timezone.now())
        if explanation is not None:
            GoldNote.objects.update_or_create(item=item, defaults={"explanation": explanation[:5000], "updated_by": by})
    item.refresh_from_db(fields=["is_gold", "gold_answers"])
    items_refresh(project=project, item_ids=[item.pk])
    recompute_schedule(project_id=project.pk)
    return item


# --- review -------------------------------------------------------------------------------


def review_record(
    *, project, item: Item, reviewer, decision: str, note: str = "",  # type: ignore[no-untyped-def]
    annotation_id: int | None = None, answers: Any = None,
) -> Review:
    """Record a reviewer's decision; the item's aggregate is refreshed at once.

    accept   with an annotation: its answers become the item's answer; without: the
             current aggregated answer is confirmed.
    correct  the reviewer's own answers (validated against the schema) become the answer.
    reject   an annotation is set aside (kept, excluded from aggregation).
    Open flags on the item are resolved by any decision.
    """
    if decision not in ReviewDecision.values:
        raise QualityError("invalid_decision", f"decision must be one of {', '.join(ReviewDecision.values)}.",
                           {"decision": "unknown decision"})
    annotation = None
    if annotation_id is not None:
        annotation = Annotation.objects.filter(pk=annotation_id, item=item, project=project).first()
        if annotation is None:
            raise QualityError("invalid_annotation", "annotation: not an annotation of this item.",
                               {"annotation": "not an annotation of this item"})
    stored: dict[str, Any] | None = None
    if decision == ReviewDecision.ACCEPT:
        if annotation is not None:
            stored = dict(annotation.answers)
        else:
            aggregate = ItemAggregate.objects.filter(item=item).first()
            if item.is_gold:
                raise QualityError("gold_item", "A gold item's answer is its gold answer; a manager edits it "
                                   "in the item's gold section.")
            if aggregate is None or not aggregate.answers:
                raise QualityError("nothing_to_accept", "This item has no aggregated answer yet; correct it instead.")
            stored = dict(aggregate.answers)
    elif decision == ReviewDecision.CORRECT:
        stored = _clean_answers(project, item, answers, "answers")
    elif annotation is None:
        raise QualityError("invalid_annotation", "annotation: say which annotation to reject.",
                           {"annotation": "required when rejecting"})
    review = Review(project=project, item=item, reviewer=reviewer, annotation=annotation, decision=decision,
                    answers=stored, note=(note or "")[:5000])
    with transaction.atomic():
        review.full_clean()
        review.save()
        audit_record(actor=reviewer, action="review.recorded", target=review, project=project,
                     detail={"item": item.pk, "decision": decision, "annotation": annotation_id})
        Flag.objects.filter(item=item, resolved_at__isnull=True).update(resolved_at=timezone.now())
    items_refresh(project=project, item_ids=[item.pk])
    recompute_schedule(project_id=project.pk)
    return review
