"""REST API v1 for sampling.

GET, POST /api/v1/model-endpoints/ · GET, PATCH, DELETE /api/v1/model-endpoints/{id}/ · POST …/{id}/test/
GET, POST /api/v1/projects/{id}/generation-runs/ · GET /api/v1/generation-runs/{id}/ (+ cancel/, resume/, outputs/)
GET, POST /api/v1/projects/{id}/sampling-plans/ · POST …/sampling-plans/preview/
GET, PATCH, DELETE /api/v1/sampling-plans/{id}/ (+ preview/, run/, executions/)

Endpoints are for organization admins and researchers; runs and plans for project
managers. Another tenant's id is a 404 (apps.sampling.access).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ProjectRole
from apps.core.api import ApiError, Pagination
from apps.projects.access import project_for_user
from apps.sampling import selectors
from apps.sampling.access import (
    endpoint_for_user,
    endpoints_visible_to,
    organizations_managed_by,
    plan_for_user,
    run_for_user,
)
from apps.sampling.models import PlanTrigger
from apps.sampling.serializers import (
    EndpointInputSerializer,
    EndpointSerializer,
    EndpointTestSerializer,
    ExecutionSerializer,
    PlanInputSerializer,
    PlanSerializer,
    PreviewInputSerializer,
    ResumeInputSerializer,
    RunInputSerializer,
    RunPlanInputSerializer,
    RunSerializer,
    SlotSerializer,
)
from apps.sampling.services import endpoints as endpoint_services
from apps.sampling.services import plans as plan_services
from apps.sampling.services import runs as run_services


def invalid(exc: DjangoValidationError) -> ApiError:
    details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    field, problems = next(iter(details.items()))
    return ApiError("invalid", f"{field}: {problems[0]}", details=details)


def _valid(serializer_class, request: Request, *, partial: bool = False) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- model endpoints -------------------------------------------------------------------------


class EndpointListCreateView(GenericAPIView):
    pagination_class = Pagination
    serializer_class = EndpointSerializer

    @extend_schema(responses=EndpointSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(endpoints_visible_to(request.user).order_by("name", "id"))
        return self.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(request=EndpointInputSerializer, responses={201: EndpointSerializer})
    def post(self, request: Request) -> Response:
        if not organizations_managed_by(request.user).exists():
            raise PermissionDenied("Only organization admins and researchers manage model endpoints.")
        data = _valid(EndpointInputSerializer, request)
        organization = self._organization(request, data.pop("organization", None))
        api_key = data.pop("api_key", None)
        data.pop("clear_api_key", None)
        try:
            endpoint = endpoint_services.endpoint_create(
                organization=organization, user=request.user, data=data, api_key=api_key
            )
        except DjangoValidationError as exc:
            raise invalid(exc) from None
        return Response(EndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def _organization(self, request: Request, organization_id: int | None):  # type: ignore[no-untyped-def]
        organizations = list(organizations_managed_by(request.user))
        if not organizations:
            raise PermissionDenied("Only organization admins and researchers manage model endpoints.")
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
        raise ApiError(
            "invalid", "organization: no organization with this id where you manage endpoints.",
            details={"organization": ["No organization with this id where you manage endpoints."]},
        )


class EndpointDetailView(APIView):
    serializer_class = EndpointSerializer

    @extend_schema(responses=EndpointSerializer)
    def get(self, request: Request, endpoint_id: int) -> Response:
        return Response(EndpointSerializer(endpoint_for_user(request.user, endpoint_id)).data)

    @extend_schema(request=EndpointInputSerializer, responses=EndpointSerializer)
    def patch(self, request: Request, endpoint_id: int) -> Response:
        endpoint = endpoint_for_user(request.user, endpoint_id)
        data = _valid(EndpointInputSerializer, request, partial=True)
        if "organization" in data:
            raise ApiError("invalid", "organization: an endpoint cannot move between organizations.",
                           details={"organization": ["Cannot be changed."]})
        api_key = data.pop("api_key", None)
        clear = data.pop("clear_api_key", False)
        try:
            endpoint = endpoint_services.endpoint_update(endpoint=endpoint, data=data, api_key=api_key,
                                                         clear_api_key=clear, actor=request.user)
        except DjangoValidationError as exc:
            raise invalid(exc) from None
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, endpoint_id: int) -> Response:
        endpoint_services.endpoint_archive(endpoint=endpoint_for_user(request.user, endpoint_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointTestView(APIView):
    serializer_class = EndpointTestSerializer

    @extend_schema(request=None, responses=EndpointTestSerializer)
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint = endpoint_for_user(request.user, endpoint_id)
        return Response(endpoint_services.endpoint_test(endpoint=endpoint))


# --- generation runs -------------------------------------------------------------------------


def _run_detail(run) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return RunSerializer(run, context={"summary": selectors.generation_run_summary(run=run)}).data


class RunListCreateView(GenericAPIView):
    pagination_class = Pagination
    serializer_class = RunSerializer

    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        page = self.paginate_queryset(selectors.generation_runs_for_project(project=project))
        progress = selectors.generation_runs_progress(runs=page)
        data = [RunSerializer(run, context={"summary": progress[run.pk]}).data for run in page]
        return self.get_paginated_response(data)

    @extend_schema(request=RunInputSerializer, responses={201: RunSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        data = _valid(RunInputSerializer, request)
        try:
            run = run_services.generation_run_create(
                project=project,
                user=request.user,
                endpoint_ids=data["endpoints"],
                prompt_selection=data.get("prompt_selection"),
                parameters=data.get("parameters"),
                samples_per_prompt=data.get("samples_per_prompt", 1),
                name=data.get("name", ""),
            )
        except DjangoValidationError as exc:
            raise invalid(exc) from None
        return Response(_run_detail(run), status=status.HTTP_201_CREATED)


class RunDetailView(APIView):
    serializer_class = RunSerializer

    @extend_schema(responses=RunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        return Response(_run_detail(run_for_user(request.user, run_id)))


class RunCancelView(APIView):
    serializer_class = RunSerializer

    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request: Request, run_id: int) -> Response:
        run = run_for_user(request.user, run_id)
        try:
            run = run_services.generation_run_cancel(run=run)
        except DjangoValidationError as exc:
            raise ApiError("conflict", invalid(exc).detail, status_code=409) from None
        return Response(_run_detail(run))


class RunResumeView(APIView):
    serializer_class = RunSerializer

    @extend_schema(request=ResumeInputSerializer, responses={202: RunSerializer})
    def post(self, request: Request, run_id: int) -> Response:
        run = run_for_user(request.user, run_id)
        data = _valid(ResumeInputSerializer, request)
        try:
            run = run_services.generation_run_resume(run=run, retry_failed=data.get("retry_failed", True))
        except DjangoValidationError as exc:
            raise ApiError("conflict", invalid(exc).detail, status_code=409) from None
        return Response(_run_detail(run), status=status.HTTP_202_ACCEPTED)


class RunOutputsView(GenericAPIView):
    pagination_class = Pagination
    serializer_class = SlotSerializer

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["pending", "succeeded", "failed"])],
        responses=SlotSerializer(many=True),
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = run_for_user(request.user, run_id)
        page = self.paginate_queryset(selectors.generation_run_outputs(run=run, status=request.query_params.get("status")))
        return self.get_paginated_response(SlotSerializer(page, many=True).data)


# --- sampling plans --------------------------------------------------------------------------


class PlanListCreateView(GenericAPIView):
    pagination_class = Pagination
    serializer_class = PlanSerializer

    @extend_schema(responses=PlanSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        page = self.paginate_queryset(selectors.sampling_plans_for_project(project=project))
        latest = selectors.latest_executions(plans=page)
        return self.get_paginated_response(PlanSerializer(page, many=True, context={"latest": latest}).data)

    @extend_schema(request=PlanInputSerializer, responses={201: PlanSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        data = _valid(PlanInputSerializer, request)
        try:
            plan = plan_services.sampling_plan_create(project=project, user=request.user, data=data)
        except DjangoValidationError as exc:
            raise invalid(exc) from None
        return Response(PlanSerializer(plan).data, status=status.HTTP_201_CREATED)


def _preview(project, data: dict[str, Any]) -> Response:  # type: ignore[no-untyped-def]
    try:
        result = plan_services.sampling_plan_preview(
            project=project,
            strategy=data.get("strategy", ""),
            config=data.get("config"),
            seed=data.get("seed", 0),
            limit=data.get("limit"),
        )
    except DjangoValidationError as exc:
        raise invalid(exc) from None
    return Response(result)


class ProjectPlanPreviewView(APIView):
    """Counts for plan settings that are not saved yet."""

    @extend_schema(request=PreviewInputSerializer, responses={200: dict})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
        return _preview(project, _valid(PreviewInputSerializer, request))


class PlanDetailView(APIView):
    serializer_class = PlanSerializer

    @extend_schema(responses=PlanSerializer)
    def get(self, request: Request, plan_id: int) -> Response:
        return Response(PlanSerializer(plan_for_user(request.user, plan_id)).data)

    @extend_schema(request=PlanInputSerializer, responses=PlanSerializer)
    def patch(self, request: Request, plan_id: int) -> Response:
        plan = plan_for_user(request.user, plan_id)
        data = _valid(PlanInputSerializer, request, partial=True)
        try:
            plan = plan_services.sampling_plan_update(plan=plan, data=data)
        except DjangoValidationError as exc:
            raise invalid(exc) from None
        return Response(PlanSerializer(plan).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, plan_id: int) -> Response:
        plan_for_user(request.user, plan_id).delete()  # items it made stay: they may carry annotations
        return Response(status=status.HTTP_204_NO_CONTENT)


class PlanPreviewView(APIView):
    @extend_schema(request=PreviewInputSerializer, responses={200: dict})
    def post(self, request: Request, plan_id: int) -> Response:
        plan = plan_for_user(request.user, plan_id)
        data = _valid(PreviewInputSerializer, request)
        merged = {"strategy": plan.strategy, "config": plan.config, "seed": plan.seed, **data}
        return _preview(plan.project, merged)


class PlanRunView(APIView):
    serializer_class = ExecutionSerializer

    @extend_schema(request=RunPlanInputSerializer, responses={202: ExecutionSerializer})
    def post(self, request: Request, plan_id: int) -> Response:
        plan = plan_for_user(request.user, plan_id)
        data = _valid(RunPlanInputSerializer, request)
        execution = plan_services.plan_execution_start(
            plan=plan, user=request.user, trigger=PlanTrigger.API, limit=data.get("limit")
        )
        return Response(ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)


class PlanExecutionsView(GenericAPIView):
    pagination_class = Pagination
    serializer_class = ExecutionSerializer

    @extend_schema(responses=ExecutionSerializer(many=True))
    def get(self, request: Request, plan_id: int) -> Response:
        plan = plan_for_user(request.user, plan_id)
        page = self.paginate_queryset(selectors.plan_executions(plan=plan))
        return self.get_paginated_response(ExecutionSerializer(page, many=True).data)
