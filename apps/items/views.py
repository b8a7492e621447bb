"""Pages of the items app (htmx): imports (upload, mapping with preview, progress), the item browser
and deleting items (selected in the browser, or one from its page).

One view serves the full page, or for an htmx request a named partial of the same template.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import ProjectRole
from apps.items import selectors, services
from apps.items.downloads import errors_response
from apps.items.forms import MappingForm, UploadForm
from apps.items.importing.errors import FileRejected
from apps.items.importing.mapping import MappingError
from apps.items.importing.preview import upload_preview
from apps.items.models import GenerationSource, ImportUpload, ItemState
from apps.projects.access import project_for_user
from apps.projects.schema import AnswerError

INVALID = 422


def _is_htmx(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _render(request: HttpRequest, template: str, context: dict[str, Any], *, partial: str | None = None,
            status: int = 200) -> HttpResponse:
    name = f"{template}#{partial}" if partial and _is_htmx(request) else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- imports ---


@require_http_methods(["GET", "POST"])
@login_required
def imports_new(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload_file = form.cleaned_data["file"]
        upload = services.import_upload_store(
            project=project, user=request.user, fileobj=upload_file, name=upload_file.name
        )
        return redirect("items:upload_mapping", project_id=project.pk, upload_id=upload.pk)
    context = {"project": project, "form": form, "jobs": selectors.import_jobs_recent(project=project)}
    return _render(request, "items/imports_new.html", context, status=INVALID if form.errors else 200)


def _upload_for(request: HttpRequest, project_id: int, upload_id: int) -> tuple[Any, ImportUpload]:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    upload = ImportUpload.objects.filter(pk=upload_id, project=project, deleted_at__isnull=True).first()
    if upload is None:
        raise Http404("No such upload")
    return project, upload


@require_http_methods(["GET", "POST"])
@login_required
def upload_mapping(request: HttpRequest, project_id: int, upload_id: int) -> HttpResponse:
    project, upload = _upload_for(request, project_id, upload_id)
    questions = list(project.questions or [])
    status = 200
    if request.method == "POST":
        columns = upload_preview(upload=upload, mapping=None, questions=questions, rows=0, parse=False).columns
        form = MappingForm(request.POST, columns=columns, questions=questions)
        if form.is_valid():
            try:
                job = services.import_job_start(
                    project=project, user=request.user, upload=upload, mapping=form.to_mapping()
                )
            except MappingError as exc:
                for field, problem in exc.errors.items():
                    form.add_error(field if field in form.fields else None, problem)
            except FileRejected as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("items:import_detail", job_id=job.pk)
        status = INVALID
        valid = form.is_valid()
        preview = upload_preview(upload=upload, mapping=form.to_mapping() if valid else None, questions=questions,
                                 parse=valid)
    else:
        preview = upload_preview(upload=upload, mapping=None, questions=questions)
        form = MappingForm(initial=MappingForm.initial_from(preview.guessed), columns=preview.columns,
                           questions=questions)
    context = {"project": project, "upload": upload, "form": form, "preview": preview}
    return _render(request, "items/mapping.html", context, status=status)


@require_GET
@login_required
def upload_preview_partial(request: HttpRequest, project_id: int, upload_id: int) -> HttpResponse:
    """The preview table for the mapping as currently filled in (htmx, on every form change)."""
    project, upload = _upload_for(request, project_id, upload_id)
    questions = list(project.questions or [])
    columns = upload_preview(upload=upload, mapping=None, questions=questions, rows=0, parse=False).columns
    form = MappingForm(request.GET, columns=columns, questions=questions)
    if form.is_valid():
        preview = upload_preview(upload=upload, mapping=form.to_mapping(), questions=questions)
    else:  # show the raw rows and what is wrong with the form, not a guess
        preview = upload_preview(upload=upload, mapping=None, questions=questions, parse=False)
        preview.mapping_errors = {k: "; ".join(v) for k, v in form.errors.items()}
    context = {"project": project, "upload": upload, "form": form, "preview": preview}
    return _render(request, "items/mapping.html", context, partial="preview")


@require_GET
@login_required
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.import_job_for_user(request.user, job_id)
    context = {"project": job.project, "job": job, "errors": list(job.row_errors.order_by("line", "pk")[:50])}
    return _render(request, "items/import_detail.html", context, partial="status")


@require_POST
@login_required
def import_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.import_job_for_user(request.user, job_id)
    if services.import_job_cancel(job=job):
        messages.success(request, "Import cancelled. Rows stored before the cancel are kept.")
    else:
        messages.error(request, f"The import has already {job.status}.")
    return redirect("items:import_detail", job_id=job.pk)


@require_GET
@login_required
def import_errors_download(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.import_job_for_user(request.user, job_id)
    kind = request.GET.get("kind", "csv")
    if kind not in ("csv", "jsonl"):
        raise Http404("Unknown report format")
    return errors_response(job, kind)


# --- item browser ---


def _int_value(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _browser_context(project: Any, params: Any) -> dict[str, Any]:
    """The item browser for the filters and page position in `params` (GET, or the delete form's POST)."""
    filter_errors: dict[str, str] = {}
    try:
        filters = selectors.item_filters_parse(params)
    except selectors.FilterError as exc:
        filter_errors = exc.errors
        filters = selectors.ItemFilters()
    after, before = _int_value(params.get("after")), _int_value(params.get("before"))
    page = selectors.item_page(project=project, filters=filters, after=after, before=before)
    count, capped = selectors.item_count_capped(project=project, filters=filters)
    return {
        "project": project,
        "filters": filters,
        "filter_qs": urlencode(filters.as_query()),
        "filter_fields": sorted(filters.as_query().items()),
        "page_after": after,
        "filter_errors": filter_errors,
        "page": page,
        "count": count,
        "capped": capped,
        "models": selectors.project_model_names(project=project),
        "states": ItemState.choices,
        "sources": GenerationSource.choices,
        "unindexed_imports": selectors.import_jobs_unindexed(project=project) if filters.q else 0,
        "max_delete": services.MAX_ITEMS_PER_DELETE,
    }


@require_GET
@login_required
def item_browser(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.REVIEWER)
    return _render(request, "items/browser.html", _browser_context(project, request.GET), partial="results")


def _deleted_message(deleted: services.ItemsDeleted) -> str:
    items = f"{len(deleted.ids)} item{'s' if len(deleted.ids) != 1 else ''}"
    if not deleted.annotations:
        return f"Deleted {items}."
    return f"Deleted {items} and {deleted.annotations} annotation{'s' if deleted.annotations != 1 else ''} of them."


@require_POST
@login_required
def items_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    """Delete the items ticked in the browser (researchers). htmx gets the results list again,
    on the same page and filters; a plain form post goes back to the browser."""
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    raw = request.POST.getlist("item")
    ids = [value for value in (_int_value(v) for v in raw) if value is not None]
    notice: dict[str, str]
    if not ids or len(ids) != len(raw):
        notice = {"kind": "error", "text": "Select the items to delete first (the boxes in the first column)."}
    elif len(set(ids)) > services.MAX_ITEMS_PER_DELETE:
        notice = {"kind": "error", "text": f"At most {services.MAX_ITEMS_PER_DELETE} items at a time."}
    else:
        try:
            deleted = services.items_delete(project=project, item_ids=ids, by=request.user, request=request)
        except services.ItemsNotFound:
            raise Http404("No such item") from None
        notice = {"kind": "success", "text": _deleted_message(deleted)}
    if _is_htmx(request):
        context = {**_browser_context(project, request.POST), "notice": notice}
        return _render(request, "items/browser.html", context, partial="results")
    (messages.success if notice["kind"] == "success" else messages.error)(request, notice["text"])
    try:
        query = urlencode(selectors.item_filters_parse(request.POST).as_query())
    except selectors.FilterError:
        query = ""
    return redirect(reverse("items:browser", args=[project.pk]) + (f"?{query}" if query else ""))


@require_GET
@login_required
def item_detail(request: HttpRequest, item_id: int) -> HttpResponse:
    item = selectors.item_for_user(request.user, item_id, role=ProjectRole.REVIEWER)
    context = {
        "project": item.project,
        "item": item,
        "responses": [(chr(65 + i), g) for i, g in enumerate(selectors.item_responses(item))],
        "gold_json": json.dumps(item.gold_answers, indent=2, ensure_ascii=False) if item.gold_answers else "",
        "metadata_json": json.dumps(item.metadata, indent=2, ensure_ascii=False) if item.metadata else "",
    }
    return _render(request, "items/item_detail.html", context)


@require_POST
@login_required
def item_delete(request: HttpRequest, item_id: int) -> HttpResponse:
    """Delete one item from its page (researchers), then back to the browser."""
    item = selectors.item_for_user(request.user, item_id, role=ProjectRole.MANAGER)
    try:
        deleted = services.items_delete(project=item.project, item_ids=[item.pk], by=request.user, request=request)
    except services.ItemsNotFound:  # deleted by someone else a moment ago
        raise Http404("No such item") from None
    messages.success(request, f"Item #{item.pk}: {_deleted_message(deleted)}")
    return redirect("items:browser", project_id=item.project.pk)


@require_POST
@login_required
def item_gold(request: HttpRequest, item_id: int) -> HttpResponse:
    item = selectors.item_for_user(request.user, item_id, role=ProjectRole.MANAGER)
    is_gold = request.POST.get("is_gold") == "1"
    raw = (request.POST.get("gold_answers") or "").strip()
    try:
        answers = json.loads(raw) if raw else None
        services.item_update(item=item, is_gold=is_gold, gold_answers=answers)
    except ValueError:
        messages.error(request, "Gold answers must be a JSON object keyed by question id.")
    except AnswerError as exc:
        messages.error(request, f"Gold answers do not fit the questions: {exc}")
    else:
        messages.success(request, "Gold marking saved." if is_gold else "Item is no longer gold.")
    return redirect("items:item_detail", item_id=item.pk)
