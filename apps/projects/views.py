"""Project pages (htmx): one view serves the full page, or a named partial of it for htmx."""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import ProjectRole
from apps.core.rendering import render_markdown
from apps.projects import selectors, services
from apps.projects.access import project_for_user
from apps.projects.builtin_templates import BUILTIN_TEMPLATES
from apps.projects.forms import (
    BLANK,
    DeleteForm,
    GuidelinesForm,
    ProjectCreateForm,
    ProjectSettingsForm,
    QuestionsForm,
    add_service_errors,
    schema_error_messages,
)
from apps.projects.preview import question_preview_context
from apps.projects.schema import SchemaError, questions_in_reading_order, validate_schema

# Form errors answer 422; projects.js lets htmx swap those responses in.
INVALID = 422
PROJECTS_PER_PAGE = 50


def _is_htmx(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, partial: str | None = None, status: int = 200
) -> HttpResponse:
    """The full page, or for an htmx request the named partial of the same template."""
    name = f"{template}#{partial}" if partial and _is_htmx(request) else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _base_context(request: HttpRequest, project) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"project": project, "role": project.caller_role}


@require_GET
@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    show_archived = request.GET.get("archived") == "1"
    page = Paginator(
        selectors.project_list_for_user(user=request.user, include_archived=show_archived), PROJECTS_PER_PAGE
    ).get_page(request.GET.get("page"))
    projects = list(page.object_list)
    roles = selectors.project_roles_for_user(user=request.user, projects=projects)
    for project in projects:
        project.caller_role = roles.get(project.pk, "")  # type: ignore[attr-defined]
    context = {
        "projects": projects,
        "page": page,
        "archived_param": "archived=1&" if show_archived else "",
        "show_archived": show_archived,
        "can_create": selectors.user_can_create_projects(user=request.user),
    }
    return _render(request, "projects/list.html", context, partial="project-table")


@require_http_methods(["GET", "POST"])
@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    organizations = selectors.organizations_for_project_creation(user=request.user)
    if not organizations.exists():
        raise PermissionDenied("Only organization admins and researchers create projects")
    form = ProjectCreateForm(request.POST or None, organizations=organizations)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        blank = data["template"] == BLANK
        try:
            project = services.project_create(
                user=request.user,
                organization=data["organization"],
                name=data["name"],
                description=data["description"],
                template="" if blank else data["template"],
                questions=data["parsed_questions"] if blank else None,
            )
        except SchemaError as exc:
            form.add_error("questions", schema_error_messages(exc))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Project “{project.name}” created.")
            target = "projects:questions" if blank else "projects:detail"
            return redirect(target, project_id=project.pk)
    status = INVALID if form.errors else 200
    return _render(request, "projects/new.html", {"form": form, "templates": BUILTIN_TEMPLATES}, status=status)


