"""Celery tasks of the annotations app (thin wrappers over services)."""

from __future__ import annotations

from celery import shared_task

from apps.annotations.services import leases_expire


@shared_task(name="annotations.expire_leases", ignore_result=True)
def expire_leases() -> int:
    """Return expired leases to the pool. Idempotent; celery beat runs it every minute."""
    return leases_expire()
