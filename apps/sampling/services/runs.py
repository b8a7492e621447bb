"""Writes for generation runs: create, prepare (materialise the slots), cancel, resume, finish,
and re-queue runs whose workers died.

Lifecycle: queued → running → succeeded | failed | cancelled. Creating a run does
only cheap counting in the request; the slots ((prompt, endpoint, parameters,
sample index) rows, shared across runs) are written by the prepare task.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.models import JobStatus
from apps.items.models import Prompt
from apps.sampling.access import endpoints_for_project
from apps.sampling.models import GenerationRun, GenerationSlot, ModelEndpoint, SlotStatus
from apps.sampling.parameters import (
    ParameterError,
    parameters_clean,
    parameters_hash,
    parameters_merge,
)
from apps.sampling.selectors import (
    METADATA_KEY_RE,
    prompt_count_for_selection,
    prompt_ids_for_selection,
)

MAX_SLOTS_PER_RUN = 2_000_000
SELECTION_MODES = ("all", "filter", "stratified")


def metadata_filter_clean(raw: Any, field: str, errors: dict[str, str]) -> dict[str, Any]:
    if raw in (None, "", {}):
        return {}
    if not isinstance(raw, dict):
        errors[field] = 'must be an object such as {"source": "koala"} or {"source": ["koala", "oasst"]}'
        return {}
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not METADATA_KEY_RE.match(key):
            errors[field] = f"{key!r} is not a metadata key (letters, digits, '_', '-', '.')"
            continue
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str | int | float | bool) for v in values):
            errors[field] = f"{key}: values must be text, numbers or true/false"
            continue
        clean[key] = value
    return clean


def prompt_selection_clean(raw: Any) -> dict[str, Any]:
    """Validate {"mode", "filter", "stratify_by", "sample_size", "seed"}; raises ValidationError."""
    raw = raw or {"mode": "all"}
    if not isinstance(raw, dict):
        raise ValidationError({"prompt_selection": "must be an object with a mode: all, filter or stratified"})
    errors: dict[str, str] = {}
    mode = raw.get("mode", "all")
    if mode not in SELECTION_MODES:
        errors["prompt_selection.mode"] = f"must be one of {', '.join(SELECTION_MODES)}"
    selection: dict[str, Any] = {"mode": mode}
    selection["filter"] = metadata_filter_clean(raw.get("filter"), "prompt_selection.filter", errors)
    if mode == "filter" and not selection["filter"] and "prompt_selection.filter" not in errors:
        errors["prompt_selection.filter"] = "is required when mode is filter"
    if mode == "stratified":
        key = raw.get("stratify_by")
        if not isinstance(key, str) or not METADATA_KEY_RE.match(key):
            errors["prompt_selection.stratify_by"] = "must name a prompt metadata key, e.g. source"
        size = raw.get("sample_size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            errors["prompt_selection.sample_size"] = "must be a whole number of prompts, at least 1"
        seed = raw.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            errors["prompt_selection.seed"] = "must be a whole number"
        selection.update({"stratify_by": key, "sample_size": size, "seed": seed})
    if errors:
        raise ValidationError(errors)
    return selection


@transaction.atomic
def generation_run_create(
    *,
    project,  # type: ignore[no-untyped-def]
    user,  # type: ignore[no-untyped-def]
    endpoint_ids: list[int],
    prompt_selection: Any = None,
    parameters: Any = None,
    samples_per_prompt: int = 1,
    name: str = "",
    enqueue: bool = True,
) -> GenerationRun:
    """Validate and record a run; after commit its prepare task is queued (enqueue=False: the caller
    executes it, e.g. generation_run_execute_inline)."""
    errors: dict[str, str] = {}
    try:
        selection = prompt_selection_clean(prompt_selection)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        selection = {}
    try:
        overrides = parameters_clean(parameters)
    except ParameterError as exc:
        errors["parameters"] = str(exc)
        overrides = {}
    ids = list(dict.fromkeys(endpoint_ids or []))
    endpoints = list(endpoints_for_project(project).filter(pk__in=ids))
    if not ids:
        errors["endpoints"] = "choose at least one model endpoint"
    elif len(endpoints) != len(ids):
        missing = sorted(set(ids) - {e.pk for e in endpoints})
        errors["endpoints"] = f"unknown or archived endpoint id(s) for this organization: {missing}"
    if isinstance(samples_per_prompt, bool) or not isinstance(samples_per_prompt, int) or not 1 <= samples_per_prompt <= 100:
        errors["samples_per_prompt"] = "must be a whole number from 1 to 100"
    if errors:
        raise ValidationError(errors)
    prompt_count = prompt_count_for_selection(project=project, selection=selection)
    if prompt_count == 0:
        raise ValidationError({"prompt_selection": "selects no prompts; import prompts first or widen the filter"})
    total = prompt_count * len(endpoints) * samples_per_prompt
    if total > MAX_SLOTS_PER_RUN:
        raise ValidationError(
            {"prompt_selection": f"would ask for {total:,} generations; at most {MAX_SLOTS_PER_RUN:,} per run"}
        )
    run = GenerationRun.objects.create(
        project=project,
        name=(name or "").strip()[:200],
        created_by=user if user is not None and user.is_authenticated else None,
        prompt_selection=selection,
        parameters=overrides,
        samples_per_prompt=samples_per_prompt,
        prompt_count=prompt_count,
        total=total,
        heartbeat_at=timezone.now(),
    )
    run.endpoints.set(endpoints)
    audit_record(actor=user, action="generation_run.created", target=run, project=project,
                 detail={"endpoints": [endpoint.pk for endpoint in endpoints], "total": total})
    if enqueue:
        _on_commit_prepare(run.pk)
    return run


def _on_commit_prepare(run_id: int) -> None:
    from apps.sampling.tasks import generation_run_prepare

    transaction.on_commit(lambda: generation_run_prepare.delay(run_id))


def _on_commit_dispatch(run_id: int, endpoint_ids: list[int]) -> None:
    from apps.sampling.tasks import generation_run_endpoint

    def send() -> None:
        for endpoint_id in endpoint_ids:
            generation_run_endpoint.delay(run_id, endpoint_id)

    transaction.on_commit(send)


def _slots_materialise(*, run: GenerationRun, endpoint: ModelEndpoint, prompt_ids: list[int]) -> None:
    """Insert missing slots for the run's prompts × samples on one endpoint and link them to the run."""
    parameters = parameters_merge(endpoint.default_parameters, run.parameters)
    digest = parameters_hash(model_name=endpoint.model_name, parameters=parameters)
    slot_table = GenerationSlot._meta.db_table
    link_table = GenerationRun.slots.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {slot_table} (project_id, prompt_id, endpoint_id, parameters_hash, parameters, sample_index,
                                      status, attempts, error_reason, error_message, updated_at)
            SELECT %s, p.id, %s, %s, %s::jsonb, s.i, 'pending', 0, '', '', now()
            FROM unnest(%s::bigint[]) AS p(id) CROSS JOIN generate_series(0, %s - 1) AS s(i)
            ON CONFLICT (prompt_id, endpoint_id, parameters_hash, sample_index) DO NOTHING
            """,
            [run.project_id, endpoint.pk, digest, json.dumps(parameters), prompt_ids, run.samples_per_prompt],
        )
        cursor.execute(
            f"""
            INSERT INTO {link_table} (generationrun_id, generationslot_id)
            SELECT %s, id FROM {slot_table}
            WHERE endpoint_id = %s AND parameters_hash = %s AND prompt_id = ANY(%s::bigint[]) AND sample_index < %s
            ON CONFLICT DO NOTHING
            """,
            [run.pk, endpoint.pk, digest, prompt_ids, run.samples_per_prompt],
        )
        # Asking again for what failed before is the point of a re-run.
        cursor.execute(
            f"""
            UPDATE {slot_table} SET status = 'pending', error_reason = '', error_message = '', updated_at = now()
            WHERE status = 'failed' AND endpoint_id = %s
              AND id IN (SELECT generationslot_id FROM {link_table} WHERE generationrun_id = %s)
            """,
            [endpoint.pk, run.pk],
        )


def generation_run_prepare(*, run_id: int, dispatch: bool = True) -> list[int]:
    """Write the run's slots (idempotent), then hand each endpoint with pending work to a task.

    Returns the endpoint ids with pending work (dispatch=False leaves them to the caller).
    """
    with transaction.atomic():
        run = GenerationRun.objects.select_for_update().select_related("project").get(pk=run_id)
        if run.is_finished:
            return []
        if run.prepared_at is None:
            prompt_ids = prompt_ids_for_selection(project=run.project, selection=run.prompt_selection)
            if not prompt_ids:
                run.status = JobStatus.FAILED
                run.error = "The prompt selection matches no prompts any more."
                run.finished_at = timezone.now()
                run.save(update_fields=["status", "error", "finished_at", "updated_at"])
                return []
            for endpoint in run.endpoints.all():
                _slots_materialise(run=run, endpoint=endpoint, prompt_ids=prompt_ids)
            run.prompt_count = len(prompt_ids)
            run.total = run.slots.count()
            run.prepared_at = timezone.now()
            run.heartbeat_at = timezone.now()
            run.save(update_fields=["prompt_count", "total", "prepared_at", "heartbeat_at", "updated_at"])
        pending = _endpoints_with_pending(run)
        if not pending:
            transaction.on_commit(lambda: generation_run_finalize(run_id=run_id))
        elif dispatch:
            _on_commit_dispatch(run.pk, pending)
    return pending


def generation_run_execute_inline(*, run_id: int, time_budget: float | None = None) -> GenerationRun:
    """Prepare and execute a run in this process, endpoint after endpoint (manage.py generate --inline,
    tests). Waits politely when another executor holds an endpoint."""
    from apps.sampling.execution import run_endpoint_execute

    for endpoint_id in generation_run_prepare(run_id=run_id, dispatch=False):
        while True:
            result = run_endpoint_execute(run_id=run_id, endpoint_id=endpoint_id, time_budget=time_budget)
            if result == "busy":
                time.sleep(1.0)
            elif result != "continue":
                break
    generation_run_finalize(run_id=run_id)
    return GenerationRun.objects.get(pk=run_id)


def _endpoints_with_pending(run: GenerationRun) -> list[int]:
    return list(
        GenerationSlot.objects.filter(runs=run, status=SlotStatus.PENDING)
        .order_by()
        .values_list("endpoint_id", flat=True)
        .distinct()
    )


def generation_run_finalize(*, run_id: int) -> None:
    """Close the run once no slot is pending. Takes the run's row lock."""
    with transaction.atomic():
        run = GenerationRun.objects.select_for_update().get(pk=run_id)
        if run.is_finished or run.prepared_at is None:
            return
        slots = GenerationSlot.objects.filter(runs=run)
        if slots.filter(status=SlotStatus.PENDING).exists():
            return
        succeeded = slots.filter(status=SlotStatus.SUCCEEDED).count()
        failed = slots.filter(status=SlotStatus.FAILED).count()
        run.status = JobStatus.FAILED if failed and not succeeded else JobStatus.SUCCEEDED
        run.error = f"Every generation failed ({failed}); see failures by reason." if run.status == JobStatus.FAILED else ""
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at", "updated_at"])
        # Generated responses become searchable in the item browser like imported ones.
        first_generation = slots.filter(generation__isnull=False).aggregate(first=Min("generation_id"))["first"]
        if first_generation is not None:
            from apps.items.search import search_index_queue

            last_prompt = Prompt.objects.filter(project_id=run.project_id).aggregate(last=Max("pk"))["last"] or 0
            search_index_queue(
                project_id=run.project_id, after_prompt_id=last_prompt, after_generation_id=first_generation - 1
            )


