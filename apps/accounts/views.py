"""Pages for API tokens and invite links (joining a project).

Member management pages are in apps.accounts.member_views.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.accounts import selectors, services
from apps.accounts.access import api_token_for_user
from apps.accounts.forms import JoinForm, TokenForm
from apps.accounts.models import PROJECT_ROLE_RANK, Invite, ProjectRole
from apps.accounts.services import AccountsError, InviteUnusable, JoinResult
from apps.projects.access import project_role_for

# --- API tokens ---------------------------------------------------------------------


def _tokens_response(request: HttpRequest, *, form: TokenForm | None = None, status: int = 200, **extra) -> HttpResponse:  # type: ignore[no-untyped-def]
    context = {"tokens": selectors.api_token_list(user=request.user), "form": form or TokenForm(), **extra}
    template = "accounts/tokens.html#tokens-panel" if request.htmx else "accounts/tokens.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


@login_required
@never_cache  # the page may carry a freshly created key
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _tokens_response(request)
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _tokens_response(request, form=form, status=400)
    try:
        token, key = services.api_token_create(user=request.user, name=form.cleaned_data["name"])  # type: ignore[arg-type]
    except AccountsError as exc:
        form.add_error("name" if exc.field == "name" else None, exc.message)
        return _tokens_response(request, form=form, status=400)
    # Rendered, not redirected: the key exists only in this response.
    return _tokens_response(request, new_token=token, new_key=key, status=201 if request.htmx else 200)  # type: ignore[attr-defined]


@login_required
@vary_on_headers("HX-Request")
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = api_token_for_user(request.user, token_id)  # type: ignore[arg-type]
    services.api_token_revoke(token=token)
    if request.htmx:  # type: ignore[attr-defined]
        return _tokens_response(request, notice=f"Token “{token.name}” revoked.")
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("accounts:tokens")


# --- invite links -----------------------------------------------------------------------


def _landing_url(result: JoinResult) -> str:
    # Literal paths: these pages belong to other apps (see the URL conventions).
    if result.role == ProjectRole.ANNOTATOR:
        return f"/projects/{result.project.pk}/annotate/"
    return f"/projects/{result.project.pk}/"


def _after_join(request: HttpRequest, result: JoinResult) -> HttpResponse:
    role = ProjectRole(result.role).label.lower()
    if result.joined:
        messages.success(request, f"Welcome! You joined {result.project.name} as {role}.")
    else:
        messages.info(request, f"You are already in {result.project.name} as {role}.")
    return redirect(_landing_url(result))


def _closed(request: HttpRequest, message: str, status: int, invite: Invite | None = None) -> HttpResponse:
    return render(request, "accounts/join.html", {"closed": message, "invite": invite}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """An invite link. Signed-in users confirm; anonymous crowd workers pick a username and
    password (no email). `?worker_id=` from the crowd platform is stored on the membership."""
    invite = selectors.invite_by_token(token=token)
    if invite is None:
        return _closed(
            request,
            "This invite link is not valid. Check that you copied all of it, or ask the project's managers for a new one.",
            404,
        )
    try:
        worker_id = services.clean_worker_id(request.GET.get("worker_id"))
    except AccountsError as exc:
        return _closed(request, exc.message, 400, invite)

    current_role = project_role_for(request.user, invite.project)
    already_in = current_role is not None and (
        PROJECT_ROLE_RANK[ProjectRole(current_role)] >= PROJECT_ROLE_RANK[ProjectRole(invite.role)]
    )
    problem = services.invite_problem(invite)
    # A POST goes on to the service even for a dead link: a double-submitted join form
    # whose first copy took the last use must still find its own account (see below).
    if problem and not already_in and request.method == "GET":
        return _closed(request, problem.message, problem.status_code, invite)

    form = None
    status = 200
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                result = services.invite_accept(invite_id=invite.pk, user=request.user, external_worker_id=worker_id)  # type: ignore[arg-type]
            except AccountsError as exc:
                return _closed(request, exc.message, exc.status_code, invite)
            return _after_join(request, result)
    elif request.method == "POST":
        form = JoinForm(request.POST)
        if form.is_valid():
            response = _join_as_new_user(request, form, invite, worker_id)
            if response is not None:
                return response
        elif problem:
            return _closed(request, problem.message, problem.status_code, invite)
        status = 400
    else:
        suggestion = services.suggest_username()
        form = JoinForm(initial={"username": suggestion, "suggested": suggestion})
    context = {
        "invite": invite,
        "project": invite.project,
        "form": form,
        "current_role": current_role,
        "already_in": already_in,
        "role_label": ProjectRole(invite.role).label.lower(),
        "login_url": reverse("accounts:login") + "?" + urlencode({"next": request.get_full_path()}),
    }
    return render(request, "accounts/join.html", context, status=status)


def _join_as_new_user(request: HttpRequest, form: JoinForm, invite: Invite, worker_id: str) -> HttpResponse | None:
    """Create the account and join; None (with errors on the form) when that failed."""
    username = form.chosen_username() or services.suggest_username()
    password = form.cleaned_data["password"]
    try:
        result = services.invite_accept_new_user(
            invite_id=invite.pk, username=username, password=password, external_worker_id=worker_id
        )
    except InviteUnusable as exc:
        return _closed(request, exc.message, exc.status_code, invite)
    except AccountsError as exc:
        if exc.code != "username_taken":
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return None
        # Either the same person submitted twice, someone with an account used this form,
        # or a real clash. authenticate() goes through django-axes, so guessing is throttled.
        user = authenticate(request, username=username, password=password)
        if user is None:
            form.add_error(
                "username",
                "That username is taken. If it is yours, enter its password to join with it, or sign in first.",
            )
            return None
        try:
            result = services.invite_accept(invite_id=invite.pk, user=user, external_worker_id=worker_id)
        except AccountsError as inner:
            return _closed(request, inner.message, inner.status_code, invite)
        login(request, user)
        return _after_join(request, result)
    login(request, result.user, backend="django.contrib.auth.backends.ModelBackend")
    return _after_join(request, result)
