"""REST API v1 of quality control.

GET  /api/v1/projects/{id}/quality/                      figures of the last recompute (reviewer+)
POST /api/v1/projects/{id}/quality/recompute/            queue a recompute (manager)
GET, PATCH /api/v1/projects/{id}/quality/settings/       thresholds, quiz, training (manager)
GET  /api/v1/projects/{id}/qualification/                the caller's own quiz status (any member)
GET  /api/v1/projects/{id}/annotators/                   annotator scores (reviewer+)
POST /api/v1/projects/{id}/annotators/{user_id}/suspend/ · .../reinstate/   (manager)
GET  /api/v1/projects/{id}/review/?queue=disagreements|low_confidence|flags  (reviewer+)
GET, POST /api/v1/items/{id}/reviews/                    answers side by side; record a decision (reviewer+)
GET  /api/v1/items/{id}/aggregate/                       the item's aggregated answer (reviewer+)
GET, PATCH /api/v1/items/{id}/gold/                      gold flag and answers (manager)

Gold answers appear only in manager responses; annotators are refused every endpoint
here except their own qualification status, which carries no answers.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ProjectMembership, ProjectRole
from apps.annotations.models import ReviewDecision
from apps.core.api import ApiError, Pagination
from apps.items.models import Item
from apps.projects.access import project_for_user
from apps.quality import selectors, services
from apps.quality.models import GoldNote, ItemAggregate, QualitySettings
from apps.quality.qualification import qualification_status
from apps.quality.recompute import settings_for


def _quality_error(exc: services.QualityError) -> ApiError:
    return ApiError(exc.code, exc.message, details=exc.details or {})


def _item_for(user, item_id: int, role: str) -> tuple[Item, Any]:  # type: ignore[no-untyped-def]
    """The item and its project if the user has `role` there; another tenant's item is a 404."""
    item = Item.objects.select_related("prompt").filter(pk=item_id).first()
    if item is None:
        raise ApiError("not_found", "No such item.", status_code=404)
    project = project_for_user(user, item.project_id, role=role)
    return item, project


class SettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = QualitySettings
        fields = list(services.SETTINGS_FIELDS)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class ReviewInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    annotation = serializers.IntegerField(required=False, allow_null=True)
    answers = serializers.JSONField(required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class GoldInputSerializer(serializers.Serializer):
    is_gold = serializers.BooleanField()
    gold_answers = serializers.JSONField(required=False, allow_null=True)
    explanation = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


def _snapshot_body(project) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    snapshot = selectors.snapshot_for(project)
    return {
        "project": project.pk,
        "status": snapshot.status if snapshot else "never_computed",
        "stage": snapshot.stage if snapshot else "",
        "progress": snapshot.progress if snapshot else 0,
        "computed_at": snapshot.computed_at if snapshot else None,
        "duration_ms": snapshot.duration_ms if snapshot else None,
        "error": snapshot.error if snapshot else "",
        "figures": snapshot.figures if snapshot else {},
        "notices": selectors.notices_for(project).count(),
    }


class ProjectQualityView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Agreement, aggregation and leaderboards of the last recompute")
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.REVIEWER)
        return Response(_snapshot_body(project))


class ProjectRecomputeView(APIView):
    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT}, summary="Queue a full quality recompute")
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        queued = services.recompute_schedule(project_id=project.pk, delay=0)
        return Response({"queued": queued, **_snapshot_body(project)}, status=status.HTTP_202_ACCEPTED)


