"""Celery tasks of the privacy app: thin wrappers taking ids (see services)."""

from __future__ import annotations

from celery import shared_task

from apps.privacy import services


@shared_task(name="privacy.pii_scan_items", ignore_result=True, acks_late=True)
def pii_scan_items(item_ids: list[int]) -> int:
    """Detect personal data in these items; idempotent (a rerun replaces the spans)."""
    return services.pii_scan_items(item_ids=item_ids).items_with_pii


@shared_task(name="privacy.pii_scan_project", ignore_result=True, acks_late=True)
def pii_scan_project(job_id: int) -> str:
    return services.pii_scan_job_run(job_id=job_id).status


@shared_task(name="privacy.requeue_stalled_scans", ignore_result=True)
def requeue_stalled_scans() -> int:
    return len(services.pii_scan_jobs_requeue_stalled())
