"""Writes of the items app: uploads, import jobs, gold marking, deleting items, the demo sample."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.core.files import File
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.annotations.models import Annotation, Assignment
from apps.audit.services import audit_record
from apps.core.models import JobStatus
from apps.items.importing.errors import FileRejected
from apps.items.importing.mapping import MappingError, mapping_clean, mapping_guess
from apps.items.importing.pipeline import ImportRun, JobStopped, check_columns, staging_clear
from apps.items.importing.readers import open_reader
from apps.items.models import ImportJob, ImportPhase, ImportUpload, Item
from apps.items.search import search_index_pending
from apps.projects.models import Project
from apps.projects.schema import AnswerError, validate_answers

logger = logging.getLogger(__name__)

DEMO_FILE = Path(__file__).resolve().parent / "demo_data" / "alpacaeval-sample.jsonl.gz"
DEMO_MAPPING = {
    "shape": "rows", "prompt": "prompt", "prompt_id": "prompt_id", "model": "model", "response": "response",
}
# Namespace of the PostgreSQL advisory locks that keep one worker per import job.
_LOCK_NAMESPACE = 0x5EE1 << 32
STALE_AFTER = timedelta(minutes=2)


def import_upload_store(*, project: Project, user, fileobj: IO[bytes], name: str) -> ImportUpload:  # type: ignore[no-untyped-def]
    """Store an uploaded (or local) file under MEDIA_ROOT before any job reads it."""
    safe_name = Path(name).name[:200] or "upload"
    upload = ImportUpload(project=project, uploaded_by=user if getattr(user, "pk", None) else None,
                          token=secrets.token_hex(16), original_name=safe_name)
    # An UploadedFile already on disk (large uploads) is moved by the storage, not copied.
    content = fileobj if isinstance(fileobj, File) else File(fileobj, name=safe_name)
    upload.file.save(safe_name, content, save=False)
    upload.size_bytes = upload.file.size
    upload.save()
    return upload


def import_job_create(*, project: Project, user, upload: ImportUpload, mapping: dict[str, Any], queue: bool = True) -> ImportJob:  # type: ignore[no-untyped-def]
    """Validate the mapping (MappingError) and queue the job once this transaction commits."""
    cleaned = mapping_clean(mapping, questions=list(project.questions or []))
    job = ImportJob.objects.create(
        project=project, upload=upload, created_by=user if getattr(user, "pk", None) else None, mapping=cleaned.data
    )
    audit_record(actor=user, action="import.created", target=job, project=project,
                 detail={"file": upload.original_name})
    if queue:
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from apps.items.tasks import import_job_run_task

    import_job_run_task.delay(job_id)


def import_start(
    *, project: Project, user, fileobj: IO[bytes], name: str, mapping: dict[str, Any] | None  # type: ignore[no-untyped-def]
) -> ImportJob:
    """Store the file and start its import (see import_job_start); the API's one-step path."""
    if mapping is not None:
        mapping_clean(mapping, questions=list(project.questions or []))  # fail fast, before storing a large file
    upload = import_upload_store(project=project, user=user, fileobj=fileobj, name=name)
    try:
        return import_job_start(project=project, user=user, upload=upload, mapping=mapping)
    except (FileRejected, MappingError):
        upload_discard(upload=upload)
        raise


def import_job_start(
    *, project: Project, user, upload: ImportUpload, mapping: dict[str, Any] | None  # type: ignore[no-untyped-def]
) -> ImportJob:
    """Check the mapping against the stored file's columns, then queue the job.

    Raises MappingError or FileRejected at once (rather than failing later in the
    worker). Without a mapping, one is guessed from the column names.
    """
    questions = list(project.questions or [])
    with upload.file.open("rb") as stored:
        reader = open_reader(stored, name=upload.original_name, size=upload.size_bytes,
                             file_format=(mapping or {}).get("format") or "auto",
                             encoding=(mapping or {}).get("encoding") or "auto",
                             delimiter=(mapping or {}).get("delimiter") or "")
        if mapping is None:
            mapping = mapping_guess(reader.columns)
        check_columns(reader, mapping_clean(mapping, questions=questions))
    return import_job_create(project=project, user=user, upload=upload, mapping=mapping)


def import_job_cancel(*, job: ImportJob) -> bool:
    """Stop a queued or running job. Batches already committed stay; the running batch is rolled back."""
    cancelled = ImportJob.objects.filter(pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now()
    )
    job.refresh_from_db()
    return bool(cancelled)


