"""Generation run pages: list and start, detail with live progress, failures and outputs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import ProjectRole
from apps.projects.access import project_for_user
from apps.sampling import selectors
from apps.sampling.access import endpoints_for_project, run_for_user
from apps.sampling.forms import RunForm, add_service_errors
from apps.sampling.models import SlotStatus
from apps.sampling.services import runs as services
from apps.sampling.views.common import INVALID, render_page

OUTPUTS_PER_PAGE = 25


@require_http_methods(["GET", "POST"])
@login_required
def run_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    endpoints = list(endpoints_for_project(project).order_by("name"))
    form = RunForm(request.POST or None, endpoints=endpoints)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                run = services.generation_run_create(project=project, user=request.user, **form.service_input())
            except ValidationError as exc:
                add_service_errors(form, exc, RunForm.FIELD_MAP)
            else:
                messages.success(request, f"Run started: {run.total:,} generations to make.")
                return redirect("sampling:run_detail", project_id=project.pk, run_id=run.pk)
        status = INVALID
    runs = list(selectors.generation_runs_for_project(project=project)[:50])
    progress = selectors.generation_runs_progress(runs=runs)
    for run in runs:
        run.summary = progress[run.pk]  # type: ignore[attr-defined]
    return render_page(
        request,
        "sampling/runs.html",
        {
            "project": project,
            "runs": runs,
            "form": form,
            "endpoints": endpoints,
            "metadata_keys": selectors.prompt_metadata_keys(project=project),
            "prompt_count": project.prompts.count(),
        },
        partial="run-form" if request.method == "POST" else None,
        status=status,
    )


def _project_run(request: HttpRequest, project_id: int, run_id: int):  # type: ignore[no-untyped-def]
    run = run_for_user(request.user, run_id)
    if run.project_id != int(project_id):
        raise Http404("No such generation run")
    return run


@require_GET
@login_required
def run_detail(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    run = _project_run(request, project_id, run_id)
    status_filter = request.GET.get("status") if request.GET.get("status") in SlotStatus.values else ""
    try:
        page = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        page = 1
    start = (page - 1) * OUTPUTS_PER_PAGE
    rows = list(selectors.generation_run_outputs(run=run, status=status_filter)[start : start + OUTPUTS_PER_PAGE + 1])
    context = {
        "project": run.project,
        "run": run,
        "summary": selectors.generation_run_summary(run=run),
        "outputs": rows[:OUTPUTS_PER_PAGE],
        "status_filter": status_filter,
        "page": page,
        "has_next": len(rows) > OUTPUTS_PER_PAGE,
    }
    fragment = request.GET.get("fragment")
    return render_page(
        request, "sampling/run_detail.html", context, partial="progress" if fragment == "progress" else None
    )


@require_POST
@login_required
def run_cancel(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    run = _project_run(request, project_id, run_id)
    try:
        services.generation_run_cancel(run=run)
        messages.success(request, "Run cancelled. What is done is kept; resume it to continue.")
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("sampling:run_detail", project_id=run.project_id, run_id=run.pk)


@require_POST
@login_required
def run_resume(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    run = _project_run(request, project_id, run_id)
    try:
        services.generation_run_resume(run=run, retry_failed=request.POST.get("retry_failed", "1") == "1")
        messages.success(request, "Run resumed.")
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("sampling:run_detail", project_id=run.project_id, run_id=run.pk)
