"""The annotator workspace: one page, the next item swapped in by htmx.

GET /projects/<id>/annotate/ shows the guidelines first when the annotator has not
read the current version, otherwise their current item (resuming a live lease, or
leasing the next one). POST …/annotate/next/ returns only the item panel for htmx;
…/annotate/pause/ and …/annotate/resume/ start and end the annotator's own break
(the panel then shows the paused state, or the next item). While a qualification quiz
is required the panel serves quiz items and says so; in training mode
…/annotate/feedback/<annotation>/ shows the expected answer after a gold item.
Answers travel to the JSON API (static/js/workspace.js), which calls the same
services as scripts and crowd platforms do.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.accounts.models import ProjectMembership, ProjectRole
from apps.annotations.errors import AnnotatorSuspended
from apps.annotations.models import Annotation, FlagCategory
from apps.annotations.selectors import (
    current_guidelines,
    item_content,
    lease_seconds,
    no_work_reason,
    previous_answers_for,
    progress_for,
    workspace_preference_for,
)
from apps.annotations.services import (
    SKIP_REASONS,
    guidelines_mark_seen,
    lease_next,
    queue_pause,
    queue_resume,
    workspace_preference_set,
)
from apps.projects.access import project_for_user
from apps.projects.models import Project
from apps.quality.selectors import gold_feedback


def _guidelines_pending(request: HttpRequest, project: Project) -> tuple[bool, Any, int | None]:
    """Whether the annotator must read the guidelines first (never read, or changed since)."""
    guidelines = current_guidelines(project)
    if guidelines is None or not guidelines.text.strip():
        return False, guidelines, None
    seen = (
        ProjectMembership.objects.filter(project=project, user=request.user)
        .values_list("guidelines_seen_version", flat=True)
        .first()
    )
    # Org researchers trying their own project have no membership: never blocked.
    return seen is not None and seen < guidelines.version, guidelines, seen


def _panel_context(request: HttpRequest, project: Project) -> dict[str, Any]:
    context: dict[str, Any] = {"project": project}
    try:
        outcome = lease_next(request.user, project)
    except AnnotatorSuspended as exc:
        context.update(no_work="suspended", no_work_message=exc.message)
        return context
    context["progress"] = progress_for(
        annotator=request.user, project=project, harmful_today=outcome.harmful_today
    )
    assignment = outcome.assignment
    context["qualification"] = outcome.qualification
    if outcome.paused:
        context["no_work"] = "paused"
        return context
    if outcome.not_qualified:
        context["no_work"] = "not_qualified"
        return context
    if assignment is None and outcome.qualification is not None:
        context["no_work"] = "quiz_unavailable"
        return context
    if assignment is None:
        context["no_work"] = no_work_reason(annotator=request.user, project=project)
        return context
    content = item_content(item_id=assignment.item_id, project=project, assignment_id=assignment.pk)
    draft = content.draft
    context.update(
        assignment=assignment,
        content=content,
        item=content,
        questions=project.questions,
        responses=content.responses,
        prompt_text=content.prompt_text,
        prompt_messages=content.prompt_messages,
        answers=draft.answers if draft else {},
        draft_state={
            "answers": draft.answers,
            "active_ms": draft.active_ms,
            "updated_at": int(draft.updated_at.timestamp() * 1000),
        }
        if draft
        else None,
        previous_answers=previous_answers_for(assignment=assignment, project=project),
        lease_seconds=lease_seconds(project),
        urls={
            name: reverse(f"annotations_api:{name}", args=[assignment.pk])
            for name in ("draft", "submit", "skip", "flag", "heartbeat")
        },
    )
    return context


@login_required
@require_GET
@vary_on_headers("HX-Request")
def workspace(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
    pending, guidelines, seen = _guidelines_pending(request, project)
    if pending or (request.GET.get("guidelines") == "1" and guidelines is not None):
        return render(
            request,
            "annotations/guidelines.html",
            {"project": project, "guidelines": guidelines, "must_confirm": pending, "changed": bool(seen)},
        )
    context = _panel_context(request, project)
    preference = workspace_preference_for(annotator=request.user, project=project)
    context.update(
        skip_reasons=list(SKIP_REASONS.items()),
        flag_categories=FlagCategory.choices,
        harmful_opt_out=bool(preference and preference.harmful_opt_out),
    )
    return render(request, "annotations/workspace.html", context)


@login_required
@require_POST
def workspace_next(request: HttpRequest, project_id: int) -> HttpResponse:
    """The next item's panel for htmx; a plain POST goes back to the page."""
    project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
    url = reverse("annotations:workspace", args=[project.pk])
    if not request.htmx:
        return redirect(url)
    pending, _, _ = _guidelines_pending(request, project)
    if pending:
        # The guidelines changed while they worked: a full page shows them in full.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return render(request, "annotations/partials/panel.html", _panel_context(request, project))


def _panel_or_page(request: HttpRequest, project: Project) -> HttpResponse:
    if not request.htmx:
        return redirect("annotations:workspace", project_id=project.pk)
    return render(request, "annotations/partials/panel.html", _panel_context(request, project))


@login_required
@require_POST
def workspace_pause(request: HttpRequest, project_id: int) -> HttpResponse:
    """Take a break: the live item goes back to the pool and the panel shows the paused state."""
    project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
    queue_pause(annotator=request.user, project=project)
    return _panel_or_page(request, project)


@login_required
@require_POST
def workspace_resume(request: HttpRequest, project_id: int) -> HttpResponse:
    """End the break: the panel shows the next item."""
    project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
    queue_resume(annotator=request.user, project=project)
    return _panel_or_page(request, project)


@login_required
@require_GET
def training_feedback(request: HttpRequest, project_id: int, annotation_id: int) -> HttpResponse:
    """After a training (gold) item: the annotator's answer beside the expected one, then Continue.

    Only the annotator's own, submitted annotation, and only while the project's training
    feedback is on; anything else is a 404, so this never reveals a gold answer otherwise.
    """
    project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
    annotation = (
        Annotation.objects.select_related("item__prompt", "project")
        .filter(pk=annotation_id, project=project, annotator=request.user)
        .first()
    )
    feedback = gold_feedback(annotation) if annotation is not None else None
    if feedback is None:
        raise Http404("No training feedback for this answer.")
    template = "annotations/partials/feedback.html" if request.htmx else "annotations/feedback_page.html"
    return render(request, template, {"project": project, "feedback": feedback})


@login_required
@require_POST
def guidelines_confirm(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = 0
    guidelines = current_guidelines(project)
    if guidelines is not None and 0 < version <= guidelines.version:
        guidelines_mark_seen(annotator=request.user, project=project, version=version)
    return redirect("annotations:workspace", project_id=project.pk)


@login_required
@require_POST
def preferences(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.ANNOTATOR)
    if project.allow_harmful_opt_out:
        workspace_preference_set(
            annotator=request.user, project=project, harmful_opt_out=request.POST.get("harmful_opt_out") == "1"
        )
    return redirect("annotations:workspace", project_id=project.pk)
