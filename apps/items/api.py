"""REST API v1: imports and items.

POST /api/v1/projects/{id}/imports/ · GET /api/v1/projects/{id}/imports/ · GET /api/v1/imports/{id}/ ·
POST /api/v1/imports/{id}/cancel/ · GET /api/v1/imports/{id}/errors/?kind=csv|jsonl ·
GET /api/v1/projects/{id}/items/ · GET, PATCH /api/v1/items/{id}/ ·
DELETE /api/v1/projects/{id}/items/{item_id}/ · POST /api/v1/projects/{id}/items/delete/

Imports and deletions are for managers. Item lists are for managers and reviewers; an
annotator may read only an item assigned to them, without gold answers,
metadata or model names.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ProjectRole
from apps.core.api import ApiError
from apps.items import selectors, services
from apps.items.downloads import errors_response
from apps.items.importing.errors import FileRejected
from apps.items.importing.mapping import MappingError
from apps.items.models import ImportJob, Item, ItemState
from apps.projects.access import project_for_user
from apps.projects.schema import AnswerError

STAFF_ROLES = (ProjectRole.MANAGER, ProjectRole.REVIEWER)


class ImportJobSerializer(serializers.ModelSerializer):
    file_name = serializers.CharField(source="upload.original_name")
    file_size = serializers.IntegerField(source="upload.size_bytes")
    errors = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()
    progress_percent = serializers.IntegerField()

    class Meta:
        model = ImportJob
        fields = [
            "id", "project", "status", "phase", "progress", "progress_percent", "file_name", "file_size",
            "file_format", "encoding", "mapping", "rows_read", "rows_rejected", "prompts_created",
            "generations_created", "generations_duplicate", "items_created", "items_duplicate", "error_message",
            "errors_stored", "errors", "errors_url", "attempts", "created_at", "started_at", "finished_at",
            "search_indexed_at",
        ]

    def get_errors(self, job: ImportJob) -> list[dict[str, Any]]:
        """The first row errors; the whole report is at errors_url."""
        return [
            {"line": e.line, "field": e.field, "reason": e.reason}
            for e in job.row_errors.order_by("line", "pk")[:20]
        ]

    def get_errors_url(self, job: ImportJob) -> str:
        return f"/api/v1/imports/{job.pk}/errors/?kind=csv"


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JSONL, JSONL.gz, CSV (optionally .gz) or Parquet.")
    mapping = serializers.JSONField(
        required=False,
        help_text="Column mapping (see the import docs); guessed from the column names when left out.",
    )

    def validate_mapping(self, value: Any) -> Any:
        if isinstance(value, str):  # multipart sends the JSON as text
            try:
                value = json.loads(value)
            except ValueError:
                raise serializers.ValidationError("must be a JSON object") from None
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return value


def _mapping_error(exc: MappingError) -> ApiError:
    field, problem = next(iter(exc.errors.items()))
    return ApiError("invalid_mapping", f"mapping.{field}: {problem}", details={"mapping": exc.errors})


class ProjectImportsView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=ImportJobSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        jobs = selectors.import_jobs_recent(project=project, limit=50)
        return Response({"results": ImportJobSerializer(jobs, many=True).data})

    @extend_schema(request={"multipart/form-data": ImportCreateSerializer}, responses={201: ImportJobSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        serializer = ImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        try:
            job = services.import_start(
                project=project, user=request.user, fileobj=upload, name=upload.name,
                mapping=serializer.validated_data.get("mapping"),
            )
        except MappingError as exc:
            raise _mapping_error(exc) from None
        except FileRejected as exc:
            raise ApiError("invalid_file", str(exc)) from None
        return Response(ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)


class ImportDetailView(APIView):
    @extend_schema(responses=ImportJobSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = selectors.import_job_for_user(request.user, job_id)
        return Response(ImportJobSerializer(job).data)


class ImportCancelView(APIView):
    @extend_schema(request=None, responses=ImportJobSerializer)
    def post(self, request: Request, job_id: int) -> Response:
        job = selectors.import_job_for_user(request.user, job_id)
        if not services.import_job_cancel(job=job):
            raise ApiError("not_cancellable", f"The import has already {job.status}.", status_code=409)
        return Response(ImportJobSerializer(job).data)


class ImportErrorsView(APIView):
    @extend_schema(
        # Not `format`: DRF reserves that query parameter for choosing a renderer.
        parameters=[OpenApiParameter("kind", str, enum=["csv", "jsonl"], description="Report format (csv)")],
        responses={(200, "text/csv"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, job_id: int):  # type: ignore[no-untyped-def]
        job = selectors.import_job_for_user(request.user, job_id)
        kind = request.query_params.get("kind", "csv")
        if kind not in ("csv", "jsonl"):
            raise ApiError("invalid", "kind: must be csv or jsonl")
        return errors_response(job, kind)


# --- items ---


class ResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    label = serializers.CharField()
    model = serializers.CharField(required=False)
    source = serializers.CharField(required=False)
    text = serializers.CharField()


def _responses(item: Item, *, staff: bool) -> list[dict[str, Any]]:
    out = []
    for position, generation in enumerate(selectors.item_responses(item)):
        entry: dict[str, Any] = {"id": generation.pk, "position": position, "label": chr(65 + position),
                                 "text": generation.text}
        if staff:
            entry.update(model=generation.model_name, source=generation.source)
        out.append(entry)
    return out


def item_representation(item: Item, *, role: str) -> dict[str, Any]:
    """Staff see everything; annotators see what they annotate, never gold or metadata."""
    staff = role in STAFF_ROLES
    data: dict[str, Any] = {
        "id": item.pk,
        "project": item.project_id,
        "kind": item.kind,
        "prompt": {"text": item.prompt.text, "messages": item.prompt.as_messages()},
        "responses": _responses(item, staff=staff),
    }
    if staff:
        data.update(
            prompt={**data["prompt"], "external_id": item.prompt.external_id},
            state=item.state, priority=item.priority, metadata=item.metadata, is_gold=item.is_gold,
            gold_answers=item.gold_answers, has_pii=item.has_pii, is_harmful=item.is_harmful,
            required_annotations=item.required_annotations, annotation_count=item.annotation_count,
            created_at=item.created_at,
        )
    return data


class ItemPagination(CursorPagination):
    """Keyset pages on id: no COUNT(*), no OFFSET, stable while items are added."""

    ordering = "pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ProjectItemsView(APIView):
    pagination_class = ItemPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=ItemState.values),
            OpenApiParameter("model", str, description="Items with a response from this model"),
            OpenApiParameter("source", str, enum=["imported", "generated"]),
            OpenApiParameter("meta_key", str), OpenApiParameter("meta_value", str),
            OpenApiParameter("has_pii", bool), OpenApiParameter("gold", bool),
            OpenApiParameter("q", str, description="Full-text search over prompt and responses"),
            OpenApiParameter("cursor", str), OpenApiParameter("page_size", int),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.REVIEWER)
        try:
            filters = selectors.item_filters_parse(request.query_params)
        except selectors.FilterError as exc:
            field, problem = next(iter(exc.errors.items()))
            raise ApiError("invalid_filter", f"{field}: {problem}", details=exc.errors) from None
        items = selectors.with_responses(selectors.items_filtered(project=project, filters=filters))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(items, request, view=self)
        role = project.caller_role  # type: ignore[attr-defined]
        for item in page:
            item.project = project
        return paginator.get_paginated_response([item_representation(i, role=role) for i in page])


class ItemPatchSerializer(serializers.Serializer):
    is_gold = serializers.BooleanField(required=False)
    gold_answers = serializers.JSONField(required=False, allow_null=True)
    priority = serializers.IntegerField(required=False, min_value=-1000, max_value=1000)
    state = serializers.ChoiceField(required=False, choices=[ItemState.OPEN, ItemState.ARCHIVED])

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class ItemDetailView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, item_id: int) -> Response:
        item = selectors.item_for_annotator(request.user, item_id)
        return Response(item_representation(item, role=item.project.caller_role))  # type: ignore[attr-defined]

    @extend_schema(request=ItemPatchSerializer, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, item_id: int) -> Response:
        item = selectors.item_for_user(request.user, item_id, role=ProjectRole.MANAGER)
        serializer = ItemPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            item = services.item_update(
                item=item, is_gold=data.get("is_gold"), gold_answers=data.get("gold_answers", ...),
                priority=data.get("priority"), state=data.get("state"),
            )
        except AnswerError as exc:
            path, problem = next(iter(exc.errors.items()))
            raise ApiError("invalid_gold_answers", f"gold_answers.{path}: {problem}", details=exc.errors) from None
        return Response(item_representation(item, role=ProjectRole.MANAGER))


# --- deleting items ---


def _items_delete(request: Request, project: Any, ids: list[int]) -> services.ItemsDeleted:
    try:
        return services.items_delete(project=project, item_ids=ids, by=request.user, request=request)
    except services.ItemsNotFound:
        # Another tenant's id looks exactly like one that never existed.
        raise Http404("No such item") from None


class ProjectItemView(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, project_id: int, item_id: int) -> Response:
        """Delete one item with its leases, annotations and reviews (recorded in the audit log)."""
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        _items_delete(request, project, [item_id])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ItemsDeleteSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=services.MAX_ITEMS_PER_DELETE,
        help_text=f"Item ids of this project, at most {services.MAX_ITEMS_PER_DELETE}.",
    )


class ItemsDeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField())
    assignments = serializers.IntegerField()
    annotations = serializers.IntegerField()


class ProjectItemsDeleteView(APIView):
    @extend_schema(request=ItemsDeleteSerializer, responses=ItemsDeletedSerializer)
    def post(self, request: Request, project_id: int) -> Response:
        """Delete several items at once, all or nothing: an id that is not an item of the
        project answers 404 and nothing is deleted."""
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        serializer = ItemsDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deleted = _items_delete(request, project, serializer.validated_data["ids"])
        return Response({"deleted": len(deleted.ids), "ids": deleted.ids, "assignments": deleted.assignments,
                         "annotations": deleted.annotations})
