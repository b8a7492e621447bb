"""Writes of the annotations app: the assignment engine and everything an annotator does.

`leasing` holds the engine and its locking protocol; `submission` ends assignments
(submit, skip, report) and saves drafts; `workspace` keeps per-annotator state.
"""

from apps.annotations.services.leasing import (
    assignment_heartbeat,
    gold_is_due,
    item_still_needs_annotation,
    lease_next_item,
    leases_expire,
)
from apps.annotations.services.submission import (
    SKIP_REASONS,
    SubmitResult,
    annotation_submit,
    answers_fingerprint,
    assignment_flag,
    assignment_skip,
    draft_save,
)
from apps.annotations.services.workspace import guidelines_mark_seen, workspace_preference_set

__all__ = [
    "SKIP_REASONS",
    "SubmitResult",
    "annotation_submit",
    "answers_fingerprint",
    "assignment_flag",
    "assignment_heartbeat",
    "assignment_skip",
    "draft_save",
    "gold_is_due",
    "guidelines_mark_seen",
    "item_still_needs_annotation",
    "lease_next_item",
    "leases_expire",
    "workspace_preference_set",
]
