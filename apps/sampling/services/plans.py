"""Sampling plans: validate, preview, execute (turn generations into items), keep queues topped up.

Items are written by apps.items.building (shared with imports), so a plan run
twice, or a top-up that overlaps an import, never creates a duplicate item.

Gold: the assignment engine interleaves gold items at the project's ratio; a
plan makes sure its batch has gold to interleave with. For N new items it
lifts round(N·r / (1 − r)) open gold items (seeded choice, those below the
plan's priority first) to the plan's priority, so a high-priority batch does
not run without gold, and reports any shortfall.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Generator, Iterator
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from apps.core.models import JobStatus
from apps.items.building import StagedItems, staged_items_insert
from apps.items.models import GenerationSource, Item
from apps.sampling.models import (
    GenerationRun,
    PlanExecution,
    PlanTrigger,
    SamplingPlan,
    SamplingStrategy,
)
from apps.sampling.planning import gold_needed, plan_build, plan_stream
from apps.sampling.selectors import (
    METADATA_KEY_RE,
    gold_pool,
    open_item_count,
    plan_candidates_queryset,
)
from apps.sampling.services.runs import metadata_filter_clean

logger = logging.getLogger(__name__)

INSERT_CHUNK = 50_000
# Plans with this many candidate generations insert on two connections at once. Smaller ones
# use the caller's connection only (a test's transaction sees, and rolls back, everything).
PARALLEL_WRITERS = 2
PARALLEL_MIN_CANDIDATES = 200_000
T = TypeVar("T")
NEEDS_BUDGET = (SamplingStrategy.ADAPTIVE, SamplingStrategy.STRATIFIED)


def plan_config_clean(*, project, strategy: str, config: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Validated plan config; raises ValidationError naming each bad field (as config.<field>)."""
    errors: dict[str, str] = {}
    if strategy not in SamplingStrategy.values:
        raise ValidationError({"strategy": f"must be one of {', '.join(SamplingStrategy.values)}"})
    if config in (None, ""):
        config = {}
    if not isinstance(config, dict):
        raise ValidationError({"config": "must be an object"})
    known = {"k", "budget", "strata", "models", "generation_source", "generation_run", "prompt_filter"}
    for key in config:
        if key not in known:
            errors[f"config.{key}"] = f"is not a plan setting (known: {', '.join(sorted(known))})"
    clean: dict[str, Any] = {}

    def whole(name: str, low: int, high: int) -> int | None:
        value = config.get(name)
        if value in (None, ""):
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[f"config.{name}"] = f"must be a whole number from {low} to {high:,}"
            return None
        return value

    if strategy == SamplingStrategy.K_PAIRS:
        clean["k"] = whole("k", 1, 100) or 1
    budget = whole("budget", 1, 10_000_000)
    if budget is not None:
        clean["budget"] = budget
    elif strategy in NEEDS_BUDGET and "config.budget" not in errors:
        errors["config.budget"] = "is required for this strategy: how many items to plan"
    if strategy == SamplingStrategy.STRATIFIED:
        strata = config.get("strata") or ["model"]
        if isinstance(strata, str):
            strata = [s.strip() for s in strata.split(",") if s.strip()]
        if not isinstance(strata, list) or not 1 <= len(strata) <= 4 or not all(
            isinstance(s, str) and METADATA_KEY_RE.match(s) for s in strata
        ):
            errors["config.strata"] = "must list 1 to 4 keys: model, length_bucket, generation_source or a metadata key"
        else:
            clean["strata"] = strata
    models = config.get("models")
    if models not in (None, "", []):
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            errors["config.models"] = "must be a list of model names"
        else:
            clean["models"] = models
    source = config.get("generation_source")
    if source not in (None, ""):
        if source not in GenerationSource.values:
            errors["config.generation_source"] = f"must be one of {', '.join(GenerationSource.values)}"
        else:
            clean["generation_source"] = source
    run_id = config.get("generation_run")
    if run_id not in (None, ""):
        if isinstance(run_id, bool) or not isinstance(run_id, int) or not GenerationRun.objects.filter(
            pk=run_id, project=project
        ).exists():
            errors["config.generation_run"] = "must be the id of a generation run in this project"
        else:
            clean["generation_run"] = run_id
    prompt_filter = metadata_filter_clean(config.get("prompt_filter"), "config.prompt_filter", errors)
    if prompt_filter:
        clean["prompt_filter"] = prompt_filter
    if errors:
        raise ValidationError(errors)
    return clean


