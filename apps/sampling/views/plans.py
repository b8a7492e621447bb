"""Sampling plan pages: list and create with a preview, detail with run, settings and history."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.models import ProjectRole
from apps.items.models import Generation
from apps.projects.access import project_for_user
from apps.sampling import selectors
from apps.sampling.access import plan_for_user
from apps.sampling.forms import PlanForm, add_service_errors
from apps.sampling.models import PlanTrigger
from apps.sampling.services import plans as services
from apps.sampling.views.common import INVALID, render_page


def _model_names(project) -> list[str]:  # type: ignore[no-untyped-def]
    # The (project, model_name) index makes this an index scan, not a sort of every generation.
    return list(
        Generation.objects.filter(project=project).order_by("model_name").values_list("model_name", flat=True).distinct()[:50]
    )


@require_http_methods(["GET", "POST"])
@login_required
def plan_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    form = PlanForm(request.POST or None, model_names=_model_names(project))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                plan = services.sampling_plan_create(project=project, user=request.user, data=form.service_input())
            except ValidationError as exc:
                add_service_errors(form, exc, PlanForm.FIELD_MAP)
            else:
                if request.POST.get("run_now"):
                    services.plan_execution_start(plan=plan, user=request.user)
                    messages.success(request, f"Plan “{plan.name}” saved and running.")
                else:
                    messages.success(request, f"Plan “{plan.name}” saved. Preview it, then run it.")
                return redirect("sampling:plan_detail", project_id=project.pk, plan_id=plan.pk)
        status = INVALID
    return render_page(
        request,
        "sampling/plans.html",
        {
            "project": project,
            "plans": selectors.sampling_plans_for_project(project=project)[:100],
            "form": form,
            "open_items": selectors.open_item_count(project=project),
        },
        partial="plan-form" if request.method == "POST" else None,
        status=status,
    )


@require_POST
@login_required
def plan_preview(request: HttpRequest, project_id: int) -> HttpResponse:
    """Counts for the settings in the form, saved or not (the same form posts here via htmx)."""
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    form = PlanForm(request.POST, model_names=_model_names(project))
    form.fields["name"].required = False  # a preview needs no name yet
    preview = error = None
    if form.is_valid():
        try:
            preview = services.sampling_plan_preview(
                project=project,
                strategy=form.cleaned_data["strategy"],
                config=form.config(),
                seed=form.cleaned_data.get("seed") or 0,
            )
        except ValidationError as exc:
            error = "; ".join(f"{k}: {v[0]}" for k, v in exc.message_dict.items())
    else:
        error = "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items())
    return render_page(
        request, "sampling/plans.html", {"project": project, "preview": preview, "preview_error": error}, partial="preview"
    )


def _project_plan(request: HttpRequest, project_id: int, plan_id: int):  # type: ignore[no-untyped-def]
    plan = plan_for_user(request.user, plan_id)
    if plan.project_id != int(project_id):
        raise Http404("No such sampling plan")
    return plan


@require_http_methods(["GET", "POST"])
@login_required
def plan_detail(request: HttpRequest, project_id: int, plan_id: int) -> HttpResponse:
    plan = _project_plan(request, project_id, plan_id)
    form = PlanForm(request.POST or None, model_names=_model_names(plan.project), initial=PlanForm.initial_for(plan))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.sampling_plan_update(plan=plan, data=form.service_input())
            except ValidationError as exc:
                add_service_errors(form, exc, PlanForm.FIELD_MAP)
            else:
                messages.success(request, "Plan saved.")
                return redirect("sampling:plan_detail", project_id=plan.project_id, plan_id=plan.pk)
        status = INVALID
    executions = list(selectors.plan_executions(plan=plan)[:50])
    context = {
        "project": plan.project,
        "plan": plan,
        "form": form,
        "executions": executions,
        "working": any(not e.finished_at for e in executions),
        "open_items": selectors.open_item_count(project=plan.project),
    }
    partial = "history" if request.GET.get("fragment") == "history" else None
    return render_page(request, "sampling/plan_detail.html", context, partial=partial, status=status)


@require_POST
@login_required
def plan_run(request: HttpRequest, project_id: int, plan_id: int) -> HttpResponse:
    plan = _project_plan(request, project_id, plan_id)
    services.plan_execution_start(plan=plan, user=request.user, trigger=PlanTrigger.MANUAL)
    messages.success(request, "Plan running: the history below updates when it is done.")
    return redirect("sampling:plan_detail", project_id=plan.project_id, plan_id=plan.pk)


@require_POST
@login_required
def plan_toggle(request: HttpRequest, project_id: int, plan_id: int) -> HttpResponse:
    plan = _project_plan(request, project_id, plan_id)
    services.sampling_plan_update(plan=plan, data={"is_active": not plan.is_active})
    messages.success(request, "Top-ups resumed." if plan.is_active else "Top-ups paused.")
    return redirect("sampling:plan_detail", project_id=plan.project_id, plan_id=plan.pk)