def import_job_run(
    *, job_id: int, on_progress: Callable[[ImportJob], None] | None = None, search_inline: bool = False
) -> str:
    """Run (or resume) one job; safe to call twice at once or after a crash.

    A session-level advisory lock keeps a second worker out while the first is
    alive; PostgreSQL drops the lock when a killed worker's connection closes.
    Returns the job's final status, or "busy" when another worker holds it.
    """
    lock_key = _LOCK_NAMESPACE | job_id
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key])
        if not cursor.fetchone()[0]:
            return "busy"
    try:
        job = ImportJob.objects.select_related("project", "upload").filter(pk=job_id).first()
        if job is None or job.is_finished:
            return job.status if job else "missing"
        now = timezone.now()
        if job.items_after_id is None:
            last_item = Item.objects.filter(project_id=job.project_id).order_by("-pk").values_list("pk", flat=True)
            job.items_after_id = last_item.first() or 0
        ImportJob.objects.filter(pk=job.pk).update(
            status=JobStatus.RUNNING, attempts=job.attempts + 1, started_at=job.started_at or now,
            heartbeat_at=now, updated_at=now, items_after_id=job.items_after_id,
        )
        job.status = JobStatus.RUNNING
        job._search_inline = search_inline  # type: ignore[attr-defined]
        return _run(job, on_progress)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key])


def import_job_search_index(*, job_id: int) -> int:
    """Compute the search vectors of what a finished job created; idempotent."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:  # deleted with its project since the task was queued
        return 0
    count = search_index_pending(
        project_id=job.project_id,
        after_prompt_id=(job.first_prompt_id or 1) - 1,
        after_generation_id=(job.first_generation_id or 1) - 1,
    )
    ImportJob.objects.filter(pk=job_id).update(search_indexed_at=timezone.now())
    return count


def _run(job: ImportJob, on_progress: Callable[[ImportJob], None] | None) -> str:
    try:
        ImportRun(job, on_progress=on_progress).execute()
    except JobStopped:
        staging_clear(job.pk)
        return ImportJob.objects.get(pk=job.pk).status
    except FileRejected as exc:
        _finish(job, JobStatus.FAILED, str(exc))
        return JobStatus.FAILED
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        _finish(job, JobStatus.FAILED, f"The import stopped on an internal error ({type(exc).__name__}); "
                                       "rows counted above are stored. Retry, or contact the administrator.")
        raise
    _finish(job, JobStatus.SUCCEEDED, "")
    return JobStatus.SUCCEEDED


def _finish(job: ImportJob, status: str, message: str) -> None:
    staging_clear(job.pk)
    now = timezone.now()
    fields: dict[str, Any] = {"status": status, "error_message": message, "finished_at": now, "updated_at": now}
    if status == JobStatus.SUCCEEDED:
        fields.update(progress=1.0, phase=ImportPhase.DONE)
    ImportJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(**fields)
    if status == JobStatus.SUCCEEDED:
        upload_discard(upload=job.upload)
    if status in (JobStatus.SUCCEEDED, JobStatus.FAILED):  # a failed job may have stored rows too
        if getattr(job, "_search_inline", False):
            import_job_search_index(job_id=job.pk)
        else:
            transaction.on_commit(lambda: _enqueue_search(job.pk))
        _pii_scan_new_items(job)


def _pii_scan_new_items(job: ImportJob, chunk: int = 5000) -> None:
    """Queue the personal-data scan (apps.privacy) for the items this job made, a chunk of ids at a time."""
    from apps.privacy.services import pii_scan_enqueue

    ids = Item.objects.filter(project_id=job.project_id, pk__gt=job.items_after_id or 0).order_by("pk")
    after = job.items_after_id or 0
    while True:
        page = list(ids.filter(pk__gt=after).values_list("pk", flat=True)[:chunk])
        if not page:
            return
        pii_scan_enqueue(page)
        after = page[-1]


def _enqueue_search(job_id: int) -> None:
    from apps.items.tasks import import_job_search_index_task

    import_job_search_index_task.delay(job_id)


def upload_discard(*, upload: ImportUpload) -> None:
    """Delete the stored file once no job needs it (uploads can be several GB)."""
    if upload.deleted_at or upload.jobs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
        return
    upload.file.delete(save=False)
    ImportUpload.objects.filter(pk=upload.pk).update(deleted_at=timezone.now())


def import_jobs_requeue_stalled(*, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Queue again the jobs whose worker stopped reporting (killed, lost).

    Idempotent and safe against live workers: a job still running somewhere
    holds its advisory lock, and the duplicate task returns at once.
    """
    cutoff = timezone.now() - stale_after
    stalled = list(
        ImportJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lte=cutoff).values_list("pk", flat=True)
    ) + list(ImportJob.objects.filter(status=JobStatus.QUEUED, created_at__lte=cutoff).values_list("pk", flat=True))
    for job_id in stalled:
        _enqueue(job_id)
    return stalled


