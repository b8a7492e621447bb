"""The export job lifecycle: run, idempotency, cancel, failure, expiry, stalled jobs, the command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.core.models import JobStatus
from apps.exports import services
from apps.exports.models import ExportJob
from apps.exports.services import (
    export_create,
    export_run,
    export_salt_for,
    exports_expire,
    exports_requeue_stalled,
)
from tests.exports.helpers import read_jsonl
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_run_stores_files_and_records_the_outcome(dataset, owner, settings):
    job = export_create(project=dataset.project, user=owner, kind="labels", fmt="parquet", raw_options={},
                        enqueue=False)
    export_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1 and job.error == ""
    assert job.record_count == job.processed_items == job.total_items == 12
    assert job.expires_at == job.finished_at + timedelta(days=settings.EXPORT_RETENTION_DAYS)
    assert job.stats["peak_rss_mb"] > 0 and job.stats["annotator_pool_size"] == 3
    assert {f["name"] for f in job.files} == {"train.parquet", "README.md", "manifest.json"}
    assert default_storage.size(job.archive_name) == job.archive_bytes > 0
    assert job.archive_name.startswith(f"exports/{dataset.project.pk}/{job.pk}/")
    finished_at = job.finished_at
    export_run(job_id=job.pk)  # redelivered message: nothing happens
    job.refresh_from_db()
    assert job.finished_at == finished_at and job.attempts == 1


def test_a_running_job_stops_when_cancelled(dataset, owner):
    job = export_create(project=dataset.project, user=owner, kind="raw", fmt="jsonl", raw_options={}, enqueue=False)
    # The worker that claimed it died; the user asked to cancel meanwhile.
    ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, cancel_requested=True,
                                               heartbeat_at=timezone.now() - timedelta(hours=1))
    export_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.files and not job.archive_name


def test_a_live_job_is_not_run_twice(dataset, owner):
    job = export_create(project=dataset.project, user=owner, kind="raw", fmt="jsonl", raw_options={}, enqueue=False)
    ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    export_run(job_id=job.pk)
    assert ExportJob.objects.get(pk=job.pk).attempts == 0


def test_a_failure_is_recorded_with_its_reason(dataset, owner):
    job = export_create(project=dataset.project, user=owner, kind="preference", fmt="jsonl", raw_options={},
                        enqueue=False)
    # The schema changed after the export was queued: the pairwise question is gone.
    dataset.project.questions = [q for q in dataset.project.questions if q["id"] != "preference"]
    dataset.project.save()
    export_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "preference" in job.error and not job.archive_name


def test_expiry_deletes_files_but_keeps_history(dataset, owner):
    job = export_create(project=dataset.project, user=owner, kind="raw", fmt="csv", raw_options={}, enqueue=False)
    export_run(job_id=job.pk)
    job.refresh_from_db()
    assert exports_expire() == 0
    assert exports_expire(now=job.expires_at + timedelta(seconds=1)) == 1
    job.refresh_from_db()
    assert job.expired_at is not None and not job.is_downloadable
    assert not default_storage.exists(job.archive_name)
    assert exports_expire(now=job.expires_at + timedelta(days=1)) == 0


def test_stalled_and_lost_jobs_are_requeued(dataset, owner, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(services, "_enqueue", queued.append)
    stale = export_create(project=dataset.project, user=owner, kind="raw", fmt="jsonl", raw_options={}, enqueue=False)
    alive = export_create(project=dataset.project, user=owner, kind="raw", fmt="jsonl", raw_options={}, enqueue=False)
    ExportJob.objects.filter(pk=stale.pk).update(status=JobStatus.RUNNING,
                                                 heartbeat_at=timezone.now() - timedelta(minutes=30))
    ExportJob.objects.filter(pk=alive.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    assert exports_requeue_stalled() == [stale.pk]
    assert queued == [stale.pk]


def test_salt_is_per_project_and_stable(project, org):
    other = ProjectFactory(organization=org)
    assert export_salt_for(project=project) == export_salt_for(project=project)
    assert export_salt_for(project=project) != export_salt_for(project=other)
    assert len(export_salt_for(project=project)) == 64


def test_management_command_builds_and_copies_the_folder(dataset, tmp_path):
    out = tmp_path / "folder"
    call_command("export_dataset", str(dataset.project.pk), "--kind", "sft", "--format", "jsonl",
                 "--option", "test_fraction=0.3", "--option", "sources=rated", "--output", str(out))
    job = ExportJob.objects.get()
    assert job.status == JobStatus.SUCCEEDED and job.options["sources"] == ["rated"]
    rows = read_jsonl(out / "train.jsonl") + (read_jsonl(out / "test.jsonl") if (out / "test.jsonl").exists() else [])
    assert len(rows) == job.record_count == 12
    assert (out / "README.md").exists() and (out / "manifest.json").exists()
    with pytest.raises(CommandError, match="test_fraction: must be from 0 to 0.5"):
        call_command("export_dataset", str(dataset.project.pk), "--kind", "sft", "--option", "test_fraction=5")
    with pytest.raises(CommandError, match="No project"):
        call_command("export_dataset", "999999", "--kind", "sft")