@transaction.atomic
def generation_run_cancel(*, run: GenerationRun) -> GenerationRun:
    """Stop a run: executors notice within a second; pending slots stay pending (resumable)."""
    run = GenerationRun.objects.select_for_update().get(pk=run.pk)
    if run.is_finished:
        raise ValidationError({"status": f"the run has already {run.status}"})
    run.status = JobStatus.CANCELLED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at", "updated_at"])
    return run


@transaction.atomic
def generation_run_resume(*, run: GenerationRun, retry_failed: bool = True, enqueue: bool = True) -> GenerationRun:
    """Continue a cancelled or finished run: pending slots (and failed ones, if asked) are called again."""
    run = GenerationRun.objects.select_for_update().get(pk=run.pk)
    if not run.is_finished:
        raise ValidationError({"status": "the run is still going"})
    slots = GenerationSlot.objects.filter(runs=run)
    if retry_failed:
        slots.filter(status=SlotStatus.FAILED).update(
            status=SlotStatus.PENDING, error_reason="", error_message="", updated_at=timezone.now()
        )
    if run.prepared_at is not None and not slots.filter(status=SlotStatus.PENDING).exists():
        raise ValidationError({"status": "nothing left to generate: every slot succeeded"})
    run.status = JobStatus.QUEUED
    run.finished_at = None
    run.error = ""
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["status", "finished_at", "error", "heartbeat_at", "updated_at"])
    if enqueue:
        _on_commit_prepare(run.pk)
    return run


def stalled_runs_requeue(*, stale_after: float | None = None) -> int:
    """Re-queue queued/running runs whose executors went quiet (a worker died). Returns how many.

    Safe to over-trigger: executors take the endpoint lease, so a duplicate task
    waits or finds nothing pending.
    """
    seconds = stale_after if stale_after is not None else settings.GENERATION_LEASE_SECONDS * 2
    cutoff = timezone.now() - timedelta(seconds=seconds)
    stale = GenerationRun.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    count = 0
    for run_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            touched = GenerationRun.objects.filter(pk=run_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
                heartbeat_at=timezone.now()
            )
            if touched:
                _on_commit_prepare(run_id)
                count += 1
    return count
