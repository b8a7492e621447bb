"""Imports through a real Celery worker: upload → job → items; a worker killed mid-import resumes without duplicates."""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.items.models import Generation, ImportJob, Item
from apps.items.services import import_job_create, import_jobs_requeue_stalled, import_upload_store
from tests.conftest import api_client_for, wait_for
from tests.items.conftest import ALPACA_MAPPING, jsonl_bytes


def _job(pk: int) -> ImportJob:
    return ImportJob.objects.get(pk=pk)


@pytest.mark.worker
def test_upload_to_items_through_a_real_worker(celery_worker, project, owner, shared_data):
    upload = SimpleUploadedFile("alpacaeval.jsonl.gz", (shared_data / "alpacaeval-outputs.jsonl.gz").read_bytes())
    response = api_client_for(owner).post(
        f"/api/v1/projects/{project.pk}/imports/",
        {"file": upload, "mapping": json.dumps({**ALPACA_MAPPING, "item_mode": "k_pairs", "k": 2})},
        format="multipart",
    )
    assert response.status_code == 201
    job_id = response.json()["id"]
    job = wait_for(lambda: _job(job_id) if _job(job_id).is_finished else None, timeout=120, message="import to finish")
    assert job.status == "succeeded", job.error_message
    assert (job.rows_read, job.generations_created, job.items_created) == (3220, 3220, 1610)
    assert Item.objects.filter(project=project, kind="pair").count() == 1610
    assert job.upload.deleted_at is not None  # the stored upload is removed once imported
    # Full-text vectors follow in a second task; then search finds the items.
    wait_for(lambda: _job(job_id).search_indexed_at, timeout=120, message="search indexing")
    found = api_client_for(owner).get(f"/api/v1/projects/{project.pk}/items/", {"q": "Broadway"}).json()["results"]
    assert found and all("Broadway" in item["prompt"]["text"] or any(
        "Broadway" in r["text"] for r in item["responses"]) for item in found)


def _rows(count: int) -> bytes:
    models = ["m1", "m2", "m3", "m4"]
    return jsonl_bytes([
        {"prompt_id": f"p{n // 4}", "prompt": f"Prompt number {n // 4} " + "context " * 20,
         "model": models[n % 4], "response": f"Response {n} " + "words " * 120}
        for n in range(count)
    ])


@pytest.mark.worker
def test_worker_killed_mid_import_resumes_without_duplicates(worker_factory, project, owner):
    total = 25_000
    upload = import_upload_store(project=project, user=owner, fileobj=io.BytesIO(_rows(total)),
                                 name="big.jsonl")
    first = worker_factory(concurrency=1)
    job = import_job_create(project=project, user=owner, upload=upload, mapping={**ALPACA_MAPPING, "item_mode": "each"})
    wait_for(lambda: _job(job.pk).rows_read > 0, timeout=120, message="first batch committed")
    first.kill()  # SIGKILL to the whole worker: no chance to clean up
    killed = _job(job.pk)
    assert killed.status == "running" and 0 < killed.rows_read < total, "the import should have been mid-way"
    assert Item.objects.filter(project=project).count() == killed.items_created  # committed batches only

    worker_factory(concurrency=1)
    time.sleep(0.5)
    assert import_jobs_requeue_stalled(stale_after=timedelta(0)) == [job.pk]  # what celery beat does every minute
    done = wait_for(lambda: _job(job.pk) if _job(job.pk).is_finished else None, timeout=180, message="resume")
    assert done.status == "succeeded", done.error_message
    assert done.attempts == 2
    assert (done.rows_read, done.rows_rejected, done.items_created, done.items_duplicate) == (total, 0, total, 0)
    assert Generation.objects.filter(project=project).count() == total
    assert Item.objects.filter(project=project).count() == total
