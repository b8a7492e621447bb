"""Real Celery workers: a run survives a killed worker, then a plan turns its outputs into items."""

from __future__ import annotations

from collections import Counter

import pytest

from apps.core.models import JobStatus
from apps.items.models import Generation, Item
from apps.sampling.models import GenerationRun, GenerationSlot, PlanExecution, SlotStatus
from apps.sampling.services.plans import plan_execution_start, sampling_plan_create
from apps.sampling.services.runs import generation_run_create, stalled_runs_requeue
from tests.conftest import wait_for
from tests.sampling.conftest import make_endpoint, make_prompts

pytestmark = [pytest.mark.worker]

# Short leases so the dead worker's lease runs out quickly; tiny backoffs.
WORKER_ENV = {"GENERATION_LEASE_SECONDS": "2", "GENERATION_BACKOFF_BASE_MS": "5", "GENERATION_MAX_ATTEMPTS": "3"}


def test_killing_the_worker_mid_run_loses_nothing_and_duplicates_nothing(worker_factory, project, fake_server):
    fake_server.latency = 0.05
    make_prompts(project, 150)
    endpoint = make_endpoint(project.organization, fake_server, max_concurrency=4)
    first = worker_factory(extra_env=WORKER_ENV)

    run = generation_run_create(project=project, user=None, endpoint_ids=[endpoint.pk], samples_per_prompt=2)
    wait_for(lambda: Generation.objects.filter(project=project).count() >= 40, timeout=60, message="first outputs")
    first.kill()
    calls_at_kill = len(fake_server.chat_requests())
    before = Generation.objects.filter(project=project).count()
    assert before < 300, "the run finished before the worker could be killed"
    assert GenerationRun.objects.get(pk=run.pk).status == JobStatus.RUNNING

    worker_factory(extra_env=WORKER_ENV)
    # What beat does every minute; stale_after=0 so the test does not wait for the heartbeat to age.
    assert stalled_runs_requeue(stale_after=0) == 1
    wait_for(lambda: GenerationRun.objects.get(pk=run.pk).status == JobStatus.SUCCEEDED, timeout=90, message="resume")

    slots = GenerationSlot.objects.filter(runs=run)
    assert slots.count() == 300 and slots.filter(status=SlotStatus.SUCCEEDED).count() == 300
    generations = Generation.objects.filter(project=project)
    assert generations.count() == 300
    per_slot = Counter((g.prompt_id, g.metadata["sample_index"]) for g in generations)
    assert set(per_slot.values()) == {1}, "a slot got two generations"
    assert set(slots.values_list("generation_id", flat=True)) == set(generations.values_list("pk", flat=True))
    # Only calls whose results had not been stored when the worker died were asked again.
    assert 300 <= len(fake_server.chat_requests()) <= 300 + (calls_at_kill - before)

    # The outputs go on into the queue through a plan executed by the same worker.
    plan = sampling_plan_create(
        project=project, user=None, data={"name": "pairs", "strategy": "all_pairs", "config": {"generation_run": run.pk}}
    )
    execution = plan_execution_start(plan=plan, user=None)
    wait_for(lambda: PlanExecution.objects.get(pk=execution.pk).status == JobStatus.SUCCEEDED, timeout=60, message="plan")
    assert Item.objects.filter(project=project, kind="pair").count() == 150  # the two samples of each prompt
