"""The assignment engine: lease the next item, keep a lease alive, return expired leases.

Counting invariant (DESIGN.md 1), for every item at every commit:

    Item.active_count == live assignments + counted (non-surplus) annotations
                      <= Item.required_annotations

and no annotator ever holds two assignments for one item (unique (item, annotator)).
Qualification-quiz assignments are left out of the count: a quiz lease takes no slot
and its annotation is surplus (see `_QUIZ_CLAIM_SQL`).

Locking protocol — every function here and in `submission` follows it, which is why
no two of them can deadlock:

* `lease_next_item` takes a transaction-scoped advisory lock on (project, annotator)
  so one annotator's concurrent requests (two tabs, a double click, a retried call)
  run one after the other and never hold two leases. Other annotators are not
  blocked by it. It then claims an item with `SELECT … FOR NO KEY UPDATE SKIP
  LOCKED`: concurrent claimers skip a row another claimer holds instead of queueing
  on it, and the count check is re-evaluated on the locked, newest row version.
  While holding that row lock it raises `active_count` (guarded again in the UPDATE's
  WHERE) and inserts the assignment.
* Everything that ends an assignment (submit, skip, flag, the reaper) first locks the
  assignment row, then updates the item row. Locks are always taken assignment
  first, item second; a claim locks an item and only inserts a new assignment row.
* `FOR NO KEY UPDATE` rather than `FOR UPDATE`: the claim changes no key column, and
  this lock does not conflict with the key-share locks that inserting an annotation
  (a foreign key to the item) takes, so submissions never wait on claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.accounts.models import ProjectMembership
from apps.annotations.errors import (
    AnnotatorSuspended,
    AssignmentClosed,
    LeaseExpired,
    NotQualified,
    QueuePaused,
)
from apps.annotations.models import Assignment, AssignmentStatus, WorkspacePreference
from apps.items.models import Item, ItemState
from apps.projects.models import PiiPolicy, Project
from apps.quality.models import QualitySettings
from apps.quality.qualification import QualificationState, QualificationStatus, qualification_status

# Namespace of this module's advisory locks, so they cannot collide with other uses.
_LEASE_LOCK_NAMESPACE = 0x5645_5249  # "VERI"


def _advisory_key(project_id: int, annotator_id: int) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock(bigint), unique per (project, annotator)."""
    key = (_LEASE_LOCK_NAMESPACE << 40) ^ (project_id << 24) ^ annotator_id
    key &= (1 << 64) - 1
    return key - (1 << 64) if key >= 1 << 63 else key


