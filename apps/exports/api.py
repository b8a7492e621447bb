"""REST API for exports: build a dataset, follow the job, preview, cancel, download.

    GET, POST /api/v1/projects/{id}/exports/        history; start a build (202)
    POST      /api/v1/projects/{id}/exports/preview/ the first five records as they will be written
    GET       /api/v1/exports/{id}/                   status, progress, files, manifest
    POST      /api/v1/exports/{id}/cancel/
    GET       /api/v1/exports/{id}/download/          the zip, or ?file=<name> for one file
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import ApiError, Pagination
from apps.core.models import JobStatus
from apps.exports.models import ExportFormat, ExportJob, ExportKind
from apps.exports.options import ExportOptionsError
from apps.exports.selectors import export_for_user, export_list_for_project, project_for_exports
from apps.exports.services import (
    export_cancel,
    export_create,
    export_open_file,
    export_options_parse,
    export_preview,
)


class ExportRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ExportKind.choices)
    format = serializers.ChoiceField(choices=ExportFormat.choices, default=ExportFormat.JSONL)
    options = serializers.DictField(required=False, default=dict, help_text="See the export options in the README.")


class ExportFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    split = serializers.CharField(required=False)
    rows = serializers.IntegerField(required=False)


class ExportJobSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id")
    progress = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    expired = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = ["id", "project", "kind", "format", "options", "status", "cancel_requested", "progress",
                  "record_count", "split_counts", "error", "created_at", "started_at", "finished_at", "expires_at",
                  "expired", "download_url", "files"]

    def get_progress(self, job: ExportJob) -> dict[str, int]:
        return {"percent": job.percent, "processed_items": job.processed_items, "total_items": job.total_items}

    def get_files(self, job: ExportJob) -> list[dict[str, Any]]:
        keys = ("name", "bytes", "sha256", "split", "rows")
        return [{k: f[k] for k in keys if k in f} for f in job.files] if job.is_downloadable else []

    def get_download_url(self, job: ExportJob) -> str | None:
        return f"/api/v1/exports/{job.pk}/download/" if job.is_downloadable else None

    def get_expired(self, job: ExportJob) -> bool:
        return job.expired_at is not None


class ExportDetailSerializer(ExportJobSerializer):
    class Meta(ExportJobSerializer.Meta):
        fields = [*ExportJobSerializer.Meta.fields, "manifest"]


def _parse(request: Request) -> tuple[str, str, dict[str, Any]]:
    serializer = ExportRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return data["kind"], data["format"], dict(data.get("options") or {})


def _invalid(exc: ExportOptionsError) -> ApiError:
    first = next(iter(exc.errors.items()))
    return ApiError("invalid_export_options", f"{first[0]}: {first[1]}", details=exc.errors)


class ProjectExportsApi(APIView):
    @extend_schema(responses=ExportJobSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_exports(request.user, project_id)
        paginator = Pagination()
        page = paginator.paginate_queryset(export_list_for_project(project=project), request, view=self)
        return paginator.get_paginated_response(ExportJobSerializer(page, many=True).data)

    @extend_schema(request=ExportRequestSerializer, responses={202: ExportJobSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_exports(request.user, project_id)
        kind, fmt, raw = _parse(request)
        try:
            job = export_create(project=project, user=request.user, kind=kind, fmt=fmt, raw_options=raw,
                                request=request)
        except ExportOptionsError as exc:
            raise _invalid(exc) from None
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/v1/exports/{job.pk}/"})


class ProjectExportPreviewApi(APIView):
    @extend_schema(request=ExportRequestSerializer, responses={200: dict})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_exports(request.user, project_id)
        kind, fmt, raw = _parse(request)
        try:
            options = export_options_parse(project=project, kind=kind, fmt=fmt, raw=raw)
        except ExportOptionsError as exc:
            raise _invalid(exc) from None
        preview = export_preview(project=project, options=options)
        return Response({"kind": kind, "format": fmt, "fields": preview["fields"], "header": preview["header"],
                         "records": preview["records"], "options": options.as_dict()})


class ExportDetailApi(APIView):
    @extend_schema(responses=ExportDetailSerializer)
    def get(self, request: Request, export_id: int) -> Response:
        return Response(ExportDetailSerializer(export_for_user(request.user, export_id)).data)


class ExportCancelApi(APIView):
    @extend_schema(request=None, responses=ExportJobSerializer)
    def post(self, request: Request, export_id: int) -> Response:
        job = export_for_user(request.user, export_id)
        if job.is_finished:
            raise ApiError("export_finished", f"This export already {job.status}; nothing to cancel.",
                           status_code=409)
        job = export_cancel(job=job)
        return Response(ExportJobSerializer(job).data)


class ExportDownloadApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("file", str, description="one file of the export, by name")],
                   responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, export_id: int) -> FileResponse:
        # The authorization check is here, on the download itself, not only on the page that links to it.
        job = export_for_user(request.user, export_id)
        return download_response(job, request.query_params.get("file"), request=request)


def download_response(job: ExportJob, name: str | None, *, request: Any = None) -> FileResponse:
    if job.expired_at is not None:
        raise ApiError("export_expired", "This export's files were deleted after the retention period; "
                       "start the export again.", status_code=410)
    if job.status != JobStatus.SUCCEEDED:
        raise ApiError("export_not_ready", f"The export is {job.status}; download it once it has succeeded.",
                       status_code=409)
    try:
        handle, filename, size = export_open_file(
            job=job, name=name, actor=getattr(request, "user", None), request=request
        )
    except (FileNotFoundError, OSError, StopIteration):
        raise ApiError("file_not_found", f"The export has no file named {name!r}.", status_code=404) from None
    response = FileResponse(handle, as_attachment=True, filename=filename)
    response["Content-Length"] = str(size)
    response["Cache-Control"] = "private, no-store"
    return response
