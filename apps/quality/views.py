"""Quality pages (htmx): the dashboard, the review queue and item review, gold items.

Each view serves the full page, or for an htmx request a named partial of the
same template. Everything here needs the reviewer role at least (annotators get
403; another tenant's project is a 404); settings, suspensions and gold need a
manager.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import ProjectMembership, ProjectRole
from apps.core.models import JobStatus
from apps.items.models import Item
from apps.projects.access import project_for_user
from apps.quality import selectors, services
from apps.quality.display import answer_text, response_labels
from apps.quality.forms import QualitySettingsForm, ReviewForm, answer_fields, answers_from_post
from apps.quality.models import ItemAggregate
from apps.quality.recompute import settings_for

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


# --- dashboard -------------------------------------------------------------------------------


def _annotator_page(request: HttpRequest, project) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    order = request.GET.get("order", "annotations")
    if order not in selectors.ANNOTATOR_ORDERINGS:
        order = "annotations"
    page = Paginator(selectors.annotator_table(project, order=order), 25).get_page(request.GET.get("page"))
    return {"annotators": page, "order": order, "orderings": selectors.ANNOTATOR_ORDERINGS}


def _dashboard_context(request: HttpRequest, project, *, settings_form=None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    snapshot = selectors.snapshot_for(project)
    figures = snapshot.figures if snapshot else {}
    is_manager = project.caller_role == ProjectRole.MANAGER
    return {
        "project": project,
        "role": project.caller_role,
        "is_manager": is_manager,
        "snapshot": snapshot,
        "figures": figures,
        "chart_data": selectors.chart_data(figures),
        "notices": list(selectors.notices_for(project)[:20]),
        "settings_form": settings_form or (QualitySettingsForm(instance=settings_for(project)) if is_manager else None),
        **_annotator_page(request, project),
    }


@require_GET
@login_required
def dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.REVIEWER)
    return _render(request, "quality/dashboard.html", _dashboard_context(request, project))


@require_GET
@login_required
def dashboard_status(request: HttpRequest, project_id: int) -> HttpResponse:
    """Polled while a recompute is queued or running; reloads the page when it finishes."""
    project = project_for_user(request.user, project_id, role=ProjectRole.REVIEWER)
    snapshot = selectors.snapshot_for(project)
    response = render(request, "quality/dashboard.html#status", {"project": project, "snapshot": snapshot,
                                                                  "is_manager": project.caller_role == ProjectRole.MANAGER})
    was_busy = request.GET.get("was") in (JobStatus.QUEUED, JobStatus.RUNNING)
    if was_busy and snapshot is not None and snapshot.status in JobStatus.finished():
        response["HX-Refresh"] = "true"
    return response


@require_POST
@login_required
def recompute(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    services.recompute_schedule(project_id=project.pk, delay=0)
    if _is_htmx(request):
        return render(request, "quality/dashboard.html#status",
                      {"project": project, "snapshot": selectors.snapshot_for(project), "is_manager": True})
    messages.success(request, "Recompute queued.")
    return redirect("quality:dashboard", project_id=project.pk)


@require_POST
@login_required
def settings_save(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    form = QualitySettingsForm(request.POST, instance=settings_for(project))
    saved = False
    if form.is_valid():
        try:
            services.quality_settings_update(project=project, values={k: form.cleaned_data[k] for k in services.SETTINGS_FIELDS})
            saved = True
        except services.QualityError as exc:
            form.add_error(None, exc.message)
    if not _is_htmx(request):
        if saved:
            messages.success(request, "Quality settings saved.")
            return redirect("quality:dashboard", project_id=project.pk)
        return _render(request, "quality/dashboard.html", _dashboard_context(request, project, settings_form=form), status=INVALID)
    context = {"project": project, "settings_form": form if not saved else QualitySettingsForm(instance=settings_for(project)),
               "settings_saved": saved, "is_manager": True}
    return render(request, "quality/dashboard.html#settings", context, status=200 if saved else INVALID)


@require_GET
@login_required
def annotators(request: HttpRequest, project_id: int) -> HttpResponse:
    """The annotator table (sorting, paging); without htmx, the whole dashboard at that page."""
    project = project_for_user(request.user, project_id, role=ProjectRole.REVIEWER)
    if not _is_htmx(request):
        return _render(request, "quality/dashboard.html", _dashboard_context(request, project))
    context = {"project": project, "is_manager": project.caller_role == ProjectRole.MANAGER,
               **_annotator_page(request, project)}
    return _render(request, "quality/dashboard.html", context, partial="annotators")


@require_POST
@login_required
def annotator_action(request: HttpRequest, project_id: int, user_id: int, mode: str) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    if not ProjectMembership.objects.filter(project=project, user_id=user_id).exists():
        raise Http404("No such member")
    note = (request.POST.get("reason") or "").strip()
    if mode == "suspend":
        changed = services.annotator_suspend(project=project, annotator_id=user_id, by=request.user,
                                             reason=note or f"Suspended by {request.user}.")
        text = "Annotator suspended; their work is set aside from the next recompute." if changed else "Already suspended."
    else:
        changed = services.annotator_reinstate(project=project, annotator_id=user_id, by=request.user, note=note)
        text = "Annotator reinstated." if changed else "This annotator was not suspended."
    if _is_htmx(request):
        context = {"project": project, "is_manager": True, "flash": text, **_annotator_page(request, project)}
        return render(request, "quality/dashboard.html#annotators", context)
    messages.success(request, text)
    return redirect("quality:dashboard", project_id=project.pk)


@require_POST
@login_required
def notices_acknowledge(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    services.notices_acknowledge(project=project)
    if _is_htmx(request):
        return render(request, "quality/dashboard.html#notices", {"project": project, "notices": [], "is_manager": True})
    return redirect("quality:dashboard", project_id=project.pk)


# --- review -----------------------------------------------------------------------------------


@require_GET
@login_required
def review_queue(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.REVIEWER)
    queue = request.GET.get("queue", "disagreements")
    if queue not in selectors.QUEUES:
        queue = "disagreements"
    page = Paginator(selectors.review_queue(project, queue), 25).get_page(request.GET.get("page"))
    context = {"project": project, "role": project.caller_role, "queue": queue, "queues": selectors.QUEUES,
               "counts": selectors.queue_counts(project), "page": page}
    return _render(request, "quality/review_queue.html", context, partial="queue")


def _next_in_queue(project, queue: str, after_item: int) -> int | None:  # type: ignore[no-untyped-def]
    rows = selectors.review_queue(project, queue)
    for row in rows[:50]:
        item_id = row.pk if queue == "flags" else row.item_id
        if item_id != after_item:
            return item_id
    return None


@require_http_methods(["GET", "POST"])
@login_required
def review_item(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.REVIEWER)
    item = Item.objects.select_related("prompt").filter(pk=item_id, project=project).first()
    if item is None:
        raise Http404("No such item")
    queue = request.GET.get("queue") or request.POST.get("queue") or "disagreements"
    queue = queue if queue in selectors.QUEUES else "disagreements"
    status = 200
    form = ReviewForm(request.POST or None)
    reveal = project.caller_role == ProjectRole.MANAGER
    detail = selectors.review_item_detail(project, item, reveal_gold=reveal)
    generations = [r["id"] for r in detail["responses"]]
    error = ""
    if request.method == "POST":
        answers, parse_errors = answers_from_post(project.questions or [], generations, request.POST)
        if form.is_valid() and not parse_errors:
            try:
                services.review_record(
                    project=project, item=item, reviewer=request.user, decision=form.cleaned_data["decision"],
                    note=form.cleaned_data["note"], annotation_id=form.cleaned_data["annotation"],
                    answers=answers if form.cleaned_data["decision"] == "correct" else None,
                )
            except services.QualityError as exc:
                error = exc.message
            else:
                messages.success(request, f"Review of item {item.pk} saved.")
                next_item = _next_in_queue(project, queue, item.pk)
                if request.POST.get("then") == "next" and next_item:
                    return redirect(f"{reverse('quality:review_item', args=[project.pk, next_item])}?queue={queue}")
                return redirect(f"{reverse('quality:review_item', args=[project.pk, item.pk])}?queue={queue}")
        else:
            error = "; ".join([f"{k}: {v}" for k, v in parse_errors.items()] + [
                f"{k}: {' '.join(v)}" for k, v in form.errors.items()])
        status = INVALID
        detail = selectors.review_item_detail(project, item, reveal_gold=reveal)
    aggregate = detail["aggregate"]
    context = {
        "project": project, "role": project.caller_role, "is_manager": project.caller_role == ProjectRole.MANAGER,
        "queue": queue, "error": error, **detail,
        "fields": answer_fields(project.questions or [], generations, aggregate.answers if aggregate else {}),
        "gold": _gold_text(project, item, detail) if project.caller_role == ProjectRole.MANAGER else None,
        "next_item": _next_in_queue(project, queue, item.pk),
    }
    return _render(request, "quality/review_item.html", context, status=status)


def _gold_text(project, item: Item, detail: dict[str, Any]) -> list[dict[str, str]] | None:  # type: ignore[no-untyped-def]
    """Managers only: the gold answers as text (never rendered for other roles)."""
    if not item.is_gold or not item.gold_answers:
        return None
    labels = {r["id"]: r["label"] for r in detail["responses"]}
    texts = {r["id"]: r["text"] for r in detail["responses"]}
    return [
        {"prompt": q.get("prompt", q["id"]), "answer": answer_text(q, item.gold_answers.get(q["id"]), labels=labels,
                                                                  texts=texts, prompt_text=item.prompt.text)}
        for q in project.questions or [] if q["id"] in item.gold_answers
    ]


@require_POST
@login_required
def item_gold(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    item = Item.objects.select_related("prompt").filter(pk=item_id, project=project).first()
    if item is None:
        raise Http404("No such item")
    target = f"{reverse('quality:review_item', args=[project.pk, item.pk])}"
    if request.POST.get("gold") == "unmark":
        services.gold_set(project=project, item=item, is_gold=False, by=request.user)
        messages.success(request, "The item is no longer gold.")
        return redirect(target)
    generations = [g.pk for g in item.ordered_generations()]
    answers, parse_errors = answers_from_post(project.questions or [], generations, request.POST)
    try:
        if parse_errors:
            raise services.QualityError("invalid_answers", "; ".join(f"{k}: {v}" for k, v in parse_errors.items()))
        services.gold_set(project=project, item=item, is_gold=True, gold_answers=answers,
                          explanation=request.POST.get("explanation", ""), by=request.user)
    except services.QualityError as exc:
        messages.error(request, f"Not saved as gold: {exc.message}")
    else:
        messages.success(request, "Saved as a gold item: annotators will be scored against these answers.")
    return redirect(target)


@require_GET
@login_required
def gold_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    items = (Item.objects.filter(project=project, is_gold=True).select_related("prompt")
             .prefetch_related("item_generations").order_by("-id"))
    page = Paginator(items, 25).get_page(request.GET.get("page"))
    questions = {q["id"]: q for q in project.questions or []}
    counts = dict(ItemAggregate.objects.filter(item__in=list(page)).values_list("item_id", "annotation_count"))
    rows = []
    for item in page:
        links = sorted(item.item_generations.all(), key=lambda link: link.position)
        labels = response_labels([link.generation_id for link in links])
        rows.append({
            "item": item,
            "answers": [f"{questions[qid].get('prompt', qid)}: {answer_text(questions[qid], value, labels=labels)}"
                        for qid, value in (item.gold_answers or {}).items() if qid in questions],
            "annotations": counts.get(item.pk, 0),
        })
    return render(request, "quality/gold_list.html", {"project": project, "role": project.caller_role,
                                                      "page": page, "rows": rows})
