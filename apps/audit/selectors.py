"""Reading the audit log: an organization's events, with allowlisted filters.

Filters arrive as typed values (an action name checked against ACTIONS, a username,
dates); none of them ever becomes an ORM lookup name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from apps.accounts.models import Organization, OrganizationMembership, OrgRole, ProjectMembership
from apps.audit.actions import ACCOUNT_ACTIONS, ACTIONS, CATEGORIES
from apps.audit.models import AuditEvent


def organization_for_audit(user, organization_id: int | str) -> Organization:  # type: ignore[no-untyped-def]
    """The organization if the caller is one of its admins; 404 otherwise (even for its
    researchers: the log shows other people's sign-ins and addresses)."""
    try:
        pk = int(organization_id)
    except (TypeError, ValueError):
        raise Http404("No such organization") from None
    if not getattr(user, "is_authenticated", False):
        raise Http404("No such organization")
    organization = Organization.objects.filter(
        pk=pk, memberships__user=user, memberships__role=OrgRole.ADMIN
    ).first()
    if organization is None:
        raise Http404("No such organization")
    return organization


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""  # an action name, or a category ("auth") for all its actions
    actor: str = ""  # a username, as recorded at the time (case-insensitive)
    since: dt.date | None = None
    until: dt.date | None = None  # inclusive
    project_id: int | None = None

    def __post_init__(self) -> None:
        if self.action and self.action not in ACTIONS and self.action not in CATEGORIES:
            raise ValueError(f"unknown action {self.action!r}")


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_events_for_organization(organization: Organization, filters: AuditFilters | None = None) -> QuerySet[AuditEvent]:
    """Events recorded for the organization, plus account events (sign-ins, failed
    sign-ins, tokens) of its members: its staff and the members of its projects."""
    filters = filters or AuditFilters()
    staff = OrganizationMembership.objects.filter(organization=organization).values("user_id")
    project_people = ProjectMembership.objects.filter(project__organization=organization).values("user_id")
    account_events = Q(organization__isnull=True, action__in=ACCOUNT_ACTIONS) & (
        Q(subject_user_id__in=staff) | Q(subject_user_id__in=project_people)
    )
    qs = AuditEvent.objects.filter(Q(organization=organization) | account_events)
    if filters.action in ACTIONS:
        qs = qs.filter(action=filters.action)
    elif filters.action:
        qs = qs.filter(action__in=[name for name in ACTIONS if name.startswith(filters.action + ".")])
    if filters.actor:
        qs = qs.filter(actor_label__iexact=filters.actor)
    if filters.since:
        qs = qs.filter(created_at__gte=_day_start(filters.since))
    if filters.until:
        qs = qs.filter(created_at__lt=_day_start(filters.until + dt.timedelta(days=1)))
    if filters.project_id:
        qs = qs.filter(project_id=filters.project_id)
    return qs.order_by("-created_at", "-id")


def action_choices() -> list[tuple[str, str]]:
    """For the filter form: categories first ("All sign-in events"), then each action."""
    categories = [(category, f"All {category} events") for category in CATEGORIES]
    return [("", "Any action"), *categories, *sorted(ACTIONS.items())]
