"""Export jobs: create, run (the Celery task's body), cancel, expire, re-queue stalled ones."""

from __future__ import annotations

import gc
import logging
import resource
import secrets
import shutil
import tempfile
import time
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.services import audit_record
from apps.core.models import JobStatus
from apps.exports.models import ExportJob, ExportSalt
from apps.exports.options import ExportOptions, options_from_dict, parse_options
from apps.projects.models import Project

logger = logging.getLogger(__name__)

# A running job whose heartbeat is older than this is presumed dead (its worker was lost).
STALL_AFTER = timedelta(minutes=10)
# Seconds between two progress updates (and cancel checks) of a running export.
PROGRESS_SECONDS = 1.0
# Allocations between two collections of the youngest generation while an export runs (default 700).
EXPORT_GC_THRESHOLD = 100_000


class ExportCancelled(Exception):
    pass


def export_salt_for(*, project: Project) -> str:
    salt, _ = ExportSalt.objects.get_or_create(project=project, defaults={"salt": secrets.token_hex(32)})
    return salt.salt


def export_options_parse(*, project: Project, kind: Any, fmt: Any, raw: dict[str, Any]) -> ExportOptions:
    return parse_options(questions=list(project.questions), kind=kind, fmt=fmt, raw=raw)


def _enqueue(job_id: int) -> None:
    from apps.exports.tasks import export_run_task

    export_run_task.delay(job_id)


@transaction.atomic
def export_create(*, project: Project, user, kind: Any, fmt: Any, raw_options: dict[str, Any],  # type: ignore[no-untyped-def]
                  enqueue: bool = True, request: HttpRequest | None = None) -> ExportJob:
    """Validate the options (ExportOptionsError names each bad one) and queue the build."""
    options = export_options_parse(project=project, kind=kind, fmt=fmt, raw=raw_options)
    job = ExportJob(project=project, created_by=user, kind=options.kind, format=options.format,
                    options=options.as_dict())
    job.full_clean()
    job.save()
    audit_record(actor=user, action="export.created", target=job, project=project, request=request,
                 detail={"kind": job.kind, "format": job.format})
    if enqueue:
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def export_preview(*, project: Project, options: ExportOptions, limit: int = 5) -> dict[str, Any]:
    from apps.exports.build import preview_records

    return preview_records(project=project, options=options, snapshot_at=timezone.now(),
                           salt=export_salt_for(project=project), limit=limit)


