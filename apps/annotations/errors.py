"""Errors the annotation services raise; API views map them to `{"error": {...}}` responses."""

from __future__ import annotations

from typing import Any


class AnnotationFlowError(Exception):
    """A request that cannot be carried out in the assignment's current state.

    `code` is stable and machine-readable; `message` tells the annotator what happened
    and what to do; `status_code` is the HTTP status the API answers with.
    """

    code = "annotation_error"
    status_code = 409

    def __init__(self, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class AssignmentClosed(AnnotationFlowError):
    """The assignment was skipped or reported, so it takes no more answers."""

    code = "assignment_closed"


class IdempotencyConflict(AnnotationFlowError):
    """The same submission key (or assignment) arrived again with different answers."""

    code = "idempotency_conflict"


class LeaseExpired(AnnotationFlowError):
    """The lease was returned to the pool; a submission may still be accepted late."""

    code = "lease_expired"


class AnnotatorSuspended(AnnotationFlowError):
    code = "annotator_suspended"
    status_code = 403


class NotQualified(AnnotationFlowError):
    """The annotator did not pass the project's qualification quiz: its main queue is closed to them."""

    code = "not_qualified"
    status_code = 403


class QueuePaused(AnnotationFlowError):
    """The annotator paused their own queue (a break); nothing is leased until they resume."""

    code = "paused"


class InvalidInput(AnnotationFlowError):
    """Bad request data; `details` maps each field to what was expected."""

    code = "invalid"
    status_code = 400
