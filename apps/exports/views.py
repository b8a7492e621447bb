"""The export page: pick what to build, preview it, start it, follow it, download it.

One template serves the full page and, for htmx requests, its named partials
(history table, preview, job status), as django-htmx's example does.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.api import ApiError
from apps.exports.api import download_response
from apps.exports.models import ExportFormat, ExportKind
from apps.exports.options import KNOWN_KEYS, ExportOptionsError
from apps.exports.selectors import export_for_user, export_list_for_project, project_for_exports
from apps.exports.services import export_cancel, export_create, export_options_parse, export_preview

HISTORY_LIMIT = 25
# The form names each kind's sources differently so that fields of hidden sections never leak in.
SOURCE_FIELDS = {
    ExportKind.SFT: "sft_sources",
    ExportKind.OPENAI_CHAT: "sft_sources",
    ExportKind.PREFERENCE: "preference_sources",
    ExportKind.OPENAI_PREFERENCE: "preference_sources",
    ExportKind.KTO: "kto_source",
}
LIST_FIELDS = ("harmful_labels", "positive_values")


def options_from_form(data: QueryDict) -> tuple[str, str, dict[str, Any]]:
    """Form fields → the raw option dict the API takes. Checkboxes post a hidden '0' before the box."""
    kind, fmt = data.get("kind", ""), data.get("format", "")
    raw: dict[str, Any] = {}
    for key in KNOWN_KEYS - {"sources"}:
        values = data.getlist(key)
        if not values:
            continue
        if key in LIST_FIELDS:
            chosen = [v for v in values if v]
            if chosen:
                raw[key] = chosen
        else:
            raw[key] = values[-1]
    sources = [v for v in data.getlist(SOURCE_FIELDS.get(kind, "")) if v]
    if sources:
        raw["sources"] = sources
    return kind, fmt, raw


def _page_context(project, **extra: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    questions = list(project.questions)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for question in questions:
        by_type.setdefault(question["type"], []).append(question)
    span_labels = [label for q in by_type.get("spans", []) for label in q.get("labels", [])]
    jobs = list(export_list_for_project(project=project)[:HISTORY_LIMIT])
    return {
        "project": project,
        "kinds": ExportKind.choices,
        "formats": ExportFormat.choices,
        "by_type": by_type,
        "span_labels": span_labels,
        "jobs": jobs,
        "polling": any(not job.is_finished for job in jobs),
        **extra,
    }


@login_required
@require_http_methods(["GET", "POST"])
def export_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_exports(request.user, project_id)
    if request.method == "POST":
        kind, fmt, raw = options_from_form(request.POST)
        try:
            export_create(project=project, user=request.user, kind=kind, fmt=fmt, raw_options=raw, request=request)
        except ExportOptionsError as exc:
            context = _page_context(project, errors=exc.errors, form=request.POST)
            if request.htmx:
                # htmx does not swap error statuses: answer 200 and retarget the form itself.
                response = render(request, "exports/page.html#start", context)
                response["HX-Retarget"] = "#export-form"
                response["HX-Reswap"] = "outerHTML"
                return response
            return render(request, "exports/page.html", context, status=400)
        if request.htmx:
            response = render(request, "exports/page.html#history", _page_context(project))
            response["HX-Trigger"] = "export-started"
            return response
        return redirect("exports:page", project_id=project.pk)
    context = _page_context(project, form=QueryDict())
    if request.htmx and request.htmx.target == "export-history":
        response = render(request, "exports/page.html#history", context)
    else:
        response = render(request, "exports/page.html", context)
    response["Vary"] = "HX-Request"
    return response


@login_required
@require_POST
def export_preview_view(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_exports(request.user, project_id)
    kind, fmt, raw = options_from_form(request.POST)
    try:
        options = export_options_parse(project=project, kind=kind, fmt=fmt, raw=raw)
    except ExportOptionsError as exc:
        return render(request, "exports/page.html#preview", {"errors": exc.errors}, status=200)
    preview = export_preview(project=project, options=options)
    return render(request, "exports/page.html#preview", {"preview": preview, "options": options})


@login_required
@require_GET
def export_detail(request: HttpRequest, project_id: int, export_id: int) -> HttpResponse:
    job = export_for_user(request.user, export_id)
    if job.project_id != int(project_id):
        return redirect("exports:detail", project_id=job.project_id, export_id=job.pk)
    template = "exports/detail.html#status" if request.htmx else "exports/detail.html"
    response = render(request, template, {"project": job.project, "job": job})
    response["Vary"] = "HX-Request"
    return response


@login_required
@require_POST
def export_cancel_view(request: HttpRequest, project_id: int, export_id: int) -> HttpResponse:
    job = export_for_user(request.user, export_id)
    export_cancel(job=job)
    if request.htmx:
        return render(request, "exports/page.html#history", _page_context(job.project))
    return redirect(reverse("exports:page", kwargs={"project_id": job.project_id}))


@login_required
@require_GET
def export_download(request: HttpRequest, project_id: int, export_id: int) -> HttpResponse:
    # Authorization on the download itself: a guessed URL from another tenant is a 404.
    job = export_for_user(request.user, export_id)
    try:
        return download_response(job, request.GET.get("file"), request=request)
    except ApiError as exc:
        return render(request, "exports/unavailable.html", {"project": job.project, "job": job,
                                                            "message": str(exc.detail)}, status=exc.status_code)
