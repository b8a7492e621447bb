"""REST API v1: GET /api/v1/organizations/{id}/audit/ (organization admins only).

Query parameters are an allowlist: action, actor, since, until, project, page,
page_size. Any other parameter is refused with `unknown_filter`, so no caller can
reach an ORM lookup through a parameter name (CVE-2023-47117 in Label Studio).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.actions import ACTIONS, CATEGORIES, action_label
from apps.audit.models import AuditEvent
from apps.audit.selectors import AuditFilters, audit_events_for_organization, organization_for_audit
from apps.core.api import ApiError, Pagination

ALLOWED_PARAMS = {"action", "actor", "since", "until", "project", "page", "page_size"}


class AuditFilterSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=sorted([*ACTIONS, *CATEGORIES]), required=False)
    actor = serializers.CharField(required=False, max_length=150, allow_blank=True)
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)
    project = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs):  # type: ignore[no-untyped-def]
        if attrs.get("since") and attrs.get("until") and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"until": "must not be before since"})
        return attrs


class AuditActorSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    username = serializers.CharField()


class AuditObjectSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()
    repr = serializers.CharField()


class AuditEventSerializer(serializers.ModelSerializer):
    action_label = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    object = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "action", "action_label", "actor", "subject_user_id", "object",
                  "organization_id", "project_id", "ip_address", "user_agent", "detail"]

    def get_action_label(self, event: AuditEvent) -> str:
        return action_label(event.action)

    @extend_schema_field(AuditActorSerializer)
    def get_actor(self, event: AuditEvent) -> dict[str, object]:
        return {"id": event.actor_id, "username": event.actor_label}

    @extend_schema_field(AuditObjectSerializer(allow_null=True))
    def get_object(self, event: AuditEvent) -> dict[str, str] | None:
        if not event.object_type:
            return None
        return {"type": event.object_type, "id": event.object_id, "repr": event.object_repr}


class OrganizationAuditView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("action", OpenApiTypes.STR, description="An action name, or a category such as auth"),
            OpenApiParameter("actor", OpenApiTypes.STR, description="Username (case-insensitive)"),
            OpenApiParameter("since", OpenApiTypes.DATE, description="From this day (inclusive)"),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Up to this day (inclusive)"),
            OpenApiParameter("project", OpenApiTypes.INT, description="Project id"),
        ],
        responses={200: AuditEventSerializer(many=True)},
        summary="The organization's audit log, newest first",
    )
    def get(self, request: Request, organization_id: int) -> Response:
        organization = organization_for_audit(request.user, organization_id)
        unknown = sorted(set(request.query_params) - ALLOWED_PARAMS)
        if unknown:
            raise ApiError(
                "unknown_filter",
                f"Unknown query parameter {unknown[0]!r}; allowed: {', '.join(sorted(ALLOWED_PARAMS))}.",
                details={"unknown": unknown},
            )
        params = AuditFilterSerializer(data={k: v for k, v in request.query_params.items() if k in ALLOWED_PARAMS})
        if not params.is_valid():
            field, problems = next(iter(params.errors.items()))
            raise ApiError("invalid_filter", f"{field}: {problems[0]}", details=params.errors)
        data = params.validated_data
        filters = AuditFilters(
            action=data.get("action", ""),
            actor=data.get("actor", "").strip(),
            since=data.get("since"),
            until=data.get("until"),
            project_id=data.get("project"),
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(audit_events_for_organization(organization, filters), request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)