def import_local_file(*, project: Project, user, path: Path, mapping: dict[str, Any],
                      on_progress: Callable[[ImportJob], None] | None = None) -> ImportJob:  # type: ignore[no-untyped-def]
    """Import a file from disk in this process (management command, demo); same pipeline as uploads."""
    with path.open("rb") as handle:
        upload = import_upload_store(project=project, user=user, fileobj=handle, name=path.name)
    job = import_job_create(project=project, user=user, upload=upload, mapping=mapping, queue=False)
    import_job_run(job_id=job.pk, on_progress=on_progress, search_inline=True)
    job.refresh_from_db()
    return job


def demo_items_load(*, project: Project, mode: str) -> ImportJob:
    """Load the shipped AlpacaEval sample (100 prompts × 4 models) into a project, synchronously."""
    mapping = {**DEMO_MAPPING, "item_mode": mode, "k": 2}
    return import_local_file(project=project, user=None, path=DEMO_FILE, mapping=mapping)


def item_update(
    *, item: Item, is_gold: bool | None = None, gold_answers: Any = ..., priority: int | None = None,
    state: str | None = None,
) -> Item:
    """A manager's edits: gold marking (answers validated against the questions), priority, archiving.

    `gold_answers=...` leaves them as they are; None clears them. A gold item needs answers.
    """
    fields = ["updated_at"]
    if gold_answers is not ...:
        if gold_answers is not None:
            generations = item.ordered_generations()
            gold_answers = validate_answers(
                list(item.project.questions or []),
                gold_answers,
                generation_ids=[g.pk for g in generations],
                texts={g.pk: g.text for g in generations},
                prompt_text=item.prompt.text,
                partial=True,
            )
        item.gold_answers = gold_answers or None
        fields.append("gold_answers")
    if is_gold is not None:
        item.is_gold = is_gold
        fields.append("is_gold")
    if item.is_gold and not item.gold_answers:
        raise AnswerError({"gold_answers": "a gold item needs gold answers"})
    if priority is not None:
        item.priority = priority
        fields.append("priority")
    if state is not None:
        item.state = state
        fields.append("state")
    item.save(update_fields=fields)
    return item


# --- deleting items ----------------------------------------------------------------

# Per call: bounds the cascade one request does, and keeps every id in the audit event
# (apps.audit caps a detail list at 200 entries).
MAX_ITEMS_PER_DELETE = 200


class ItemsNotFound(LookupError):
    """Some ids are not items of the project (another tenant's, or already gone)."""

    def __init__(self, missing: list[int]):
        super().__init__(f"No such item: {', '.join(map(str, missing[:10]))}")
        self.missing = missing


@dataclass(frozen=True)
class ItemsDeleted:
    ids: list[int]
    assignments: int
    annotations: int


def items_delete(
    *, project: Project, item_ids: Iterable[int], by, request: HttpRequest | None = None  # type: ignore[no-untyped-def]
) -> ItemsDeleted:
    """Delete items of `project` and everything hanging off them, all or nothing, in one transaction.

    Every id must be an item of this project, otherwise ItemsNotFound and nothing is
    deleted; at most MAX_ITEMS_PER_DELETE ids (ValueError beyond). Assignments (with
    their drafts, skips and annotations), flags, reviews, aggregates and gold notes go
    with the items, so no count of live leases plus annotations outlives its item; the
    project's quality figures are recomputed (debounced). Prompts and generations stay:
    other items may share them, and their search entries and personal-data spans
    belong to them, not to the item. One audit event per call names the items.

    Locks, in the order submit and skip take them (assignment, then item), so neither
    can deadlock with this: the items' assignments FOR UPDATE, then the items FOR
    UPDATE. From then on leasing skips these items (SKIP LOCKED).
    """
    ids = sorted({int(pk) for pk in item_ids})
    if len(ids) > MAX_ITEMS_PER_DELETE:
        raise ValueError(f"At most {MAX_ITEMS_PER_DELETE} items per deletion; got {len(ids)}.")
    if not ids:
        return ItemsDeleted(ids=[], assignments=0, annotations=0)
    mine = Item.objects.filter(project=project, pk__in=ids)
    with transaction.atomic():
        list(Assignment.objects.select_for_update().filter(project=project, item_id__in=ids).order_by("pk")
             .values_list("pk", flat=True))
        items = list(mine.select_for_update().only("pk", "project_id").order_by("pk"))
        missing = sorted(set(ids) - {item.pk for item in items})
        if missing:
            raise ItemsNotFound(missing)
        _, deleted = mine.delete()
        result = ItemsDeleted(
            ids=ids,
            assignments=deleted.get(Assignment._meta.label, 0),
            annotations=deleted.get(Annotation._meta.label, 0),
        )
        # The event keeps the ids (the rows are gone); it rolls back with the deletion.
        audit_record(
            actor=by, action="item.deleted", target=items[0] if len(items) == 1 else None, project=project,
            request=request,
            detail={"count": len(ids), "ids": ids, "assignments": result.assignments,
                    "annotations": result.annotations},
        )
        from apps.quality.services import recompute_schedule

        recompute_schedule(project_id=project.pk)
    return result