@require_GET
@login_required
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id)
    selectors.project_with_guidelines(project=project)
    context = _base_context(request, project)
    context["overview"] = selectors.project_overview(project=project, user=request.user, role=project.caller_role)
    return _render(request, "projects/detail.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    form = ProjectSettingsForm(request.POST or None, instance=project)
    saved = False
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(
                project=project, user=request.user, changes={f: form.cleaned_data[f] for f in form.changed_data}
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            saved = True
            if not _is_htmx(request):
                messages.success(request, "Settings saved.")
                return redirect("projects:settings", project_id=project.pk)
            form = ProjectSettingsForm(instance=project)
    context = {
        **_base_context(request, project),
        "form": form,
        "saved": saved,
        "can_delete": selectors.user_can_delete_project(user=request.user, project=project),
    }
    status = INVALID if form.errors else 200
    return _render(request, "projects/settings.html", context, partial="settings-form", status=status)


def _archive_toggle(request: HttpRequest, project_id: int, *, archive: bool) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    if archive:
        services.project_archive(project=project, user=request.user)
    else:
        services.project_unarchive(project=project, user=request.user)
    if _is_htmx(request):
        return _render(request, "projects/settings.html", _base_context(request, project), partial="archive-status")
    messages.success(request, "Project archived." if archive else "Project restored.")
    return redirect("projects:settings", project_id=project.pk)


@require_POST
@login_required
def project_archive(request: HttpRequest, project_id: int) -> HttpResponse:
    return _archive_toggle(request, project_id, archive=True)


@require_POST
@login_required
def project_unarchive(request: HttpRequest, project_id: int) -> HttpResponse:
    return _archive_toggle(request, project_id, archive=False)


@require_http_methods(["GET", "POST"])
@login_required
def project_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    if not selectors.user_can_delete_project(user=request.user, project=project):
        raise PermissionDenied("Only admins and researchers of the organization delete projects")
    form = DeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.project_delete(project=project, user=request.user, confirm_name=form.cleaned_data["confirm_name"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Project “{project.name}” was deleted; its data is being removed in the background.")
            return redirect("projects:list")
    context = {
        **_base_context(request, project),
        "form": form,
        "overview": selectors.project_overview(project=project, user=request.user, role=project.caller_role),
    }
    return _render(request, "projects/delete.html", context, status=INVALID if form.errors else 200)


@require_http_methods(["GET", "POST"])
@login_required
def guidelines(request: HttpRequest, project_id: int) -> HttpResponse:
    role = ProjectRole.MANAGER if request.method == "POST" else ProjectRole.ANNOTATOR
    project = project_for_user(request.user, project_id, role=role)
    current = project.current_guidelines()
    form = GuidelinesForm(request.POST or None, initial={"text": current.text if current else ""})
    outcome = None
    if request.method == "POST" and form.is_valid():
        try:
            version = services.guidelines_update(project=project, user=request.user, text=form.cleaned_data["text"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            outcome = f"Saved as version {version.version}." if version else "No changes: the guidelines are the same."
            if not _is_htmx(request):
                messages.success(request, outcome)
                return redirect("projects:guidelines", project_id=project.pk)
            current = version or current
    context = {**_base_context(request, project), "current": current, "form": form, "outcome": outcome}
    status = INVALID if form.errors else 200
    return _render(request, "projects/guidelines.html", context, partial="guidelines-editor", status=status)


@require_POST
@login_required
def guidelines_preview(request: HttpRequest, project_id: int) -> HttpResponse:
    project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    html = render_markdown(request.POST.get("text", "")[:100_000])
    # Only ever a fragment: it is fetched by htmx, and has no page of its own.
    return render(request, "projects/guidelines.html#guidelines-preview", {"preview_html": html})


@require_GET
@login_required
def guidelines_history(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id)
    versions = selectors.guideline_versions_for_project(project=project)
    return _render(request, "projects/guidelines_history.html", {**_base_context(request, project), "versions": versions})


@require_GET
@login_required
def guidelines_version(request: HttpRequest, project_id: int, version: int) -> HttpResponse:
    project = project_for_user(request.user, project_id)
    shown = selectors.guideline_version_get(project=project, version=version)
    previous = selectors.guideline_version_previous(version=shown)
    diff = []
    if previous is not None:
        diff = list(
            difflib.unified_diff(
                previous.text.splitlines(), shown.text.splitlines(),
                f"version {previous.version}", f"version {shown.version}", lineterm="",
            )
        )
    context = {**_base_context(request, project), "shown": shown, "previous": previous, "diff": diff}
    return _render(request, "projects/guidelines_version.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def questions(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    form = QuestionsForm(request.POST or None, initial={"questions": _pretty(project.questions)})
    if request.method == "POST" and form.is_valid():
        try:
            services.project_questions_set(project=project, user=request.user, questions=form.cleaned_data["questions"])
        except SchemaError as exc:
            form.add_error("questions", schema_error_messages(exc))
        else:
            messages.success(request, "Questions saved.")
            return redirect("projects:questions", project_id=project.pk)
    context = {
        **_base_context(request, project),
        "form": form,
        "annotation_count": project.annotations.count(),
        # After a failed save the editor holds a schema that cannot render; the errors say why.
        "preview_blocked": bool(form.errors),
    }
    if not form.errors:
        context.update(question_preview_context(request=request, project=project, questions=project.questions))
    return _render(request, "projects/questions.html", context, status=INVALID if form.errors else 200)


@require_POST
@login_required
def questions_preview(request: HttpRequest, project_id: int) -> HttpResponse:
    """Validate the edited schema and render the annotator form for a sample item, or the errors."""
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    form = QuestionsForm(request.POST)
    context: dict[str, Any] = {"project": project, "schema_errors": [], "json_error": None}
    if not form.is_valid():
        context["json_error"] = "; ".join(form.errors.get("questions", ["Questions are required."]))
    else:
        try:
            normalised = validate_schema(form.cleaned_data["questions"])
        except SchemaError as exc:
            context["schema_errors"] = exc.errors
        else:
            context.update(question_preview_context(request=request, project=project, questions=normalised))
    return render(request, "projects/questions.html#preview", context)


def _pretty(questions: Any) -> str:
    return json.dumps(questions_in_reading_order(questions), indent=2, ensure_ascii=False)
