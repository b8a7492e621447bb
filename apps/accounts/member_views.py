"""Pages for project members and invite links, and organization staff.

One template per page; an htmx request gets the named partial (the panel it changed),
a plain form post gets a redirect (or the full page when it must show a secret or an error).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.accounts import selectors, services
from apps.accounts.access import (
    invite_for_project_manager,
    membership_for_manager,
    org_membership_for_admin,
    organization_for_admin,
    project_for_manager,
)
from apps.accounts.forms import InviteForm, MemberAddForm, OrgMemberAddForm, OrgRoleForm, RoleForm
from apps.accounts.models import OrgRole, ProjectRole
from apps.accounts.services import AccountsError
from apps.projects.access import is_org_admin
from apps.projects.models import Project

# --- project members -------------------------------------------------------------------


def _members_page(
    request: HttpRequest, project: Project, *, panel: str, notice: str = "", status: int = 200, **extra: Any
) -> HttpResponse:
    """The members page, or only `panel` for htmx. Plain posts without a secret or error redirect."""
    if not request.htmx and request.method == "POST" and status < 400 and "invite_url" not in extra:  # type: ignore[attr-defined]
        if notice:
            messages.success(request, notice)
        return redirect("accounts:project_members", project_id=project.pk)
    context = {
        "project": project,
        "members": selectors.project_member_list(project_id=project.pk),
        "staff": selectors.org_staff_list(organization_id=project.organization_id),
        "invites": selectors.invite_list(project_id=project.pk),
        "roles": ProjectRole.choices,
        "invite_form": InviteForm(),
        "add_form": MemberAddForm(),
        "is_org_admin": is_org_admin(request.user, project.organization_id),
        "notice": notice,
        **extra,
    }
    template = f"accounts/members.html#{panel}" if request.htmx else "accounts/members.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


@login_required
@vary_on_headers("HX-Request")
@require_GET
def project_members(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_manager(request.user, project_id)
    return _members_page(request, project, panel="members-panel")


@login_required
@vary_on_headers("HX-Request")
@require_POST
def project_member_add(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_manager(request.user, project_id)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            membership = services.membership_add(
                project=project, actor=request.user, username=form.cleaned_data["username"],  # type: ignore[arg-type]
                role=form.cleaned_data["role"],
            )
        except AccountsError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            notice = f"Added {membership.user.username} as {membership.get_role_display().lower()}."
            return _members_page(request, project, panel="members-panel", notice=notice)
    return _members_page(request, project, panel="members-panel", status=400, add_form=form)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def project_member_role(request: HttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    membership = membership_for_manager(request.user, project_id, membership_id)
    project = membership.project
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, project, panel="members-panel", status=400,
                             error=f"Role must be one of {', '.join(ProjectRole.values)}.")
    try:
        services.membership_set_role(membership=membership, actor=request.user, role=form.cleaned_data["role"])  # type: ignore[arg-type]
    except AccountsError as exc:
        return _members_page(request, project, panel="members-panel", status=400, error=exc.message)
    notice = f"{membership.user.username} is now {membership.get_role_display().lower()}."
    return _members_page(request, project, panel="members-panel", notice=notice)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def project_member_remove(request: HttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    membership = membership_for_manager(request.user, project_id, membership_id)
    project = membership.project
    try:
        services.membership_remove(membership=membership, actor=request.user)  # type: ignore[arg-type]
    except AccountsError as exc:
        return _members_page(request, project, panel="members-panel", status=400, error=exc.message)
    return _members_page(request, project, panel="members-panel", notice=f"Removed {membership.user.username}.")


@login_required
@never_cache  # the response carries the invite token
@vary_on_headers("HX-Request")
@require_POST
def invite_create(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_manager(request.user, project_id)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invite, token = services.invite_create(
                project=project, actor=request.user, role=form.cleaned_data["role"],  # type: ignore[arg-type]
                expires_at=form.expires_at(), max_uses=form.cleaned_data["max_uses"],
                label=form.cleaned_data["label"],
            )
        except AccountsError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            url = request.build_absolute_uri(f"/join/{token}/")
            return _members_page(request, project, panel="invites-panel", invite_url=url, new_invite=invite,
                                 status=201 if request.htmx else 200)  # type: ignore[attr-defined]
    return _members_page(request, project, panel="invites-panel", status=400, invite_form=form)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def invite_revoke(request: HttpRequest, project_id: int, invite_id: int) -> HttpResponse:
    invite = invite_for_project_manager(request.user, project_id, invite_id)
    services.invite_revoke(invite=invite, actor=request.user)  # type: ignore[arg-type]
    label = f"“{invite.label}”" if invite.label else f"{invite.token_prefix}…"
    return _members_page(request, invite.project, panel="invites-panel", notice=f"Invite link {label} revoked.")


# --- organization staff ------------------------------------------------------------------


def _org_page(request: HttpRequest, organization, *, notice: str = "", status: int = 200, **extra: Any) -> HttpResponse:  # type: ignore[no-untyped-def]
    if not request.htmx and request.method == "POST" and status < 400 and "new_password" not in extra:  # type: ignore[attr-defined]
        if notice:
            messages.success(request, notice)
        return redirect("accounts:org_members", organization_id=organization.pk)
    context = {
        "organization": organization,
        "members": selectors.org_staff_list(organization_id=organization.pk),
        "roles": OrgRole.choices,
        "add_form": OrgMemberAddForm(),
        "notice": notice,
        **extra,
    }
    template = "accounts/org_members.html#org-panel" if request.htmx else "accounts/org_members.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


@login_required
@never_cache  # a new account's password is shown once
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def org_members(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = organization_for_admin(request.user, organization_id)
    if request.method == "GET":
        return _org_page(request, organization)
    form = OrgMemberAddForm(request.POST)
    if form.is_valid():
        try:
            membership, password = services.org_membership_add(
                organization=organization, actor=request.user, username=form.cleaned_data["username"],  # type: ignore[arg-type]
                role=form.cleaned_data["role"], email=form.cleaned_data["email"],
            )
        except AccountsError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            notice = f"Added {membership.user.username} as {membership.get_role_display().lower()}."
            extra = {"new_password": password, "new_user": membership.user} if password else {}
            return _org_page(request, organization, notice=notice, **extra)
    return _org_page(request, organization, status=400, add_form=form)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def org_member_role(request: HttpRequest, organization_id: int, membership_id: int) -> HttpResponse:
    membership = org_membership_for_admin(request.user, organization_id, membership_id)
    form = OrgRoleForm(request.POST)
    if not form.is_valid():
        return _org_page(request, membership.organization, status=400,
                         error=f"Role must be one of {', '.join(OrgRole.values)}.")
    try:
        updated = services.org_membership_set_role(membership=membership, actor=request.user, role=form.cleaned_data["role"])  # type: ignore[arg-type]
    except AccountsError as exc:
        return _org_page(request, membership.organization, status=400, error=exc.message)
    notice = f"{membership.user.username} is now {updated.get_role_display().lower()}."
    return _org_page(request, membership.organization, notice=notice)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def org_member_remove(request: HttpRequest, organization_id: int, membership_id: int) -> HttpResponse:
    membership = org_membership_for_admin(request.user, organization_id, membership_id)
    try:
        services.org_membership_remove(membership=membership, actor=request.user)  # type: ignore[arg-type]
    except AccountsError as exc:
        return _org_page(request, membership.organization, status=400, error=exc.message)
    return _org_page(request, membership.organization, notice=f"Removed {membership.user.username} from the organization.")
