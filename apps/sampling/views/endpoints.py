"""Model endpoint pages: list and create, edit, test the connection, archive."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from apps.sampling.access import endpoint_for_user, endpoints_visible_to, organizations_managed_by
from apps.sampling.forms import PARAMETER_FIELDS, EndpointForm, add_service_errors
from apps.sampling.services import endpoints as services
from apps.sampling.views.common import INVALID, render_page


@require_http_methods(["GET", "POST"])
@login_required
def endpoint_list(request: HttpRequest) -> HttpResponse:
    organizations = list(organizations_managed_by(request.user))
    if not organizations:
        raise PermissionDenied("Only organization admins and researchers manage model endpoints.")
    form = EndpointForm(request.POST or None, organizations=organizations)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            by_id = {o.pk: o for o in organizations}
            organization = by_id.get(form.cleaned_data.get("organization") or organizations[0].pk)
            data, api_key, _ = form.service_input()
            try:
                endpoint = services.endpoint_create(
                    organization=organization, user=request.user, data=data, api_key=api_key
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Endpoint “{endpoint.name}” added. Test the connection before a run.")
                return redirect("sampling:endpoints")
        status = INVALID
    endpoints = endpoints_visible_to(request.user).order_by("organization__name", "name")
    return render_page(
        request,
        "sampling/endpoints.html",
        {"endpoints": endpoints, "form": form, "several_orgs": len(organizations) > 1},
        partial="endpoint-form" if request.method == "POST" else None,
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def endpoint_edit(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = endpoint_for_user(request.user, endpoint_id)
    form = EndpointForm(request.POST or None, endpoint=endpoint, initial=EndpointForm.initial_for(endpoint))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data, api_key, clear = form.service_input()
            # The form edits the common parameters; others set through the API (stop, top_k…) stay.
            kept = {k: v for k, v in endpoint.default_parameters.items() if k not in PARAMETER_FIELDS}
            data["default_parameters"] = {**kept, **data["default_parameters"]}
            try:
                services.endpoint_update(endpoint=endpoint, data=data, api_key=api_key, clear_api_key=clear,
                                         actor=request.user)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Endpoint saved.")
                return redirect("sampling:endpoint_edit", endpoint_id=endpoint.pk)
        status = INVALID
        endpoint.refresh_from_db()
    return render_page(request, "sampling/endpoint_edit.html", {"endpoint": endpoint, "form": form}, status=status)


@require_POST
@login_required
def endpoint_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = endpoint_for_user(request.user, endpoint_id)
    result = services.endpoint_test(endpoint=endpoint)
    endpoint.refresh_from_db()
    return render_page(
        request, "sampling/endpoint_edit.html", {"endpoint": endpoint, "test": result, "form": None}, partial="test-result"
    )


@require_POST
@login_required
def endpoint_archive(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = endpoint_for_user(request.user, endpoint_id)
    services.endpoint_archive(endpoint=endpoint, actor=request.user)
    messages.success(request, f"Endpoint “{endpoint.name}” removed. Runs that used it keep their results.")
    return redirect("sampling:endpoints")