def export_cancel(*, job: ExportJob) -> ExportJob:
    """A queued job stops at once; a running one at its next batch (the worker checks the flag)."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job.pk)
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.CANCELLED
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "finished_at", "updated_at"])
        elif job.status == JobStatus.RUNNING:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested", "updated_at"])
    return job


def _claim(job_id: int) -> ExportJob | None:
    """Move the job to RUNNING under its row lock; None when it is finished or another worker is alive on it."""
    now = timezone.now()
    with transaction.atomic():
        job = (ExportJob.objects.select_for_update(of=("self",)).select_related("project__organization")
               .filter(pk=job_id).first())
        if job is None or job.is_finished:
            return None
        if job.status == JobStatus.RUNNING and job.heartbeat_at and now - job.heartbeat_at < STALL_AFTER:
            return None
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.started_at = now
        job.heartbeat_at = now
        # A retried job keeps its first snapshot, so a rebuild reads the same annotations.
        job.snapshot_at = job.snapshot_at or now
        job.processed_items = job.record_count = 0
        job.total_items = 0
        job.error = ""
        job.save()
    return job


def _storage_prefix(job: ExportJob) -> str:
    return f"exports/{job.project_id}/{job.pk}"


def export_folder_name(job: ExportJob) -> str:
    slug = slugify(job.project.name)[:40] or f"project-{job.project_id}"
    return f"verity-{slug}-{job.kind.replace('_', '-')}-{job.pk}"


def export_run(*, job_id: int) -> None:
    """Build the dataset of a queued job and store it. Idempotent: a finished job is left alone."""
    # The build pipeline imports pyarrow (~50 MB): only the process that runs an export pays for it.
    from apps.exports.build import build_dataset, write_archive

    job = _claim(job_id)
    if job is None:
        return
    started = time.monotonic()
    cpu_start = time.process_time()
    rss_start = psutil.Process().memory_info().rss
    options = options_from_dict(job.options)
    project = job.project
    workdir = Path(tempfile.mkdtemp(prefix=f"verity-export-{job.pk}-"))
    state: dict[str, Any] = {"items": 0, "total": 0, "reported": None}

    def on_total(items: int) -> None:
        state["total"] = items
        ExportJob.objects.filter(pk=job.pk).update(total_items=items)

    def on_chunk(items: int, records: int) -> None:
        state["items"] += items
        # Progress, heartbeat and the cancel check at most every PROGRESS_SECONDS (and after the
        # first chunk): each is a commit, and a commit per chunk waited on the disk for seconds
        # of a large export. No row updated: a cancel was requested (or the job deleted).
        now = time.monotonic()
        if state["reported"] is not None and now - state["reported"] < PROGRESS_SECONDS:
            return
        state["reported"] = now
        if not ExportJob.objects.filter(pk=job.pk, cancel_requested=False).update(
                processed_items=state["items"], record_count=records, heartbeat_at=timezone.now()):
            raise ExportCancelled()

    # Everything alive now (Django, the imported apps, the worker) lives as long as the process:
    # frozen, the collector stops rescanning it in each full collection the export triggers.
    # The export allocates millions of small acyclic objects (freed by reference counting): a
    # collection of the young generation every 700 allocations cost ~15% of its CPU, every
    # 100,000 still finds any cycles. Together about a fifth of a large export's CPU time.
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(EXPORT_GC_THRESHOLD, *thresholds[1:])
    try:
        folder = workdir / "dataset"
        folder.mkdir()
        result = build_dataset(project=project, options=options, export_id=job.pk, created_at=job.created_at,
                               snapshot_at=job.snapshot_at, out_dir=folder,
                               salt=export_salt_for(project=project), on_chunk=on_chunk, on_total=on_total)
        built = time.monotonic()
        name = export_folder_name(job)
        archive = workdir / f"{name}.zip"
        write_archive(folder, result.files, archive, name)
        archive_bytes = archive.stat().st_size
        archive_name = _store(job, archive)
        finished = timezone.now()
        # The worker process's figures: RSS when the job started (imports of every app's tasks) and at peak.
        stats = {**result.stats, "seconds": round(time.monotonic() - started, 2),
                 "build_seconds": round(built - started, 2), "archive_seconds": round(time.monotonic() - built, 2),
                 # CPU time of this process (both threads): what the job costs on a machine that is not shared.
                 "cpu_seconds": round(time.process_time() - cpu_start, 2),
                 "start_rss_mb": round(rss_start / 1024**2, 1),
                 "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        ExportJob.objects.filter(pk=job.pk).update(
            status=JobStatus.SUCCEEDED, finished_at=finished, heartbeat_at=finished, processed_items=state["total"],
            record_count=result.record_count, split_counts=result.split_counts, files=result.files,
            archive_name=archive_name, archive_bytes=archive_bytes, manifest=result.manifest,
            card=result.card, stats=stats, expires_at=finished + timedelta(days=settings.EXPORT_RETENTION_DAYS),
            updated_at=finished,
        )
    except ExportCancelled:
        now = timezone.now()
        ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED, finished_at=now, updated_at=now)
    except Exception as exc:
        logger.exception("export %s failed", job.pk)
        now = timezone.now()
        ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, finished_at=now, updated_at=now,
                                                    error=f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        shutil.rmtree(workdir, ignore_errors=True)


class _LocalFile(File):
    """A finished local file: FileSystemStorage moves it into place (a rename) instead of copying."""

    def temporary_file_path(self) -> str:
        return self.file.name


def _store(job: ExportJob, archive: Path) -> str:
    """Only the zip is stored; single files are streamed out of it (members are never split)."""
    with open(archive, "rb") as handle:
        return default_storage.save(f"{_storage_prefix(job)}/{archive.name}", _LocalFile(handle))


def _delete_files(job: ExportJob) -> None:
    if job.archive_name:
        try:
            default_storage.delete(job.archive_name)
        except OSError:
            logger.warning("could not delete %s of export %s", job.archive_name, job.pk)


def exports_expire(*, now: datetime | None = None) -> int:
    """Delete the files of exports past their retention; the job row stays as history."""
    now = now or timezone.now()
    expired = 0
    jobs = ExportJob.objects.filter(status=JobStatus.SUCCEEDED, expired_at__isnull=True, expires_at__lte=now)
    for job in jobs.select_related("project"):
        _delete_files(job)
        ExportJob.objects.filter(pk=job.pk).update(expired_at=now, updated_at=now)
        audit_record(actor=None, action="export.deleted", target=job, project=job.project,
                     detail={"reason": "retention period over"})
        expired += 1
    return expired


def exports_requeue_stalled(*, now: datetime | None = None) -> list[int]:
    """Re-queue jobs whose worker died (stale heartbeat) or whose queue message was lost."""
    now = now or timezone.now()
    stale = ExportJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - STALL_AFTER)
    lost = ExportJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=now - STALL_AFTER)
    ids = list(stale.values_list("pk", flat=True)) + list(lost.values_list("pk", flat=True))
    for job_id in ids:
        _enqueue(job_id)
    return ids


def export_open_file(*, job: ExportJob, name: str | None, actor: Any = None,
                     request: HttpRequest | None = None) -> tuple[Any, str, int]:
    """(open file, download name, size) for the archive, or one named file streamed out of it."""
    if actor is not None:
        audit_record(actor=actor, action="export.downloaded", target=job, project=job.project, request=request,
                     detail={"file": name or ""})
    if not name:
        return default_storage.open(job.archive_name, "rb"), f"{export_folder_name(job)}.zip", job.archive_bytes
    entry = next((f for f in job.files if f["name"] == name), None)
    if entry is None:
        raise FileNotFoundError(name)
    archive = zipfile.ZipFile(default_storage.open(job.archive_name, "rb"))
    member = next(n for n in archive.namelist() if n.split("/", 1)[-1] == name)
    return archive.open(member), Path(name).name, int(entry["bytes"])
