"""A job interrupted mid-way (worker died) resumes where its last committed batch ended, in every format.

The worker path (a real SIGKILL) is in test_worker.py; these interrupt the same code in-process so each
reader's skip logic and the pair-building phase are covered quickly.
"""

from __future__ import annotations

import csv
import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.items.importing import pipeline
from apps.items.importing.pipeline import ImportRun
from apps.items.models import Generation, ImportJob, ImportJobGeneration, Item
from apps.items.services import (
    import_job_cancel,
    import_job_create,
    import_job_run,
    import_upload_store,
)
from tests.conftest import wait_for
from tests.items.conftest import ALPACA_MAPPING, jsonl_bytes

TOTAL = 1000
ROWS = [{"prompt_id": f"p{n // 4}", "prompt": f"Prompt {n // 4}", "model": f"m{n % 4}", "response": f"Response {n}"}
        for n in range(TOTAL)]


def _csv() -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(ROWS[0]))
    writer.writeheader()
    writer.writerows(ROWS)
    return out.getvalue().encode()


def _parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ROWS), sink, row_group_size=300)
    return sink.getvalue()


FILES = {
    "data.jsonl.gz": lambda: gzip.compress(jsonl_bytes(ROWS)),
    "data.csv": _csv,
    "data.parquet": _parquet,
}


class WorkerDied(BaseException):
    """Not an Exception: like a killed process, nothing marks the job failed."""


def _start(project, name: str, data: bytes, mapping: dict) -> ImportJob:  # type: ignore[no-untyped-def]
    upload = import_upload_store(project=project, user=None, fileobj=io.BytesIO(data), name=name)
    return import_job_create(project=project, user=None, upload=upload, mapping=mapping, queue=False)


def _die_after(monkeypatch, method: str, calls: int) -> None:  # type: ignore[no-untyped-def]
    original = getattr(ImportRun, method)
    seen = {"n": 0}

    def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if seen["n"] >= calls:
            raise WorkerDied()
        seen["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ImportRun, method, wrapper)


@pytest.mark.parametrize("name", sorted(FILES))
def test_resume_after_a_crash_counts_every_row_once(project, monkeypatch, name):
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 300)
    job = _start(project, name, FILES[name](), ALPACA_MAPPING)
    _die_after(monkeypatch, "_commit", 2)
    with pytest.raises(WorkerDied):
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_read, job.items_created) == ("running", 600, 600)
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 300)
    assert import_job_run(job_id=job.pk) == "succeeded"
    job.refresh_from_db()
    assert (job.rows_read, job.items_created, job.items_duplicate, job.attempts) == (TOTAL, TOTAL, 0, 2)
    assert Generation.objects.filter(project=project).count() == TOTAL
    assert Item.objects.filter(project=project).count() == TOTAL


def test_resume_in_the_pair_building_phase(project, monkeypatch):
    monkeypatch.setattr(pipeline, "BUILD_PROMPTS", 40)
    job = _start(project, "data.jsonl", jsonl_bytes(ROWS), {**ALPACA_MAPPING, "item_mode": "all_pairs"})
    original = ImportRun._update_job
    calls = {"n": 0}

    def die_in_build(self, counts, **kwargs):  # type: ignore[no-untyped-def]
        if "build_after_prompt" in (kwargs.get("extra") or {}):
            calls["n"] += 1
            if calls["n"] == 3:
                raise WorkerDied()
        return original(self, counts, **kwargs)

    monkeypatch.setattr(ImportRun, "_update_job", die_in_build)
    with pytest.raises(WorkerDied):
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.phase == "building" and job.items_created == 2 * 40 * 6
    monkeypatch.setattr(ImportRun, "_update_job", original)
    assert import_job_run(job_id=job.pk) == "succeeded"
    job.refresh_from_db()
    assert (job.items_created, job.items_duplicate) == (250 * 6, 0)
    assert Item.objects.filter(project=project).count() == 250 * 6
    assert not ImportJobGeneration.objects.filter(job_id=job.pk).exists()  # staging cleared


def test_cancel_mid_import_keeps_committed_batches_and_stops(project, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 300)
    job = _start(project, "data.jsonl", jsonl_bytes(ROWS), ALPACA_MAPPING)
    cancelled = {"done": False}

    def cancel_once(current: ImportJob) -> None:
        if not cancelled["done"]:
            cancelled["done"] = True
            import_job_cancel(job=ImportJob.objects.get(pk=current.pk))

    assert import_job_run(job_id=job.pk, on_progress=cancel_once) == "cancelled"
    job.refresh_from_db()
    assert job.status == "cancelled" and job.rows_read == 300
    assert Item.objects.filter(project=project).count() == 300  # the batch after the cancel was rolled back


def test_a_job_held_by_a_live_worker_is_not_run_twice(project):
    from django.db import connection, connections

    job = _start(project, "data.jsonl", jsonl_bytes(ROWS[:8]), ALPACA_MAPPING)
    live_worker = connections.create_connection("default")  # another session, like another worker
    live_worker.connect()
    try:
        with live_worker.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [(0x5EE1 << 32) | job.pk])
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        assert import_job_run(job_id=job.pk) == "busy"
        assert ImportJob.objects.get(pk=job.pk).attempts == 0
    finally:
        live_worker.close()  # a dead worker's session ends: PostgreSQL releases its lock

    def session_gone() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # statistics are cached per transaction
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend])
            return cursor.fetchone()[0] == 0

    wait_for(session_gone, timeout=10, message="the other session to end")
    assert import_job_run(job_id=job.pk) == "succeeded"