def _start_of_day(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _gold_phase(annotator_id: int, project_id: int) -> float:
    """Where in the gold cycle this annotator starts, in [0, 1): spreads gold positions
    across annotators so the first (or every tenth) item is not predictably gold."""
    return ((annotator_id * 2654435761 + project_id * 40503) % 1000) / 1000


def gold_is_due(*, ratio: float, leased: int, gold_leased: int, phase: float) -> bool:
    """Whether the annotator's next lease should be a gold item.

    Bresenham-style interleave: after n leases the annotator should have had
    floor(ratio * n + phase) gold items. Serving gold whenever they are behind keeps
    the long-run rate exactly `ratio`, catches up when no gold item was available,
    and places gold at irregular, per-annotator positions.
    """
    if ratio <= 0:
        return False
    return gold_leased < math.floor(ratio * (leased + 1) + phase)


_STATS_SQL = f"""
SELECT
    count(*) FILTER (WHERE NOT a.is_qualification),
    count(*) FILTER (WHERE a.is_gold AND NOT a.is_qualification),
    count(*) FILTER (WHERE a.status IN ('{AssignmentStatus.LIVE}', '{AssignmentStatus.SUBMITTED}')
                       AND NOT a.is_qualification),
    count(*) FILTER (WHERE a.is_harmful AND a.leased_at >= %(day_start)s),
    max(a.id) FILTER (WHERE a.status = '{AssignmentStatus.LIVE}'),
    (SELECT p.harmful_opt_out FROM {WorkspacePreference._meta.db_table} p
      WHERE p.project_id = %(project)s AND p.annotator_id = %(annotator)s),
    (SELECT p.paused_at IS NOT NULL FROM {WorkspacePreference._meta.db_table} p
      WHERE p.project_id = %(project)s AND p.annotator_id = %(annotator)s),
    (SELECT m.suspended_at IS NOT NULL FROM accounts_projectmembership m
      WHERE m.project_id = %(project)s AND m.user_id = %(annotator)s),
    (SELECT q.qualification_required FROM {QualitySettings._meta.db_table} q WHERE q.project_id = %(project)s)
      AND EXISTS (SELECT 1 FROM accounts_projectmembership m
                  WHERE m.project_id = %(project)s AND m.user_id = %(annotator)s AND m.qualified_at IS NULL)
FROM {Assignment._meta.db_table} a
WHERE a.project_id = %(project)s AND a.annotator_id = %(annotator)s
"""

# One statement claims, counts and records a lease (one round trip on the hottest path):
# `claimed` scans items.item_queue_idx (project, is_gold, priority DESC, id) WHERE state =
# 'open', probing the (item, annotator) unique index for the anti-join, and row-locks the
# first free item (SKIP LOCKED); `bumped` raises its active_count, guarded again by the
# count check (re-evaluated on the newest row version); the INSERT records the lease.
# If `bumped` returns nothing, nothing is inserted.
_CLAIM_SQL = f"""
WITH claimed AS (
    SELECT i.id
    FROM {Item._meta.db_table} i
    WHERE i.project_id = %(project)s
      AND i.state = '{ItemState.OPEN}'
      AND i.is_gold = %(gold)s
      AND i.active_count < i.required_annotations
      {{extra}}
      AND NOT EXISTS (
          SELECT 1 FROM {Assignment._meta.db_table} a
          WHERE a.item_id = i.id AND a.annotator_id = %(annotator)s
      )
    ORDER BY i.priority DESC, i.id
    LIMIT 1
    FOR NO KEY UPDATE OF i SKIP LOCKED
), bumped AS (
    UPDATE {Item._meta.db_table} i SET active_count = i.active_count + 1
    FROM claimed c
    WHERE i.id = c.id AND i.active_count < i.required_annotations
    RETURNING i.id, i.is_gold, i.is_harmful
)
INSERT INTO {Assignment._meta.db_table}
    (created_at, updated_at, project_id, item_id, annotator_id, status, leased_at, expires_at,
     finished_at, is_qualification, is_gold, is_harmful)
SELECT %(now)s, %(now)s, %(project)s, b.id, %(annotator)s, '{AssignmentStatus.LIVE}', %(now)s, %(expires)s,
       NULL, false, b.is_gold, b.is_harmful
FROM bumped b
RETURNING *
"""

_RESUME_SQL = f"""
UPDATE {Assignment._meta.db_table} SET expires_at = %(expires)s, updated_at = %(now)s
WHERE id = %(id)s
RETURNING *
"""


def _claim_sql(template: str, *, exclude_pii: bool, exclude_harmful: bool) -> str:
    """`template` (_CLAIM_SQL or _QUIZ_CLAIM_SQL) with the project's and annotator's exclusions."""
    extra = []
    if exclude_pii:
        extra.append("AND NOT i.has_pii")
    if exclude_harmful:
        extra.append("AND NOT i.is_harmful")
    return template.format(extra="\n      ".join(extra))


# The qualification quiz: the lowest-id gold item (with gold answers) this annotator was never
# given, whatever its state, since every candidate answers the same quiz. A quiz lease takes
# no slot of the item (active_count is untouched) and its annotation is never counted: gold
# items are not work that needs answers, and the quiz must not close them for others.
_QUIZ_CLAIM_SQL = f"""
INSERT INTO {Assignment._meta.db_table}
    (created_at, updated_at, project_id, item_id, annotator_id, status, leased_at, expires_at,
     finished_at, is_qualification, is_gold, is_harmful)
SELECT %(now)s, %(now)s, %(project)s, i.id, %(annotator)s, '{AssignmentStatus.LIVE}', %(now)s, %(expires)s,
       NULL, true, true, i.is_harmful
FROM {Item._meta.db_table} i
WHERE i.project_id = %(project)s AND i.is_gold AND i.gold_answers IS NOT NULL
  AND i.state <> '{ItemState.ARCHIVED}'
  {{extra}}
  AND NOT EXISTS (
      SELECT 1 FROM {Assignment._meta.db_table} a WHERE a.item_id = i.id AND a.annotator_id = %(annotator)s
  )
ORDER BY i.id
LIMIT 1
RETURNING *
"""


def _quiz_status(annotator, project: Project) -> QualificationStatus | None:  # type: ignore[no-untyped-def]
    membership = ProjectMembership.objects.filter(project=project, user=annotator).select_related("project").first()
    return qualification_status(membership) if membership is not None else None


def _first(sql: str, params: dict[str, Any]) -> Assignment | None:
    rows = list(Assignment.objects.raw(sql, params))
    return rows[0] if rows else None


PAUSED_MESSAGE = "You are taking a break: your queue is paused. Resume when you are ready to continue."
NOT_QUALIFIED_MESSAGE = (
    "You did not reach the pass mark of this project's qualification quiz, so its main queue is closed "
    "to you. The project's managers can let you in."
)


def _quiz_details(status: QualificationStatus | None) -> dict[str, Any]:
    if status is None:
        return {}
    return {"answered": status.answered, "needed": status.needed, "score": status.score, "pass_mark": status.pass_mark}


@dataclass(frozen=True)
class LeaseOutcome:
    """What one lease attempt found, with the counts the workspace shows for free.

    `harmful_today`: items marked possibly harmful leased to the annotator today
    (including the one just leased), the number the exposure cap is checked against.
    """

    assignment: Assignment | None
    harmful_today: int
    paused: bool = False
    # Set while the annotator takes the project's qualification quiz (or failed it): the
    # workspace shows the quiz progress; gold answers are never part of it.
    qualification: QualificationStatus | None = None

    @property
    def not_qualified(self) -> bool:
        return self.qualification is not None and self.qualification.state == QualificationState.FAILED


def lease_next_item(annotator, project: Project, *, now: datetime | None = None) -> Assignment | None:  # type: ignore[no-untyped-def]
    """Lease the next item (see `lease_next`), or None when none is left.

    Raises AnnotatorSuspended for a suspended member and QueuePaused while the
    annotator takes a break.
    """
    outcome = lease_next(annotator, project, now=now)
    if outcome.paused:
        raise QueuePaused(PAUSED_MESSAGE)
    if outcome.not_qualified:
        raise NotQualified(NOT_QUALIFIED_MESSAGE, details=_quiz_details(outcome.qualification))
    return outcome.assignment


def lease_next(annotator, project: Project, *, now: datetime | None = None) -> LeaseOutcome:  # type: ignore[no-untyped-def]
    """Lease the best eligible item of `project` to `annotator` (outcome.assignment None when none is left).

    Resumes (and extends) the annotator's own live lease if there is one. Otherwise,
    in one transaction, claims the highest-priority open item that still needs
    annotations and that this annotator was never assigned (whatever became of that
    assignment: submitted, skipped, reported or expired), honouring the project's gold
    ratio, per-annotator cap, PII policy and harmful-content settings.

    Locks: an advisory lock on (project, annotator), then the claimed item's row
    (FOR NO KEY UPDATE SKIP LOCKED); see the module docstring. Raises
    AnnotatorSuspended for a suspended member; while the annotator's queue is paused
    nothing is leased and `paused` is set.
    """
    now = now or timezone.now()
    lease_length = timedelta(minutes=project.lease_minutes)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_advisory_key(project.pk, annotator.pk)])
        cursor.execute(
            _STATS_SQL, {"project": project.pk, "annotator": annotator.pk, "day_start": _start_of_day(now)}
        )
        (leased, gold_leased, counted, harmful_today, live_id, opt_out, paused, suspended,
         quiz_pending) = cursor.fetchone()
        if suspended:
            raise AnnotatorSuspended(
                "Your work in this project is paused by the project's managers; contact them to continue."
            )
        if paused:
            return LeaseOutcome(None, harmful_today, paused=True)
        if live_id is not None:
            # A live lease is never given up by asking again: the annotator gets the same
            # item back (reload, second tab, re-login), with a fresh expiry.
            resumed = _first(_RESUME_SQL, {"id": live_id, "expires": now + lease_length, "now": now})
            quiz = _quiz_status(annotator, project) if resumed is not None and resumed.is_qualification else None
            return LeaseOutcome(resumed, harmful_today, qualification=quiz)
        if project.archived_at is not None:
            return LeaseOutcome(None, harmful_today)
        if project.per_annotator_cap is not None and counted >= project.per_annotator_cap:
            return LeaseOutcome(None, harmful_today)

        exclude_harmful = bool(opt_out and project.allow_harmful_opt_out) or (
            project.harmful_exposure_cap is not None and harmful_today >= project.harmful_exposure_cap
        )
        exclude_pii = project.pii_policy == PiiPolicy.EXCLUDE
        params = {"project": project.pk, "annotator": annotator.pk, "now": now, "expires": now + lease_length}
        if quiz_pending:
            quiz = _quiz_status(annotator, project)
            if quiz is not None and not quiz.may_annotate:
                assignment = None
                if quiz.state != QualificationState.FAILED:
                    quiz_sql = _claim_sql(_QUIZ_CLAIM_SQL, exclude_pii=exclude_pii, exclude_harmful=exclude_harmful)
                    assignment = _first(quiz_sql, params)
                if assignment is not None and assignment.is_harmful:
                    harmful_today += 1
                return LeaseOutcome(assignment, harmful_today, qualification=quiz)
        sql = _claim_sql(_CLAIM_SQL, exclude_pii=exclude_pii, exclude_harmful=exclude_harmful)
        prefer_gold = gold_is_due(
            ratio=project.gold_ratio,
            leased=leased,
            gold_leased=gold_leased,
            phase=_gold_phase(annotator.pk, project.pk),
        )
        # Gold is served only when due, so an annotator who has finished the real work is
        # not kept busy answering test questions; when gold is due but none is left, the
        # real item is served and the next lease catches up.
        assignment = _first(sql, {**params, "gold": True}) if prefer_gold else None
        if assignment is None:
            assignment = _first(sql, {**params, "gold": False})
        if assignment is not None and assignment.is_harmful:
            harmful_today += 1
        return LeaseOutcome(assignment, harmful_today)