class QualitySettingsView(APIView):
    serializer_class = SettingsSerializer

    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        return Response(SettingsSerializer(settings_for(project)).data)

    def patch(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        serializer = SettingsSerializer(settings_for(project), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            saved = services.quality_settings_update(project=project, values=dict(serializer.validated_data))
        except services.QualityError as exc:
            raise _quality_error(exc) from None
        return Response(SettingsSerializer(saved).data)


class QualificationView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Your qualification quiz status in this project")
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
        membership = ProjectMembership.objects.filter(project=project, user=request.user).select_related("project").first()
        if membership is None:
            return Response({"required": False, "state": "not_required", "answered": 0, "needed": 0,
                             "score": None, "pass_mark": None, "may_annotate": True})
        qualification = qualification_status(membership)
        return Response({"required": qualification.required, "state": str(qualification.state),
                         "answered": qualification.answered, "needed": qualification.needed,
                         "score": qualification.score, "pass_mark": qualification.pass_mark,
                         "may_annotate": qualification.may_annotate and membership.suspended_at is None})


def _score_row(score) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "annotator": score.annotator_id, "username": score.annotator.username, "name": str(score.annotator),
        "role": score.role, "suspended": score.suspended_at is not None, "suspended_at": score.suspended_at,
        "suspended_reason": score.suspended_reason or "", "annotations": score.annotations,
        "gold_answered": score.gold_answered, "gold_accuracy": score.gold_accuracy, "agreement": score.agreement,
        "agreement_n": score.agreement_n, "median_time_ms": score.median_time_ms, "too_fast": score.too_fast,
        "too_fast_share": score.too_fast_share, "skips": score.skips, "skip_rate": score.skip_rate,
        "flags": score.flags, "computed_at": score.computed_at,
    }


class AnnotatorListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("ordering", str, enum=list(selectors.ANNOTATOR_ORDERINGS))],
        responses=OpenApiTypes.OBJECT, summary="Annotator scores",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.REVIEWER)
        ordering = request.query_params.get("ordering", "annotations")
        if ordering not in selectors.ANNOTATOR_ORDERINGS:
            raise ApiError("invalid_ordering", f"ordering must be one of {', '.join(selectors.ANNOTATOR_ORDERINGS)}.",
                           details={"ordering": ordering})
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.annotator_table(project, order=ordering), request, view=self)
        return paginator.get_paginated_response([_score_row(score) for score in page])


class AnnotatorActionView(APIView):
    serializer_class = ReasonSerializer
    mode = "suspend"

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project_id: int, user_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        member = ProjectMembership.objects.filter(project=project, user_id=user_id).first()
        if member is None:
            raise ApiError("not_found", "That user is not a member of this project.", status_code=404)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data.get("reason", "")
        if self.mode == "suspend":
            changed = services.annotator_suspend(project=project, annotator_id=user_id, by=request.user,
                                                 reason=reason or f"Suspended by {request.user}.")
            if not changed:
                raise ApiError("already_suspended", "This annotator is already suspended.", status_code=409)
        else:
            changed = services.annotator_reinstate(project=project, annotator_id=user_id, by=request.user, note=reason)
            if not changed:
                raise ApiError("not_suspended", "This annotator is not suspended.", status_code=409)
        member.refresh_from_db()
        return Response({"annotator": user_id, "suspended": member.suspended_at is not None,
                         "suspended_reason": member.suspended_reason})


def _queue_row(queue: str, row) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    if queue == "flags":
        return {"item": row.pk, "prompt": row.prompt.text[:300], "open_flags": row.open_flags, "last_flag": row.last_flag}
    return {"item": row.item_id, "prompt": row.item.prompt.text[:300], "agreement": row.agreement,
            "min_confidence": row.min_confidence, "annotation_count": row.annotation_count,
            "confidence": row.confidence}


class ReviewQueueView(APIView):
    @extend_schema(parameters=[OpenApiParameter("queue", str, enum=list(selectors.QUEUES))], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.REVIEWER)
        queue = request.query_params.get("queue", "disagreements")
        if queue not in selectors.QUEUES:
            raise ApiError("invalid_queue", f"queue must be one of {', '.join(selectors.QUEUES)}.", details={"queue": queue})
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.review_queue(project, queue), request, view=self)
        return paginator.get_paginated_response([_queue_row(queue, row) for row in page])


def _aggregate_body(aggregate) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    if aggregate is None:
        return None
    return {"item": aggregate.item_id, "answers": aggregate.answers, "confidence": aggregate.confidence,
            "details": aggregate.details, "agreement": aggregate.agreement, "min_confidence": aggregate.min_confidence,
            "annotation_count": aggregate.annotation_count, "excluded_count": aggregate.excluded_count,
            "disagreement": aggregate.disagreement, "reviewed": aggregate.reviewed, "source": aggregate.source,
            "updated_at": aggregate.updated_at}


