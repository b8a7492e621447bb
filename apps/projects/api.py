"""REST API v1: projects and built-in templates.

GET, POST /api/v1/projects/ · GET, PATCH, DELETE /api/v1/projects/{id}/ · GET /api/v1/templates/
Access goes through apps.projects.access: another tenant's project is a 404.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ProjectRole
from apps.core.api import ApiError, Pagination
from apps.projects import selectors, services
from apps.projects.access import project_for_user
from apps.projects.builtin_templates import BUILTIN_TEMPLATES, TEMPLATE_KEYS
from apps.projects.models import Project
from apps.projects.schema import SchemaError, questions_in_reading_order

# Annotators and reviewers see what they need to work; these stay with the managers
# (gold frequency and overlap rules would help game quality control).
MANAGER_ONLY_FIELDS = (
    "annotations_per_item",
    "min_annotations",
    "max_annotations",
    "confidence_threshold",
    "gold_ratio",
    "per_annotator_cap",
    "blind_mode",
    "harmful_exposure_cap",
    "dataset_license",
    "created_by",
)


def _schema_error(exc: SchemaError) -> ApiError:
    first = exc.errors[0]
    more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
    return ApiError(
        "invalid_schema",
        f"Question {first['question']}, field {first['field']}: {first['message']}{more}",
        details={"questions": exc.errors},
    )


def _validation_error(exc: DjangoValidationError) -> ApiError:
    details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    field, problems = next(iter(details.items()))
    return ApiError("invalid", f"{field}: {problems[0]}", details=details)


class _RejectUnknownFields:
    """DRF drops unknown keys silently; a typo in a setting name should be an error."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))  # type: ignore[attr-defined]
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)  # type: ignore[misc]


class ProjectCreateSerializer(_RejectUnknownFields, serializers.ModelSerializer):
    organization = serializers.IntegerField(required=False, help_text="Needed when you belong to several organizations.")
    template = serializers.ChoiceField(choices=TEMPLATE_KEYS, required=False, help_text="A built-in template key.")
    questions = serializers.JSONField(required=False, help_text="A question schema; overrides the template's.")
    guidelines = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=100_000)

    class Meta:
        model = Project
        fields = [*services.EDITABLE_FIELDS, "organization", "template", "questions", "guidelines"]


class ProjectUpdateSerializer(_RejectUnknownFields, serializers.ModelSerializer):
    questions = serializers.JSONField(required=False)
    guidelines = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=100_000,
        help_text="New guidelines text: stored as a new version when it differs.",
    )
    archived = serializers.BooleanField(required=False)

    class Meta:
        model = Project
        fields = [*services.EDITABLE_FIELDS, "questions", "guidelines", "archived"]


class GuidelinesSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    text = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True)


class ProjectSerializer(serializers.ModelSerializer):
    organization = serializers.SerializerMethodField()
    guidelines = serializers.SerializerMethodField()
    role = serializers.SerializerMethodField()
    archived = serializers.BooleanField(source="is_archived")
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id", "name", "description", "organization", "template", "questions", "guidelines", "role",
            "archived", "archived_at", "created_at", "updated_at", "created_by", "lease_minutes",
            "min_seconds_per_item", "pii_policy", "content_warning", "allow_harmful_opt_out",
            *[f for f in MANAGER_ONLY_FIELDS if f != "created_by"],
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_organization(self, project: Project) -> dict[str, Any]:
        return {"id": project.organization_id, "name": project.organization.name}

    @extend_schema_field(GuidelinesSerializer)
    def get_guidelines(self, project: Project) -> dict[str, Any]:
        return {
            "version": getattr(project, "guidelines_version", None) or 0,
            "text": getattr(project, "guidelines_text", None) or "",
            "updated_at": getattr(project, "guidelines_updated_at", None),
        }

    def get_role(self, project: Project) -> str:
        return self.context.get("roles", {}).get(project.pk) or getattr(project, "caller_role", "")

    def get_created_by(self, project: Project) -> str | None:
        return project.created_by.username if project.created_by_id else None

    def to_representation(self, instance: Project) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["questions"] = questions_in_reading_order(data["questions"])
        if data["role"] != ProjectRole.MANAGER:
            for field in MANAGER_ONLY_FIELDS:
                data.pop(field, None)
        return data


class TemplateSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    item_kind = serializers.CharField(help_text="single or pair: what each item should show")
    questions = serializers.JSONField()
    guidelines = serializers.CharField(help_text="Default guidelines (markdown)")
    settings = serializers.JSONField(help_text="Project settings the template sets")


def _represent(request: Request, project: Project) -> dict[str, Any]:
    selectors.project_with_guidelines(project=project)
    return ProjectSerializer(project, context={"request": request}).data


class ProjectListCreateView(GenericAPIView):
    pagination_class = Pagination
    serializer_class = ProjectSerializer

    @extend_schema(
        parameters=[OpenApiParameter("archived", bool, description="Include archived projects")],
        responses=ProjectSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        include_archived = request.query_params.get("archived", "").lower() in ("1", "true", "yes")
        projects = selectors.project_list_for_user(user=request.user, include_archived=include_archived)
        page = self.paginate_queryset(projects)
        roles = selectors.project_roles_for_user(user=request.user, projects=page)
        data = ProjectSerializer(page, many=True, context={"request": request, "roles": roles}).data
        return self.get_paginated_response(data)

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer})
    def post(self, request: Request) -> Response:
        serializer = ProjectCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = self._organization(request, data.pop("organization", None))
        try:
            project = services.project_create(
                user=request.user,
                organization=organization,
                name=data.pop("name"),
                description=data.pop("description", ""),
                template=data.pop("template", ""),
                questions=data.pop("questions", None),
                guidelines=data.pop("guidelines", None),
                settings=data,
            )
        except SchemaError as exc:
            raise _schema_error(exc) from None
        except DjangoValidationError as exc:
            raise _validation_error(exc) from None
        project.caller_role = ProjectRole.MANAGER  # type: ignore[attr-defined]
        return Response(_represent(request, project), status=status.HTTP_201_CREATED)

    def _organization(self, request: Request, organization_id: int | None):  # type: ignore[no-untyped-def]
        organizations = list(selectors.organizations_for_project_creation(user=request.user))
        if not organizations:
            raise PermissionDenied("Only organization admins and researchers create projects.")
        if organization_id is None:
            if len(organizations) > 1:
                raise ApiError(
                    "invalid", "organization: you belong to several organizations; say which one.",
                    details={"organization": ["This field is required."]},
                )
            return organizations[0]
        for organization in organizations:
            if organization.pk == organization_id:
                return organization
        # The same answer whether the organization exists or not: no probing other tenants.
        raise ApiError(
            "invalid", "organization: no organization with this id where you can create projects.",
            details={"organization": ["No organization with this id where you can create projects."]},
        )


class ProjectDetailView(APIView):
    serializer_class = ProjectSerializer

    @extend_schema(responses=ProjectSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id)
        return Response(_represent(request, project))

    @extend_schema(request=ProjectUpdateSerializer, responses=ProjectSerializer)
    def patch(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        serializer = ProjectUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        questions = changes.pop("questions", None)
        guidelines = changes.pop("guidelines", None)
        archived = changes.pop("archived", None)
        try:
            # One request, one outcome: a bad schema must not leave the settings half-applied.
            with transaction.atomic():
                if changes:
                    services.project_update(project=project, user=request.user, changes=changes)
                if "questions" in serializer.validated_data:
                    services.project_questions_set(project=project, user=request.user, questions=questions)
                if guidelines is not None:
                    services.guidelines_update(project=project, user=request.user, text=guidelines)
                if archived is True:
                    services.project_archive(project=project, user=request.user)
                elif archived is False:
                    services.project_unarchive(project=project, user=request.user)
        except SchemaError as exc:
            raise _schema_error(exc) from None
        except DjangoValidationError as exc:
            raise _validation_error(exc) from None
        project.refresh_from_db()
        project.caller_role = ProjectRole.MANAGER  # type: ignore[attr-defined]
        return Response(_represent(request, project))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        if not selectors.user_can_delete_project(user=request.user, project=project):
            raise PermissionDenied("Only admins and researchers of the organization delete projects.")
        services.project_delete(project=project, user=request.user, confirm_name=project.name)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplateListView(GenericAPIView):
    pagination_class = Pagination
    serializer_class = TemplateSerializer

    @extend_schema(responses=TemplateSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(BUILTIN_TEMPLATES)
        return self.get_paginated_response(TemplateSerializer(page, many=True).data)
