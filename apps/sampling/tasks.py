"""Celery entry points for sampling: thin wrappers taking ids (see services and execution)."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from apps.sampling.execution import lease_seconds_left, run_endpoint_execute
from apps.sampling.services import plans as plan_services
from apps.sampling.services import runs as run_services

# Periodic: sampling.requeue_stalled_runs and sampling.top_up_continuous_plans (config/celery.py).


@shared_task(name="sampling.generation_run_prepare")
def generation_run_prepare(run_id: int) -> None:
    run_services.generation_run_prepare(run_id=run_id)


@shared_task(bind=True, name="sampling.generation_run_endpoint", max_retries=None)
def generation_run_endpoint(self, run_id: int, endpoint_id: int) -> str:  # type: ignore[no-untyped-def]
    result = run_endpoint_execute(
        run_id=run_id, endpoint_id=endpoint_id, time_budget=settings.GENERATION_TASK_SECONDS
    )
    if result == "busy":
        # Another executor holds the endpoint (another run, or a dead worker's lease running out).
        wait = min(settings.GENERATION_LEASE_SECONDS, lease_seconds_left(endpoint_id=endpoint_id) + 0.5)
        raise self.retry(countdown=max(0.5, wait))
    if result == "continue":
        # Time budget used: hand over so other runs on this endpoint and worker shutdowns get a turn.
        generation_run_endpoint.delay(run_id, endpoint_id)
    return result


@shared_task(name="sampling.requeue_stalled_runs")
def requeue_stalled_runs() -> int:
    return run_services.stalled_runs_requeue()


@shared_task(name="sampling.plan_execution_run")
def plan_execution_run(execution_id: int) -> None:
    plan_services.plan_execution_run(execution_id=execution_id)


@shared_task(name="sampling.top_up_continuous_plans")
def top_up_continuous_plans() -> int:
    return plan_services.continuous_plans_top_up()


@worker_ready.connect
def _requeue_after_restart(**kwargs) -> None:  # type: ignore[no-untyped-def]
    """A restarted worker picks up runs its predecessor left behind, without waiting for beat."""
    requeue_stalled_runs.delay()
