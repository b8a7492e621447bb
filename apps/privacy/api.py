"""REST API v1: personal data found in a project.

GET  /api/v1/projects/{id}/privacy/        counts by type, items with personal data, policy, latest scan
POST /api/v1/projects/{id}/privacy/scans/  rescan every item (202; the job runs in Celery)

Managers only; another tenant's project is a 404.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ProjectRole
from apps.privacy import selectors, services
from apps.privacy.models import PiiScanJob
from apps.projects.access import project_for_user


class ScanJobSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = PiiScanJob
        fields = ["id", "status", "total_items", "scanned_items", "items_with_pii", "percent", "error",
                  "created_at", "started_at", "finished_at"]


def _scan(job: PiiScanJob | None) -> dict[str, Any] | None:
    return ScanJobSerializer(job).data if job is not None else None


SUMMARY = inline_serializer(
    "PrivacySummary",
    {
        "policy": serializers.CharField(),
        "items_total": serializers.IntegerField(),
        "items_with_pii": serializers.IntegerField(),
        "by_type": serializers.ListField(child=serializers.DictField()),
        "latest_scan": ScanJobSerializer(allow_null=True),
    },
)


class ProjectPrivacyView(APIView):
    @extend_schema(responses={200: SUMMARY}, summary="Personal data found in the project")
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        summary = selectors.pii_summary_for_project(project)
        summary["latest_scan"] = _scan(summary["latest_scan"])
        return Response(summary)


class ProjectPrivacyScanView(APIView):
    @extend_schema(request=None, responses={202: ScanJobSerializer}, summary="Scan every item for personal data")
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        job = services.pii_scan_job_start(project=project, actor=request.user, request=request)
        return Response(_scan(job), status=status.HTTP_202_ACCEPTED)
