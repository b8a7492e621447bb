"""REST API for annotating: lease, autosave, submit, skip, report, heartbeat, take a break.

While an annotator has paused their queue (POST …/pause/), POST …/next/ answers
409 with error code "paused" (not 204, which means "no work left") until they
POST …/resume/.

A crowd platform or a script drives annotation with the same services as the
workspace page. Every assignment endpoint answers only the assignment's own
annotator; anyone else gets 404.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from apps.accounts.models import ProjectRole
from apps.annotations.errors import AnnotationFlowError
from apps.annotations.models import Assignment
from apps.annotations.selectors import (
    assignment_for_annotator,
    item_content,
    lease_seconds,
    previous_answers_for,
)
from apps.annotations.services import (
    SubmitResult,
    annotation_submit,
    assignment_flag,
    assignment_heartbeat,
    assignment_skip,
    draft_save,
    lease_next_item,
    queue_pause,
    queue_resume,
)
from apps.core.api import ApiError
from apps.projects.access import project_for_user
from apps.projects.models import Project
from apps.projects.schema import AnswerError
from apps.quality.qualification import training_feedback_on


def _api_error(exc: AnnotationFlowError) -> ApiError:
    return ApiError(exc.code, exc.message, status_code=exc.status_code, details=exc.details)


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ApiError("invalid", "The request body must be a JSON object.", details={"body": "must be an object"})
    return request.data


def assignment_payload(assignment: Assignment, project: Project) -> dict[str, Any]:
    """What an annotator (or a script) needs to answer one item — and nothing they must not see:
    no gold flag or answers, no model names, no item metadata."""
    content = item_content(item_id=assignment.item_id, project=project, assignment_id=assignment.pk)
    payload: dict[str, Any] = {
        "assignment": {
            "id": assignment.pk,
            "status": assignment.status,
            "leased_at": assignment.leased_at,
            "expires_at": assignment.expires_at,
            "lease_seconds": lease_seconds(project),
            "urls": {
                name: reverse(f"annotations_api:{name}", args=[assignment.pk])
                for name in ("draft", "submit", "skip", "flag", "heartbeat")
            },
        },
        "item": {
            "id": content.item_id,
            "content_warning": content.is_harmful,
            "prompt": {"text": content.prompt_text, "messages": content.prompt_messages},
            "responses": content.responses,
            # Detected personal data as span suggestions over the text as shown (empty without any).
            "pii_suggestions": content.pii_suggestions,
        },
        "questions": project.questions,
        "guideline_version": content.guideline_version,
        "draft": content.draft.as_dict() if content.draft else None,
    }
    if not project.blind_mode:
        payload["previous_answers"] = previous_answers_for(assignment=assignment, project=project)
    return payload


def submit_payload(result: SubmitResult) -> dict[str, Any]:
    """The submission's result, built only from the stored row so a replay is identical."""
    annotation = result.annotation
    messages = {
        "accepted": "Submitted.",
        "accepted_late": "Submitted after your time on the item ran out; the item still needed it, so it counts.",
        "surplus": (
            "Your time on this item ran out and it received enough answers meanwhile. Your answer is kept "
            "for the researcher but does not count towards the item."
        ),
        "qualification": "Submitted: this answer counts towards your qualification quiz.",
    }
    return {
        "annotation": {
            "id": annotation.pk,
            "assignment": annotation.assignment_id,
            "item": annotation.item_id,
            "answers": annotation.answers,
            "time_spent_ms": annotation.time_spent_ms,
            "guideline_version": annotation.guideline_version,
            "submitted_at": annotation.submitted_at,
        },
        "outcome": result.outcome,
        "counted": not annotation.surplus or result.qualification,
        "late": annotation.late,
        "message": messages[result.outcome],
    }


class AnnotationThrottle(ScopedRateThrottle):
    """Per-user limit on leasing and submitting (settings: DEFAULT_THROTTLE_RATES["annotation"])."""