def _plan_fields_clean(*, project, data: dict[str, Any], current: SamplingPlan | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    errors: dict[str, str] = {}
    strategy = data.get("strategy", current.strategy if current else None)
    raw_config = data.get("config", current.config if current else {})
    clean: dict[str, Any] = {}
    try:
        clean["config"] = plan_config_clean(project=project, strategy=strategy, config=raw_config)
        clean["strategy"] = strategy
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    name = data.get("name", current.name if current else "")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["name"] = "is required (at most 200 characters)"
    else:
        clean["name"] = name.strip()
    for field_name, low, high in (("seed", -(2**31), 2**31 - 1), ("priority", -(2**31), 2**31 - 1)):
        value = data.get(field_name, getattr(current, field_name) if current else 0)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[field_name] = "must be a whole number"
        else:
            clean[field_name] = value
    for flag, default in (("continuous", False), ("mix_gold", True), ("is_active", True)):
        value = data.get(flag, getattr(current, flag) if current else default)
        if not isinstance(value, bool):
            errors[flag] = "must be true or false"
        else:
            clean[flag] = value
    target = data.get("target_open_items", current.target_open_items if current else None)
    if target in ("", None):
        target = None
    elif isinstance(target, bool) or not isinstance(target, int) or not 1 <= target <= 10_000_000:
        errors["target_open_items"] = "must be a whole number from 1 to 10,000,000"
    clean["target_open_items"] = target
    if clean.get("continuous") and target is None and "target_open_items" not in errors:
        errors["target_open_items"] = "is required for a continuous plan: how many open items to keep"
    if errors:
        raise ValidationError(errors)
    return clean


@transaction.atomic
def sampling_plan_create(*, project, user, data: dict[str, Any]) -> SamplingPlan:  # type: ignore[no-untyped-def]
    fields = _plan_fields_clean(project=project, data=data)
    return SamplingPlan.objects.create(
        project=project, created_by=user if user is not None and user.is_authenticated else None, **fields
    )


@transaction.atomic
def sampling_plan_update(*, plan: SamplingPlan, data: dict[str, Any]) -> SamplingPlan:
    fields = _plan_fields_clean(project=plan.project, data=data, current=plan)
    for name, value in fields.items():
        setattr(plan, name, value)
    plan.save()
    return plan


def gold_mix(*, plan: SamplingPlan, created: int) -> tuple[int, int]:
    """Lift open gold items to the batch's priority at the project's ratio; returns (mixed, needed)."""
    needed = gold_needed(project=plan.project, created=created) if plan.mix_gold else 0
    if not needed:
        return 0, 0
    pool = list(gold_pool(project=plan.project).values_list("pk", "priority"))
    rng = random.Random(f"{plan.seed}:gold:{created}")
    rng.shuffle(pool)
    pool.sort(key=lambda row: row[1] >= plan.priority)  # stable: those not yet lifted first
    chosen = [pk for pk, _ in pool[:needed]]
    Item.objects.filter(pk__in=chosen, priority__lt=plan.priority).update(priority=plan.priority)
    return len(chosen), needed


def sampling_plan_preview(
    *, project, strategy: str, config: Any, seed: int = 0, limit: int | None = None  # type: ignore[no-untyped-def]
) -> dict[str, Any]:
    """Counts the plan would produce now, without writing anything. Bounded by
    SAMPLING_PREVIEW_MAX_GENERATIONS so a page request stays short."""
    clean = plan_config_clean(project=project, strategy=strategy, config=config)
    candidates = plan_candidates_queryset(project=project, config=clean).count()
    if candidates > settings.SAMPLING_PREVIEW_MAX_GENERATIONS:
        raise ValidationError(
            {
                "config": f"{candidates:,} candidate generations is more than a preview reads "
                f"({settings.SAMPLING_PREVIEW_MAX_GENERATIONS:,}); narrow the plan or run it"
            }
        )
    batch = plan_build(project=project, strategy=strategy, config=clean, seed=seed, limit=limit)
    needed = gold_needed(project=project, created=len(batch.groups))
    available = gold_pool(project=project).count()
    warnings = []
    if not batch.candidates:
        warnings.append("No generations match: import outputs or start a generation run first.")
    elif not batch.planned and strategy in (SamplingStrategy.ALL_PAIRS, SamplingStrategy.K_PAIRS):
        warnings.append("Nothing to pair: pairs need prompts with at least two generations (two models or samples).")
    elif not batch.groups:
        warnings.append("Every planned item exists already: nothing new to add.")
    if needed > available:
        warnings.append(f"The gold ratio asks for {needed} gold items but only {available} open gold items exist.")
    return {
        "strategy": strategy,
        "candidates": batch.candidates,
        "prompts": batch.prompts,
        "planned": batch.planned,
        "new_items": len(batch.groups),
        "duplicates": batch.duplicates,
        "gold_needed": needed,
        "gold_available": available,
        "breakdown": batch.breakdown,
        "warnings": warnings,
    }


# --- executing -------------------------------------------------------------------------------


@transaction.atomic
def plan_execution_start(
    *,
    plan: SamplingPlan,
    user,  # type: ignore[no-untyped-def]
    trigger: str = PlanTrigger.MANUAL,
    limit: int | None = None,
    enqueue: bool = True,
) -> PlanExecution:
    """Record an execution and (after commit) queue it; enqueue=False leaves running it to the caller."""
    execution = PlanExecution.objects.create(
        plan=plan,
        trigger=trigger,
        limit=limit,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    if enqueue:
        from apps.sampling.tasks import plan_execution_run as task

        transaction.on_commit(lambda: task.delay(execution.pk))
    return execution


def _insert_chunk(*, project, staged: StagedItems) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """One chunk of items in its own transaction, without waiting for the WAL flush at commit.

    Safe to skip that wait: the execution's final status update commits normally
    afterwards, and PostgreSQL makes it durable only with every earlier commit, so
    a crash cannot leave "succeeded" with items missing (and a re-run fills gaps).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        return staged_items_insert(project=project, staged=staged)


def _insert_chunks(*, project, chunks: Iterator[StagedItems], writers: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Insert the chunks, `writers` at a time, each writer on its own database connection;
    returns (created, duplicates).

    One PostgreSQL backend inserting a million items with their index entries is the
    slowest part of a big plan; two keep both cores of a small server busy. Chunks are
    independent transactions either way (a failed one is filled in by a re-run), but
    with several writers item ids no longer follow the plan's order exactly.
    """
    if writers <= 1:
        created = duplicates = 0
        for chunk in chunks:
            made, skipped = _insert_chunk(project=project, staged=chunk)
            created += made
            duplicates += skipped
        return created, duplicates
    work: queue.Queue[StagedItems | None] = queue.Queue(maxsize=writers)
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            while (chunk := work.get()) is not None:
                if errors:
                    continue  # another writer failed: drain without writing
                try:
                    results.append(_insert_chunk(project=project, staged=chunk))
                except BaseException as exc:
                    errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=write, name=f"plan-writer-{n}", daemon=True) for n in range(writers)]
    for thread in threads:
        thread.start()
    try:
        for chunk in chunks:
            if errors:
                break
            work.put(chunk)
    finally:
        for _ in threads:
            work.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return sum(made for made, _ in results), sum(skipped for _, skipped in results)


