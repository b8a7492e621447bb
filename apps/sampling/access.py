"""Fetch-and-authorize helpers for endpoints, runs and plans (see apps.projects.access).

Model endpoints belong to an organization: its admins and researchers manage
them. Runs and plans belong to a project: its managers (and the organization's
admins and researchers, who act as managers) use them. Anything the caller may
not see answers 404.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.models import Organization, OrganizationMembership, ProjectRole
from apps.projects.access import project_for_user
from apps.sampling.models import GenerationRun, ModelEndpoint, SamplingPlan


def organizations_managed_by(user) -> QuerySet[Organization]:  # type: ignore[no-untyped-def]
    """Organizations where the user is an admin or researcher."""
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(
        pk__in=OrganizationMembership.objects.filter(user=user).values("organization_id")
    ).order_by("name")


def endpoints_visible_to(user, *, include_archived: bool = False) -> QuerySet[ModelEndpoint]:  # type: ignore[no-untyped-def]
    endpoints = ModelEndpoint.objects.filter(organization__in=organizations_managed_by(user))
    if not include_archived:
        endpoints = endpoints.filter(archived_at__isnull=True)
    return endpoints.select_related("organization")


def endpoint_for_user(user, endpoint_id: int | str) -> ModelEndpoint:  # type: ignore[no-untyped-def]
    try:
        pk = int(endpoint_id)
    except (TypeError, ValueError):
        raise Http404("No such model endpoint") from None
    endpoint = endpoints_visible_to(user).filter(pk=pk).first()
    if endpoint is None:
        raise Http404("No such model endpoint")
    return endpoint


def run_for_user(user, run_id: int | str) -> GenerationRun:  # type: ignore[no-untyped-def]
    try:
        pk = int(run_id)
    except (TypeError, ValueError):
        raise Http404("No such generation run") from None
    run = GenerationRun.objects.filter(pk=pk).only("id", "project_id").first()
    if run is None:
        raise Http404("No such generation run")
    project = project_for_user(user, run.project_id, role=ProjectRole.MANAGER)
    run = GenerationRun.objects.select_related("created_by").get(pk=pk)
    run.project = project
    return run


def plan_for_user(user, plan_id: int | str) -> SamplingPlan:  # type: ignore[no-untyped-def]
    try:
        pk = int(plan_id)
    except (TypeError, ValueError):
        raise Http404("No such sampling plan") from None
    plan = SamplingPlan.objects.filter(pk=pk).only("id", "project_id").first()
    if plan is None:
        raise Http404("No such sampling plan")
    project = project_for_user(user, plan.project_id, role=ProjectRole.MANAGER)
    plan = SamplingPlan.objects.get(pk=pk)
    plan.project = project
    return plan


def endpoints_for_project(project) -> QuerySet[ModelEndpoint]:  # type: ignore[no-untyped-def]
    """Endpoints a run in this project may use: the project's organization's, not archived."""
    return ModelEndpoint.objects.filter(organization_id=project.organization_id, archived_at__isnull=True)
