"""The researcher's personal-data page: what was found, the policy, and rescans.

One template; htmx requests get the named partial they changed (policy card, scan
status). Managers only (org admins and researchers act as managers).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import ProjectRole
from apps.privacy import selectors, services
from apps.privacy.detection import PII_TYPE_LABELS, redact, url_detection_enabled
from apps.privacy.models import PiiSpan
from apps.projects.access import project_for_user
from apps.projects.models import PiiPolicy

TEMPLATE = "privacy/project_privacy.html"
PAGE_SIZE = 50


class PolicyForm(forms.Form):
    pii_policy = forms.ChoiceField(choices=PiiPolicy.choices, widget=forms.RadioSelect, label="Annotators")


def _render(request: HttpRequest, context: dict[str, Any], *, partial: str | None, status: int = 200) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    use_partial = partial and htmx and not htmx.history_restore_request
    response = render(request, f"{TEMPLATE}#{partial}" if use_partial else TEMPLATE, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _excerpts(items: list[Any]) -> dict[int, str]:
    """Prompt excerpts with personal data already redacted: the listing itself should not
    spread what it reports."""
    spans: dict[int, list[PiiSpan]] = {}
    for span in PiiSpan.objects.filter(
        prompt_id__in={item.prompt_id for item in items}, message_index__isnull=True
    ).order_by("start"):
        spans.setdefault(span.prompt_id, []).append(span)
    excerpts = {}
    for item in items:
        text = redact(item.prompt.text, spans.get(item.prompt_id, []))
        excerpts[item.pk] = text if len(text) <= 160 else text[:159] + "…"
    return excerpts


def _page_context(request: HttpRequest, project: Any, form: PolicyForm | None = None) -> dict[str, Any]:
    pii_type = request.GET.get("type", "")
    if pii_type not in PII_TYPE_LABELS:
        pii_type = ""
    paginator = Paginator(selectors.pii_items_for_project(project, pii_type=pii_type or None), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    items = list(page.object_list)
    types = selectors.pii_types_for_items(items)
    excerpts = _excerpts(items)
    rows = [{"item": item, "types": types.get(item.pk, []), "excerpt": excerpts[item.pk]} for item in items]
    return {
        "project": project,
        "summary": selectors.pii_summary_for_project(project),
        "scan": selectors.latest_scan_job(project),
        "rows": rows,
        "page": page,
        "pii_type": pii_type,
        "pii_type_label": PII_TYPE_LABELS.get(pii_type, ""),
        "type_labels": PII_TYPE_LABELS,
        "form": form or PolicyForm(initial={"pii_policy": project.pii_policy}),
        "urls_detected": url_detection_enabled(),
    }


@require_GET
@login_required
def privacy_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    return _render(request, _page_context(request, project), partial="pii-items")


@require_POST
@login_required
def privacy_policy(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    form = PolicyForm(request.POST)
    if not form.is_valid():
        return _render(request, _page_context(request, project, form), partial="policy-card", status=422)
    services.project_pii_policy_set(
        project=project, policy=form.cleaned_data["pii_policy"], actor=request.user, request=request
    )
    if not getattr(request, "htmx", None):
        return redirect("privacy:page", project_id=project.pk)
    context = _page_context(request, project)
    context["saved"] = True
    return _render(request, context, partial="policy-card")


@require_http_methods(["GET", "POST"])
@login_required
def privacy_scan(request: HttpRequest, project_id: int) -> HttpResponse:
    """GET: the scan status card (htmx polls it while a scan runs). POST: start a scan."""
    project = project_for_user(request.user, project_id, role=ProjectRole.MANAGER)
    if request.method == "POST":
        services.pii_scan_job_start(project=project, actor=request.user, request=request)
        if not getattr(request, "htmx", None):
            return redirect("privacy:page", project_id=project.pk)
    context = {"project": project, "scan": selectors.latest_scan_job(project)}
    response = render(request, f"{TEMPLATE}#scan-status", context)
    patch_vary_headers(response, ("HX-Request",))
    return response