def _in_background(iterator: Iterator[T], *, depth: int = 2) -> Generator[T, None, None]:
    """Run `iterator` (pure Python: no database access) in a second thread, `depth` items ahead.

    psycopg2 releases the GIL while PostgreSQL works, so the thread plans and formats the
    next batches while this one waits for the last insert. An error in the thread is
    raised here; stopping early (an error here) stops the thread.
    """
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for value in iterator:
                if not put((False, value)):
                    return
            put((True, None))
        except BaseException as exc:  # handed to the consuming thread, which fails the execution
            put((True, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # a generator's own cleanup (e.g. gc_paused) runs in its thread

    thread = threading.Thread(target=produce, name="plan-items", daemon=True)
    thread.start()
    try:
        while True:
            done, value = handoff.get()
            if done:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        thread.join(timeout=30)


def _pii_scan_new_items(*, project, after_id: int) -> None:  # type: ignore[no-untyped-def]
    """Queue the personal-data scan for the items just made (apps.privacy), as imports do.
    Items another writer added meanwhile may be scanned too: scans are idempotent."""
    from apps.privacy.services import pii_scan_enqueue

    with transaction.atomic():
        pii_scan_enqueue(Item.objects.filter(project=project, pk__gt=after_id).values_list("pk", flat=True))


def plan_execution_run(*, execution_id: int) -> PlanExecution:
    """Build and insert the plan's items. Idempotent: items are keyed by content hash."""
    with transaction.atomic():
        execution = PlanExecution.objects.select_for_update().select_related("plan__project").get(pk=execution_id)
        if execution.status in JobStatus.finished():
            return execution
        execution.status = JobStatus.RUNNING
        execution.started_at = timezone.now()
        execution.save(update_fields=["status", "started_at", "updated_at"])
    plan = execution.plan
    try:
        started = time.monotonic()
        stream = None
        if execution.limit is None:
            stream = plan_stream(
                project=plan.project,
                strategy=plan.strategy,
                config=plan.config,
                seed=plan.seed,
                batch_size=INSERT_CHUNK,
                plan_id=plan.pk,
                priority=plan.priority,
            )
        if stream is not None:
            batch, staged = stream.batch, stream.staged
        else:
            batch = plan_build(
                project=plan.project,
                strategy=plan.strategy,
                config=plan.config,
                seed=plan.seed,
                limit=execution.limit,
                plan_id=plan.pk,
                priority=plan.priority,
                check_existing=False,
            )
            staged = batch.staged(INSERT_CHUNK)
        planned_at = time.monotonic()
        created = duplicates = 0
        newest_before = Item.objects.filter(project=plan.project).order_by("-pk").values_list("pk", flat=True).first() or 0
        writers = PARALLEL_WRITERS if batch.candidates >= PARALLEL_MIN_CANDIDATES else 1
        with contextlib.closing(_in_background(staged)) as chunks:  # stops the planning thread on errors
            created, duplicates = _insert_chunks(project=plan.project, chunks=chunks, writers=writers)
        inserted_at = time.monotonic()
        mixed, needed = gold_mix(plan=plan, created=created)
        if created:
            _pii_scan_new_items(project=plan.project, after_id=newest_before)
    except Exception as exc:
        logger.exception("sampling plan execution %s failed", execution_id)
        PlanExecution.objects.filter(pk=execution_id).update(
            status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        return PlanExecution.objects.get(pk=execution_id)
    breakdown = dict(batch.breakdown)
    breakdown.update({
        "candidates": batch.candidates,
        "prompts": batch.prompts,
        "gold_needed": needed,
        # "plan": before the first insert could start; "insert": the rest (a streamed plan
        # plans its later batches meanwhile).
        "seconds": {"plan": round(planned_at - started, 2), "insert": round(inserted_at - planned_at, 2)},
    })
    PlanExecution.objects.filter(pk=execution_id).update(
        status=JobStatus.SUCCEEDED,
        planned=batch.planned,
        created=created,
        duplicates=batch.duplicates + duplicates,
        gold_mixed=mixed,
        breakdown=breakdown,
        finished_at=timezone.now(),
    )
    SamplingPlan.objects.filter(pk=plan.pk).update(last_run_at=timezone.now())
    return PlanExecution.objects.get(pk=execution_id)


def continuous_plans_top_up() -> int:
    """For each active continuous plan below its target of open items, start a top-up. Returns how many."""
    started = 0
    plans = SamplingPlan.objects.filter(
        continuous=True, is_active=True, target_open_items__isnull=False, project__archived_at__isnull=True
    ).select_related("project")
    for plan in plans:
        recent = timezone.now() - timedelta(hours=1)  # an older unfinished one was lost with its worker
        if plan.executions.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING], created_at__gte=recent).exists():
            continue  # the previous top-up is still working
        deficit = plan.target_open_items - open_item_count(project=plan.project)
        if deficit > 0:
            plan_execution_start(plan=plan, user=None, trigger=PlanTrigger.SCHEDULE, limit=deficit)
            started += 1
    return started
