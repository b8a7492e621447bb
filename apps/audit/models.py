"""The audit log: one append-only table.

Rows are never updated or deleted: a PostgreSQL trigger (migration 0002) rejects
UPDATE and DELETE, and the queryset refuses both before they reach the database.
References to users, organizations and projects carry no foreign-key constraint
and no cascade, so deleting a project (which is itself audited) leaves its history
in place; labels snapshot the names at the time of the event.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditLogIsAppendOnly(Exception):
    pass


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AuditLogIsAppendOnly("audit events cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("audit events cannot be deleted")


def _loose_fk(model: str, related_name: str = "+") -> models.ForeignKey:
    return models.ForeignKey(
        model,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name=related_name,
    )


class AuditEvent(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    action = models.CharField(max_length=60)
    # Who did it (null: anonymous or the system) and their username at the time.
    # For a failed sign-in the actor is unknown and the label is the name tried.
    actor = _loose_fk(settings.AUTH_USER_MODEL)
    actor_label = models.CharField(max_length=150, blank=True)
    # The account the event is about (sign-ins, a role change's member).
    subject_user = _loose_fk(settings.AUTH_USER_MODEL)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    organization = _loose_fk("accounts.Organization")
    project = _loose_fk("projects.Project")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="audit_org_time"),
            models.Index(fields=["project", "-created_at"], name="audit_project_time"),
            models.Index(fields=["subject_user", "-created_at"], name="audit_subject_time"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_time"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_label or 'anonymous'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AuditLogIsAppendOnly("audit events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("audit events cannot be deleted")