class ItemReviewView(APIView):
    serializer_class = ReviewInputSerializer

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Every answer to the item side by side, and past reviews")
    def get(self, request: Request, item_id: int) -> Response:
        item, project = _item_for(request.user, item_id, ProjectRole.REVIEWER)
        detail = selectors.review_item_detail(project, item, reveal_gold=project.caller_role == ProjectRole.MANAGER)
        return Response({
            "item": item.pk, "project": project.pk, "prompt": item.prompt.text,
            "responses": detail["responses"],
            "annotations": [{"id": c["annotation"].pk, "annotator": c["annotation"].annotator_id,
                             "username": c["annotation"].annotator.username, "status": c["status"],
                             "answers": c["annotation"].answers, "time_spent_ms": c["annotation"].time_spent_ms,
                             "submitted_at": c["annotation"].submitted_at} for c in detail["columns"]],
            "aggregate": _aggregate_body(detail["aggregate"]),
            "flags": [{"annotator": f.annotator_id, "category": getattr(f, "category", ""), "reason": f.reason,
                       "resolved_at": f.resolved_at, "created_at": f.created_at} for f in detail["flags"]],
            "reviews": [_review_body(r) for r in detail["reviews"]],
        })

    @extend_schema(request=ReviewInputSerializer, responses={201: OpenApiTypes.OBJECT}, summary="Accept, reject or correct")
    def post(self, request: Request, item_id: int) -> Response:
        item, project = _item_for(request.user, item_id, ProjectRole.REVIEWER)
        serializer = ReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            review = services.review_record(
                project=project, item=item, reviewer=request.user, decision=data["decision"],
                note=data.get("note", ""), annotation_id=data.get("annotation"), answers=data.get("answers"),
            )
        except services.QualityError as exc:
            raise _quality_error(exc) from None
        aggregate = ItemAggregate.objects.filter(item=item).first()
        if aggregate is not None and aggregate.source == "gold" and project.caller_role != ProjectRole.MANAGER:
            aggregate = None  # a gold item's aggregate is its gold answer
        return Response({"review": _review_body(review), "aggregate": _aggregate_body(aggregate)},
                        status=status.HTTP_201_CREATED)


def _review_body(review) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"id": review.pk, "decision": review.decision, "annotation": review.annotation_id,
            "answers": review.answers, "note": review.note, "reviewer": review.reviewer_id,
            "created_at": review.created_at}


class ItemAggregateView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The item's aggregated answer and confidence")
    def get(self, request: Request, item_id: int) -> Response:
        item, project = _item_for(request.user, item_id, ProjectRole.REVIEWER)
        aggregate = ItemAggregate.objects.filter(item=item).first()
        if aggregate is not None and aggregate.source == "gold" and project.caller_role != ProjectRole.MANAGER:
            raise ApiError("gold_hidden", "This is a gold item; only managers see its expected answers.", status_code=403)
        if aggregate is None:
            raise ApiError("not_aggregated", "This item has no counted annotations yet.", status_code=404)
        return Response(_aggregate_body(aggregate))


class ItemGoldView(APIView):
    serializer_class = GoldInputSerializer

    def _body(self, item: Item) -> dict[str, Any]:
        note = GoldNote.objects.filter(item=item).first()
        return {"item": item.pk, "is_gold": item.is_gold, "gold_answers": item.gold_answers,
                "explanation": note.explanation if note else ""}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, item_id: int) -> Response:
        item, _ = _item_for(request.user, item_id, ProjectRole.MANAGER)
        return Response(self._body(item))

    @extend_schema(request=GoldInputSerializer, responses=OpenApiTypes.OBJECT, summary="Mark or unmark a gold item")
    def patch(self, request: Request, item_id: int) -> Response:
        item, project = _item_for(request.user, item_id, ProjectRole.MANAGER)
        serializer = GoldInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            item = services.gold_set(project=project, item=item, is_gold=data["is_gold"],
                                     gold_answers=data.get("gold_answers"), explanation=data.get("explanation"),
                                     by=request.user)
        except services.QualityError as exc:
            raise _quality_error(exc) from None
        return Response(self._body(item))

