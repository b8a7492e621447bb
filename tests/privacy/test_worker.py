"""The scan runs in a real Celery worker: queued after commit, flags items, reports progress."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.core.models import JobStatus
from apps.items.models import Item
from apps.privacy.models import PiiScanJob, PiiSpan
from apps.privacy.services import pii_scan_enqueue, pii_scan_job_start
from tests.conftest import wait_for
from tests.factories import make_item


@pytest.mark.worker
def test_queued_scans_run_in_the_worker(celery_worker, project, owner):
    with_pii = [
        make_item(project, responses=1, prompt_text=f"Email me at person{n}@example.org, ref {n}") for n in range(3)
    ]
    clean = make_item(project, responses=1, prompt_text="Summarise the plot of Hamlet.")
    with transaction.atomic():
        pii_scan_enqueue([item.pk for item in [*with_pii, clean]])
    wait_for(lambda: Item.objects.filter(project=project, has_pii=True).count() == 3, timeout=90,
             message="the queued scan to flag three items")
    assert PiiSpan.objects.filter(project=project, type="EMAIL").count() == 3
    assert not Item.objects.get(pk=clean.pk).has_pii

    job = pii_scan_job_start(project=project, actor=owner)
    finished = wait_for(
        lambda: PiiScanJob.objects.filter(pk=job.pk, status=JobStatus.SUCCEEDED).first(), timeout=90,
        message="the project scan job to finish",
    )
    assert (finished.total_items, finished.scanned_items, finished.items_with_pii) == (4, 4, 3)
    assert finished.percent == 100 and finished.finished_at is not None