class NextItemView(APIView):
    throttle_classes = [AnnotationThrottle]
    throttle_scope = "annotation"

    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT, 204: None},
        summary="Lease the next item to the calling annotator (204 when none is left, 409 `paused` on a break)",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
        try:
            assignment = lease_next_item(request.user, project)
        except AnnotationFlowError as exc:
            raise _api_error(exc) from None
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(assignment_payload(assignment, project))


class PauseView(APIView):
    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        summary="Take a break: pause your queue and give your current item back to the pool",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
        released = queue_pause(annotator=request.user, project=project)
        return Response({"paused": True, "released": released})


class ResumeView(APIView):
    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        summary="End your break; POST …/next/ leases items again",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
        queue_resume(annotator=request.user, project=project)
        return Response({"paused": False})


class AssignmentView(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="One of your assignments, with its item and draft")
    def get(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_for_annotator(user=request.user, assignment_id=assignment_id)
        return Response(assignment_payload(assignment, assignment.project))


class DraftView(APIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT}, summary="Autosave partial answers")
    def put(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_for_annotator(user=request.user, assignment_id=assignment_id)
        body = _body(request)
        try:
            draft = draft_save(
                assignment=assignment, answers=body.get("answers", {}), active_ms=body.get("active_ms", 0)
            )
        except AnnotationFlowError as exc:
            raise _api_error(exc) from None
        return Response({"saved_at": draft.updated_at, "active_ms": draft.active_ms})


class SubmitView(APIView):
    throttle_classes = [AnnotationThrottle]
    throttle_scope = "annotation"

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        summary="Submit answers (idempotent: a replay returns the first result)",
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_for_annotator(user=request.user, assignment_id=assignment_id)
        body = _body(request)
        if "answers" not in body:
            raise ApiError("invalid", "answers: is required.", details={"answers": "is required"})
        time_spent = body.get("time_spent_ms")
        if time_spent is not None and (isinstance(time_spent, bool) or not isinstance(time_spent, int) or time_spent < 0):
            raise ApiError(
                "invalid", "time_spent_ms must be a whole number of milliseconds.",
                details={"time_spent_ms": "must be a non-negative integer"},
            )
        try:
            result = annotation_submit(
                assignment=assignment,
                answers=body["answers"],
                time_spent_ms=time_spent,
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
        except AnswerError as exc:
            raise ApiError(
                "invalid_answers",
                f"{len(exc.errors)} answer(s) need attention: {exc}",
                details=exc.errors,
            ) from None
        except AnnotationFlowError as exc:
            raise _api_error(exc) from None
        payload = submit_payload(result)
        if assignment.is_gold and training_feedback_on(assignment.project):
            # Training mode: the workspace shows the expected answer before the next item.
            payload["training_feedback_url"] = reverse(
                "annotations:feedback", args=[assignment.project_id, result.annotation.pk]
            )
        response = Response(payload, status=status.HTTP_201_CREATED)
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class SkipView(APIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT}, summary="Skip with a reason")
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_for_annotator(user=request.user, assignment_id=assignment_id)
        try:
            skip = assignment_skip(assignment=assignment, reason=_body(request).get("reason"))
        except AnnotationFlowError as exc:
            raise _api_error(exc) from None
        return Response({"assignment": assignment.pk, "skipped": True, "reason": skip.reason})


class FlagView(APIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT}, summary="Report the item's content")
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_for_annotator(user=request.user, assignment_id=assignment_id)
        body = _body(request)
        try:
            flag = assignment_flag(assignment=assignment, category=body.get("category"), reason=body.get("reason", ""))
        except AnnotationFlowError as exc:
            raise _api_error(exc) from None
        return Response(
            {"assignment": assignment.pk, "flag": flag.pk, "category": flag.category, "reason": flag.reason},
            status=status.HTTP_201_CREATED,
        )


class HeartbeatView(APIView):
    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT}, summary="Keep the lease alive while the item is open")
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_for_annotator(user=request.user, assignment_id=assignment_id)
        try:
            expires_at = assignment_heartbeat(assignment=assignment)
        except AnnotationFlowError as exc:
            raise _api_error(exc) from None
        return Response({"assignment": assignment.pk, "expires_at": expires_at})
