"""Writes of the annotations app: the assignment engine and everything an annotator does.

`leasing` holds the engine and its locking protocol; `submission` ends assignments
(submit, skip, report) and saves drafts; `workspace` keeps per-annotator state.
"""

from apps.annotations.services.leasing import (
    LeaseOutcome,
    assignment_heartbeat,
    gold_is_due,
    item_still_needs_annotation,
    lease_next,
    lease_next_item,
    leases_expire,
)
from apps.annotations.services.submission import (
    SKIP_REASONS,
    SubmitResult,
    annotation_submit,
    answers_fingerprint,
    assignment_flag,
    assignment_release,
    assignment_skip,
    draft_save,
)
from apps.annotations.services.workspace import (
    guidelines_mark_seen,
    queue_pause,
    queue_resume,
    workspace_preference_set,
)

__all__ = [
    "SKIP_REASONS",
    "LeaseOutcome",
    "SubmitResult",
    "annotation_submit",
    "answers_fingerprint",
    "assignment_flag",
    "assignment_heartbeat",
    "assignment_release",
    "assignment_skip",
    "draft_save",
    "gold_is_due",
    "guidelines_mark_seen",
    "item_still_needs_annotation",
    "lease_next",
    "lease_next_item",
    "leases_expire",
    "queue_pause",
    "queue_resume",
    "workspace_preference_set",
]