def item_still_needs_annotation(item_id: int) -> bool:
    """Whether a returned lease's item could still count one more annotation (a read, no lock)."""
    return Item.objects.filter(
        pk=item_id, state=ItemState.OPEN, active_count__lt=F("required_annotations")
    ).exists()


def assignment_heartbeat(*, assignment: Assignment, now: datetime | None = None) -> datetime:
    """Extend a live lease by the project's lease length; returns the new expiry.

    A single conditional UPDATE (row lock for its duration): if the reaper returned the
    lease first, nothing changes and LeaseExpired says whether a submission would still
    count.
    """
    now = now or timezone.now()
    expires_at = now + timedelta(minutes=assignment.project.lease_minutes)
    updated = Assignment.objects.filter(pk=assignment.pk, status=AssignmentStatus.LIVE).update(
        expires_at=expires_at, updated_at=now
    )
    if not updated:
        current = Assignment.objects.filter(pk=assignment.pk).values_list("status", flat=True).first()
        if current != AssignmentStatus.EXPIRED:
            raise AssignmentClosed(
                "This item is finished (submitted, skipped or reported); there is no lease to extend.",
                details={"status": current},
            )
        still_needed = item_still_needs_annotation(assignment.item_id)
        raise LeaseExpired(
            "Your time on this item ran out and it went back to the pool. You can still submit: "
            + (
                "it still needs an answer, so yours will count."
                if still_needed
                else "it has enough answers now, so yours will be kept for the researcher but not counted."
            ),
            details={"still_needed": still_needed},
        )
    assignment.expires_at = expires_at
    return expires_at


def leases_expire(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Return every lease that expired before `now` to the pool; returns how many.

    Each batch locks the expired assignment rows (SKIP LOCKED, so a submission holding
    one wins and the reaper moves on), marks them expired and lowers each item's
    `active_count` under the item's row lock, items in id order so two reapers cannot
    deadlock. Drafts are kept: the annotator may still submit late.
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Assignment.objects.select_for_update(skip_locked=True)
                .filter(status=AssignmentStatus.LIVE, expires_at__lt=now)
                .order_by("expires_at")
                .values_list("id", "item_id", "is_qualification")[:batch_size]
            )
            if not rows:
                return total
            Assignment.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
                status=AssignmentStatus.EXPIRED, finished_at=now, updated_at=now
            )
            per_item: dict[int, int] = {}
            for _, item_id, quiz in rows:
                if not quiz:  # a quiz lease never took a slot of its item
                    per_item[item_id] = per_item.get(item_id, 0) + 1
            for item_id in sorted(per_item):
                Item.objects.filter(pk=item_id).update(
                    active_count=Greatest(F("active_count") - per_item[item_id], 0)
                )
            total += len(rows)
        if len(rows) < batch_size:
            return total
