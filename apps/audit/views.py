"""The audit log page of an organization (its admins only; anyone else gets 404)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from apps.audit.actions import action_label
from apps.audit.selectors import (
    AuditFilters,
    action_choices,
    audit_events_for_organization,
    organization_for_audit,
)
from apps.projects.models import Project

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False)
    actor = forms.CharField(required=False, max_length=150, label="User")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    project = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, *args, organization, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = action_choices()
        projects = Project.objects.filter(organization=organization).order_by("name").values_list("pk", "name")
        self.fields["project"].choices = [("", "Any project"), *projects]

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            action=data.get("action") or "",
            actor=(data.get("actor") or "").strip(),
            since=data.get("since"),
            until=data.get("until"),
            project_id=data.get("project"),
        )


@require_GET
@login_required
def organization_audit(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = organization_for_audit(request.user, organization_id)
    form = AuditFilterForm(request.GET or None, organization=organization)
    status = 200
    if form.is_bound and not form.is_valid():
        events = audit_events_for_organization(organization).none()
        status = 400
    else:
        filters = form.filters() if form.is_bound else AuditFilters()
        events = audit_events_for_organization(organization, filters)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    for event in page.object_list:
        event.action_label = action_label(event.action)  # type: ignore[attr-defined]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "organization": organization,
        "form": form,
        "page": page,
        "filter_query": query.urlencode(),
        "filtered": bool(form.is_bound and any(request.GET.get(k) for k in form.fields)),
    }
    htmx = getattr(request, "htmx", None)
    template = "audit/organization_audit.html"
    if htmx and not htmx.history_restore_request:
        template += "#audit-results"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response
