"""Scanning items for personal data, and the project's personal-data policy.

    pii_scan_items(item_ids=...)        detect and store spans, set Item.has_pii
    pii_scan_enqueue(item_ids)          the same in Celery, after the current commit
    pii_scan_job_start(project=..., actor=...) / pii_scan_job_run(job_id=...)
    project_pii_policy_set(project=..., policy=..., actor=...)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.models import JobStatus
from apps.items.models import Generation, Item, ItemGeneration, Prompt
from apps.privacy.detection import pii_detect
from apps.privacy.models import PiiScanJob, PiiSpan
from apps.projects.models import PiiPolicy, Project

BATCH_SIZE = 500
TASK_CHUNK = 5000  # item ids per queued task: keeps messages small


@dataclass
class ScanCounts:
    items: int = 0
    items_with_pii: int = 0
    spans: int = 0

    def add(self, other: ScanCounts) -> None:
        self.items += other.items
        self.items_with_pii += other.items_with_pii
        self.spans += other.spans


def _chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for index in range(0, len(values), size):
        yield values[index : index + size]


def _prompt_texts(prompt_ids: Iterable[int]) -> list[tuple[int, int, int | None, str]]:
    """(prompt_id, project_id, message_index, text) for every text of the prompts."""
    texts: list[tuple[int, int, int | None, str]] = []
    for pk, project_id, text, messages in Prompt.objects.filter(pk__in=list(prompt_ids)).values_list(
        "pk", "project_id", "text", "messages"
    ):
        texts.append((pk, project_id, None, text or ""))
        if isinstance(messages, list):
            for index, message in enumerate(messages):
                content = message.get("content") if isinstance(message, dict) else None
                if isinstance(content, str) and content and content != text:
                    texts.append((pk, project_id, index, content))
    return texts


def _scan_batch(item_ids: Sequence[int], prompt_pii: dict[int, bool], generation_pii: dict[int, bool]) -> ScanCounts:
    """Scan one batch; texts already scanned in this run (shared prompts) are reused."""
    items = list(Item.objects.filter(pk__in=item_ids).values_list("pk", "prompt_id"))
    links = list(ItemGeneration.objects.filter(item_id__in=item_ids).values_list("item_id", "generation_id"))
    new_prompts = {prompt_id for _, prompt_id in items} - prompt_pii.keys()
    new_generations = {generation_id for _, generation_id in links} - generation_pii.keys()

    # Detection is CPU work: do it before opening the write transaction.
    spans: list[PiiSpan] = []
    for prompt_id, project_id, message_index, text in _prompt_texts(new_prompts):
        found = pii_detect(text)
        prompt_pii[prompt_id] = prompt_pii.get(prompt_id, False) or bool(found)
        spans += [
            PiiSpan(project_id=project_id, prompt_id=prompt_id, message_index=message_index, start=s["start"],
                    end=s["end"], type=s["type"], score=s["score"])
            for s in found
        ]
    for generation_id, project_id, text in Generation.objects.filter(pk__in=list(new_generations)).values_list(
        "pk", "project_id", "text"
    ):
        found = pii_detect(text)
        generation_pii[generation_id] = bool(found)
        spans += [
            PiiSpan(project_id=project_id, generation_id=generation_id, start=s["start"], end=s["end"],
                    type=s["type"], score=s["score"])
            for s in found
        ]

    generations_of: dict[int, list[int]] = {}
    for item_id, generation_id in links:
        generations_of.setdefault(item_id, []).append(generation_id)
    with_pii = [
        item_id
        for item_id, prompt_id in items
        if prompt_pii.get(prompt_id) or any(generation_pii.get(g) for g in generations_of.get(item_id, []))
    ]
    flagged = set(with_pii)
    without_pii = [item_id for item_id, _ in items if item_id not in flagged]

    with transaction.atomic():
        # Replace what an earlier scan stored (the detectors may have changed since).
        PiiSpan.objects.filter(prompt_id__in=new_prompts).delete()
        PiiSpan.objects.filter(generation_id__in=new_generations).delete()
        PiiSpan.objects.bulk_create(spans, batch_size=2000, ignore_conflicts=True)
        if with_pii:
            Item.objects.filter(pk__in=with_pii, has_pii=False).update(has_pii=True)
        if without_pii:
            Item.objects.filter(pk__in=without_pii, has_pii=True).update(has_pii=False)
    return ScanCounts(items=len(items), items_with_pii=len(with_pii), spans=len(spans))


def pii_scan_items(*, item_ids: Iterable[int], batch_size: int = BATCH_SIZE, progress=None) -> ScanCounts:  # type: ignore[no-untyped-def]
    """Detect personal data in the items' prompts and generations; store the spans and
    set Item.has_pii. Idempotent: a rescan replaces the spans of the texts it covers.

    `progress(counts)` is called after every batch. Each batch commits on its own,
    so a long scan holds no lock for long and a crash loses at most one batch.
    """
    ids = sorted({int(pk) for pk in item_ids})
    total = ScanCounts()
    prompt_pii: dict[int, bool] = {}
    generation_pii: dict[int, bool] = {}
    for chunk in _chunks(ids, batch_size):
        total.add(_scan_batch(chunk, prompt_pii, generation_pii))
        if progress is not None:
            progress(total)
    return total


def pii_scan_enqueue(item_ids: Iterable[int]) -> None:
    """Queue scans of these items once the current transaction commits (imports and
    generation runs call this for the items they create)."""
    from apps.privacy import tasks

    ids = sorted({int(pk) for pk in item_ids})
    for chunk in _chunks(ids, TASK_CHUNK):
        payload = list(chunk)
        transaction.on_commit(lambda payload=payload: tasks.pii_scan_items.delay(payload))


def pii_scan_job_start(*, project: Project, actor: Any, request: HttpRequest | None = None) -> PiiScanJob:
    """Start a scan of every item of the project, unless one is already queued or running."""
    from apps.privacy import tasks

    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()  # one starter at a time
        running = (
            PiiScanJob.objects.filter(project=project, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
            .order_by("-created_at")
            .first()
        )
        if running is not None:
            return running
        job = PiiScanJob.objects.create(
            project=project,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
            total_items=Item.objects.filter(project=project).count(),
        )
        audit_record(actor=actor, action="privacy.scan_started", target=job, project=project, request=request)
        transaction.on_commit(lambda: tasks.pii_scan_project.delay(job.pk))
    return job


def pii_scan_job_run(*, job_id: int) -> PiiScanJob:
    """Run (or, after a worker died, re-run from the start) a project scan job."""
    job = PiiScanJob.objects.get(pk=job_id)
    if job.is_finished:
        return job
    item_ids = list(Item.objects.filter(project_id=job.project_id).order_by("pk").values_list("pk", flat=True))
    PiiScanJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), total_items=len(item_ids), scanned_items=0,
        items_with_pii=0, error="",
    )

    def progress(counts: ScanCounts) -> None:
        PiiScanJob.objects.filter(pk=job.pk).update(
            scanned_items=counts.items, items_with_pii=counts.items_with_pii, updated_at=timezone.now()
        )

    try:
        counts = pii_scan_items(item_ids=item_ids, progress=progress)
    except Exception as exc:
        PiiScanJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    PiiScanJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, scanned_items=counts.items, items_with_pii=counts.items_with_pii,
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


STALL_AFTER = timedelta(minutes=10)


def pii_scan_jobs_requeue_stalled() -> list[int]:
    """Queue again the scans whose worker died or whose message was lost (beat, every minute).

    A running scan touches its row after every batch, so ten quiet minutes mean it stopped.
    """
    from apps.privacy import tasks

    cutoff = timezone.now() - STALL_AFTER
    stalled = list(
        PiiScanJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING], updated_at__lt=cutoff)
        .values_list("pk", flat=True)
    )
    for job_id in stalled:
        PiiScanJob.objects.filter(pk=job_id).update(updated_at=timezone.now())
        tasks.pii_scan_project.delay(job_id)
    return stalled


def project_pii_policy_set(
    *, project: Project, policy: str, actor: Any, request: HttpRequest | None = None
) -> Project:
    """Change who sees personal data. Raises ValueError for an unknown policy."""
    if policy not in PiiPolicy.values:
        raise ValueError(f"policy must be one of {', '.join(PiiPolicy.values)}")
    previous = project.pii_policy
    if previous == policy:
        return project
    with transaction.atomic():
        Project.objects.filter(pk=project.pk).update(pii_policy=policy, updated_at=timezone.now())
        audit_record(
            actor=actor, action="project.pii_policy_changed", target=project, project=project, request=request,
            detail={"from": previous, "to": policy},
        )
    project.pii_policy = policy
    return project
