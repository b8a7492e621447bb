"""Record refused requests in the audit log.

Recorded as "access.denied":
  * every 403 (a role too low, a CSRF failure, a DRF permission refusal);
  * a 404 for a signed-in caller on a URL that names an object by id: the access
    helpers answer 404 for another tenant's ids, so these are the IDOR probes. On
    project URLs the event is attributed to the project's organization (so its
    admins see who tried), and a 404 inside a project the caller can see (a deleted
    item) is not a denial and is skipped.

Unknown URLs (no route) are not recorded: scanners would fill the log. Each caller
is limited to AUDIT_DENIED_PER_MINUTE events a minute for the same reason.

Runs after AuthenticationMiddleware; DRF copies the token-authenticated user onto
the Django request, so API callers are attributed too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from apps.audit.services import audit_record, client_ip

logger = logging.getLogger("verity.audit")

_PROJECT_KWARGS = ("project_id",)
_ORGANIZATION_KWARGS = ("organization_id", "org_id")


def _id_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if key == "pk" or key == "id" or key.endswith("_id")}


class AccessAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code in (403, 404):
            try:
                self._maybe_record(request, response.status_code)
            except Exception:  # the refusal stands; a failed log write must not turn it into a 500
                logger.exception("could not record access.denied for %s", request.path)
        return response

    def _maybe_record(self, request: HttpRequest, status: int) -> None:
        match = getattr(request, "resolver_match", None)
        if match is None:
            return
        user = getattr(request, "user", None)
        authenticated = bool(user is not None and user.is_authenticated)
        ids = _id_kwargs(match.kwargs)
        if status == 404 and not (authenticated and ids):
            return
        project, organization_id = self._attribution(ids)
        if status == 404 and project is not None and authenticated:
            from apps.projects.access import project_role_for

            if project_role_for(user, project) is not None:
                return  # a missing object inside a project the caller may see
        if not self._within_rate(request, user if authenticated else None):
            return
        audit_record(
            actor=user if authenticated else None,
            action="access.denied",
            project=project,
            organization=organization_id,
            request=request,
            detail={
                "status": status,
                "method": request.method,
                "path": request.path[:500],
                "route": match.route[:200],
                "view": (match.view_name or "")[:200],
                "ids": {key: str(value)[:40] for key, value in ids.items()},
            },
        )

    @staticmethod
    def _attribution(ids: dict[str, Any]) -> tuple[Any, int | None]:
        from apps.accounts.models import Organization
        from apps.projects.models import Project

        for key in _PROJECT_KWARGS:
            if key in ids:
                project = Project.objects.filter(pk=_as_int(ids[key])).only("pk", "organization_id").first()
                if project is not None:
                    return project, project.organization_id
        for key in _ORGANIZATION_KWARGS:
            if key in ids:
                organization_id = _as_int(ids[key])
                if Organization.objects.filter(pk=organization_id).exists():
                    return None, organization_id
        return None, None

    @staticmethod
    def _within_rate(request: HttpRequest, user: Any) -> bool:
        limit = getattr(settings, "AUDIT_DENIED_PER_MINUTE", 60)
        who = f"u{user.pk}" if user is not None else f"ip{client_ip(request)}"
        key = f"audit:denied:{who}:{int(time.time() // 60)}"
        try:
            if cache.add(key, 1, timeout=120):
                return True
            return cache.incr(key) <= limit
        except Exception:  # Redis down: record rather than lose the event
            logger.warning("audit rate limiter unavailable", exc_info=True)
            return True


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
