"""Writing the audit log.

    audit_record(*, actor, action, target=None, organization=None, project=None,
                 request=None, detail=None, subject_user=None) -> AuditEvent

Call it from the service that performs the action, inside its transaction: if the
action rolls back, so does its audit event. Every string that may come from a user
(usernames, object names, detail values, the user agent) is cleaned of CR, LF and
other control characters and of bidirectional overrides, so a value cannot forge a
second log line or disguise itself when shown.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest

from apps.audit.actions import ACTIONS
from apps.audit.models import AuditEvent

logger = logging.getLogger("verity.audit")

_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_LIKE = re.compile("[\r\n\t\v\f\x85\u2028\u2029]+")
MAX_STRING = 1000
MAX_DETAIL_BYTES = 16_000
MAX_DETAIL_DEPTH = 4


def clean_text(value: object, *, max_length: int = MAX_STRING) -> str:
    """One line of printable text: breaks become a space, other controls are dropped."""
    text = _LINE_LIKE.sub(" ", str(value))
    text = _BIDI_CONTROLS.sub("", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    return text[:max_length]


def _clean_detail(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DETAIL_DEPTH:
        return clean_text(json.dumps(value, default=str), max_length=200)
    if isinstance(value, dict):
        return {
            clean_text(key, max_length=100): _clean_detail(item, depth + 1) for key, item in list(value.items())[:100]
        }
    if isinstance(value, list | tuple | set):
        return [_clean_detail(item, depth + 1) for item in list(value)[:200]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return clean_text(value)


def clean_detail(detail: dict[str, Any] | None) -> dict[str, Any]:
    cleaned = _clean_detail(detail or {})
    if not isinstance(cleaned, dict):
        cleaned = {"value": cleaned}
    if len(json.dumps(cleaned, default=str)) > MAX_DETAIL_BYTES:
        cleaned = {"truncated": True, "keys": sorted(cleaned)[:50]}
    return cleaned


def client_ip(request: HttpRequest | None) -> str | None:
    """The caller's address. Behind the TLS proxy (BEHIND_TLS_PROXY) it is the last
    X-Forwarded-For entry, the one our proxy appended; earlier ones are client-supplied."""
    if request is None:
        return None
    candidate = request.META.get("REMOTE_ADDR", "")
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            candidate = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def _user_fields(user: Any) -> tuple[int | None, str]:
    if user is None or not getattr(user, "is_authenticated", False):
        return None, ""
    return user.pk, clean_text(user.get_username(), max_length=150)


def _object_fields(target: models.Model | None) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    meta = target._meta
    return f"{meta.app_label}.{meta.model_name}", str(target.pk)[:64], clean_text(target, max_length=200)


def build_event(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    organization: Any = None,
    project: Any = None,
    request: HttpRequest | None = None,
    detail: dict[str, Any] | None = None,
    subject_user: Any = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """An unsaved AuditEvent (for bulk_create); see audit_record."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to apps.audit.actions.ACTIONS")
    actor_id, label = _user_fields(actor)
    if actor_label is not None:
        label = clean_text(actor_label, max_length=150)
    object_type, object_id, object_repr = _object_fields(target)
    project_id = getattr(project, "pk", project)
    organization_id = getattr(organization, "pk", organization)
    if organization_id is None and project is not None:
        organization_id = getattr(project, "organization_id", None)
    user_agent = ""
    if request is not None:
        user_agent = clean_text(request.META.get("HTTP_USER_AGENT", ""), max_length=300)
    return AuditEvent(
        action=action,
        actor_id=actor_id,
        actor_label=label,
        subject_user_id=getattr(subject_user, "pk", subject_user),
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        organization_id=organization_id,
        project_id=project_id,
        ip_address=client_ip(request),
        user_agent=user_agent,
        detail=clean_detail(detail),
    )


def _log(event: AuditEvent) -> None:
    # Also one structured log line for log shippers; every field is already cleaned.
    logger.info(
        "audit %s",
        json.dumps(
            {
                "id": event.pk,
                "action": event.action,
                "actor": event.actor_label,
                "actor_id": event.actor_id,
                "object": f"{event.object_type}:{event.object_id}" if event.object_type else "",
                "organization_id": event.organization_id,
                "project_id": event.project_id,
                "ip": event.ip_address,
            },
            ensure_ascii=True,
        ),
    )


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    organization: Any = None,
    project: Any = None,
    request: HttpRequest | None = None,
    detail: dict[str, Any] | None = None,
    subject_user: Any = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one event. `action` must be one of apps.audit.actions.ACTIONS.

    `organization` and `project` may be instances or ids; the organization defaults
    to the project's. `target` is the object acted on (type, id and name are kept).
    """
    event = build_event(
        actor=actor,
        action=action,
        target=target,
        organization=organization,
        project=project,
        request=request,
        detail=detail,
        subject_user=subject_user,
        actor_label=actor_label,
    )
    event.save()
    _log(event)
    return event


def audit_record_many(
    *,
    actor: Any,
    action: str,
    targets: Iterable[models.Model],
    organization: Any = None,
    project: Any = None,
    request: HttpRequest | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """One event per target in a single INSERT, for bulk operations (deleting items)."""
    events = [
        build_event(
            actor=actor,
            action=action,
            target=target,
            organization=organization,
            project=project,
            request=request,
            detail=detail,
        )
        for target in targets
    ]
    AuditEvent.objects.bulk_create(events, batch_size=1000)
    logger.info("audit %s x%d (actor=%s)", action, len(events), events[0].actor_label if events else "")
    return len(events)
