"""Sampling strategies on the shared AlpacaEval data: 805 prompts × 4 models = 3,220 generations."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.accounts.models import ProjectRole
from apps.annotations.models import Annotation, Assignment, AssignmentStatus
from apps.core.models import JobStatus
from apps.items.building import item_content_hash
from apps.items.models import Item, ItemGeneration, ItemKind
from apps.sampling import planning
from apps.sampling.models import PlanExecution, SamplingPlan
from apps.sampling.planning import plan_build
from apps.sampling.services import plans
from apps.sampling.services.plans import (
    continuous_plans_top_up,
    plan_execution_run,
    plan_execution_start,
    sampling_plan_create,
    sampling_plan_preview,
)
from tests.factories import GenerationFactory, ProjectMembershipFactory, UserFactory
from tests.sampling.conftest import make_prompts

MODELS = ["Meta-Llama-3-8B-Instruct", "falcon-7b-instruct", "gpt4_1106_preview", "llama-2-7b-chat-hf"]
SOURCES = {"selfinstruct": 252, "oasst": 188, "koala": 156, "helpful_base": 129, "vicuna": 80}


def execute(project, strategy: str, *, config=None, seed: int = 0, limit=None, **fields) -> PlanExecution:  # type: ignore[no-untyped-def]
    plan = sampling_plan_create(
        project=project, user=None, data={"name": strategy, "strategy": strategy, "config": config or {}, "seed": seed, **fields}
    )
    execution = plan_execution_start(plan=plan, user=None, limit=limit)
    return plan_execution_run(execution_id=execution.pk)


def plan_items(execution: PlanExecution):  # type: ignore[no-untyped-def]
    return Item.objects.filter(metadata__sampling_plan=execution.plan_id)


def shown_models(items) -> list[tuple[str, ...]]:  # type: ignore[no-untyped-def]
    order: dict[int, dict[int, str]] = defaultdict(dict)
    for item_id, position, model in ItemGeneration.objects.filter(item__in=items).values_list(
        "item_id", "position", "generation__model_name"
    ):
        order[item_id][position] = model
    return [tuple(positions[p] for p in sorted(positions)) for positions in order.values()]


def test_each_generation_becomes_one_item_and_reruns_add_nothing(project, alpaca):
    execution = execute(project, "each")

    assert (execution.status, execution.planned, execution.created, execution.duplicates) == ("succeeded", 3220, 3220, 0)
    assert execution.breakdown["models"] == dict.fromkeys(MODELS, 805)
    assert plan_items(execution).filter(kind=ItemKind.SINGLE).count() == 3220
    again = execute(project, "each")
    assert (again.created, again.duplicates) == (0, 3220)


def test_all_pairs_gives_six_pairs_per_prompt_with_balanced_positions(project, alpaca):
    execution = execute(project, "all_pairs", seed=4)

    assert execution.created == 805 * 6
    pairs = shown_models(plan_items(execution))
    by_pairing = Counter(tuple(sorted(p)) for p in pairs)
    assert set(by_pairing.values()) == {805}
    first = Counter(pairs)
    for a, b in by_pairing:
        assert abs(first[(a, b)] - first[(b, a)]) <= 1, "display order is not balanced"


def test_k_pairs_balances_model_pairings(project, alpaca):
    execution = execute(project, "k_pairs", config={"k": 2}, seed=1)

    assert execution.created == 805 * 2
    items = plan_items(execution)
    assert set(Counter(items.values_list("prompt_id", flat=True)).values()) == {2}
    by_pairing = Counter(tuple(sorted(p)) for p in shown_models(items))
    assert len(by_pairing) == 6
    assert max(by_pairing.values()) - min(by_pairing.values()) <= 1  # 1,610 / 6 = 268.3
    assert sum(execution.breakdown["pairings"].values()) == 1610


def test_a_budget_takes_a_seeded_sample(project, alpaca):
    first = execute(project, "k_pairs", config={"k": 1, "budget": 100}, seed=9)
    assert first.created == 100
    ids = sorted(plan_items(first).values_list("content_hash", flat=True))
    Item.objects.all().delete()
    again = execute(project, "k_pairs", config={"k": 1, "budget": 100}, seed=9)
    assert sorted(plan_items(again).values_list("content_hash", flat=True)) == ids
    Item.objects.all().delete()
    other = execute(project, "k_pairs", config={"k": 1, "budget": 100}, seed=10)
    assert sorted(plan_items(other).values_list("content_hash", flat=True)) != ids


@pytest.mark.parametrize(
    ("strata", "budget", "expected"),
    [
        (["source"], 100, dict.fromkeys(SOURCES, 20)),
        (["model"], 100, dict.fromkeys(MODELS, 25)),
        # vicuna has only 80 × 4 = 320 generations: the rest of the budget goes to the others.
        (["source"], 2000, {**dict.fromkeys(SOURCES, 420), "vicuna": 320}),
        (["length_bucket"], 90, {"short": 30, "medium": 30, "long": 30}),
    ],
)
def test_stratified_spreads_the_budget_evenly(project, alpaca, strata, budget, expected):
    execution = execute(project, "stratified", config={"strata": strata, "budget": budget}, seed=2)

    assert execution.created == budget
    assert execution.breakdown["strata"] == expected
    stored = Counter(stratum[strata[0]] for stratum in plan_items(execution).values_list("metadata__stratum", flat=True))
    assert dict(stored) == expected
    assert plan_items(execution).filter(kind=ItemKind.SINGLE).count() == budget


def test_stratified_across_two_keys(project, alpaca):
    execution = execute(project, "stratified", config={"strata": ["source", "model"], "budget": 200})
    assert len(execution.breakdown["strata"]) == 20 and set(execution.breakdown["strata"].values()) == {10}
    # A second run of the same plan settings samples different generations (the first ones exist).
    again = execute(project, "stratified", config={"strata": ["source", "model"], "budget": 200})
    assert again.created == 200
    assert plan_items(execution).filter(pk__in=plan_items(again)).count() == 0


def test_adaptive_is_uniform_without_votes(project, alpaca):
    execution = execute(project, "adaptive", config={"budget": 600}, seed=3)

    assert execution.created == 600
    assert execution.breakdown["votes"] == 0
    assert set(execution.breakdown["pairings"].values()) == {100}
    assert len({tuple(sorted(p)) for p in shown_models(plan_items(execution))}) == 6


def _vote(project, strengths: dict[str, float], per_pairing: int) -> None:
    """Synthetic annotators voting on all-pairs items by Bradley–Terry with known strengths."""
    project.questions = [{"id": "preference", "type": "pairwise", "prompt": "Which is better?", "applies_to": "pair"}]
    project.save(update_fields=["questions"])
    execute(project, "all_pairs", config={"prompt_filter": {"source": "selfinstruct"}}, seed=5)
    rng = random.Random(11)
    annotators = [UserFactory() for _ in range(3)]
    for user in annotators:
        ProjectMembershipFactory(project=project, user=user, role=ProjectRole.ANNOTATOR)
    links: dict[int, dict[int, str]] = defaultdict(dict)
    for item_id, position, model in ItemGeneration.objects.filter(item__project=project, item__kind=ItemKind.PAIR).values_list(
        "item_id", "position", "generation__model_name"
    ):
        links[item_id][position] = model
    used: Counter[tuple[str, str]] = Counter()
    now = timezone.now()
    assignments, answers = [], []
    for item_id, shown in sorted(links.items()):
        key = tuple(sorted(shown.values()))
        if used[key] >= per_pairing:
            continue
        used[key] += 1
        p_first = 1 / (1 + math.exp(strengths[shown[1]] - strengths[shown[0]]))
        choice = "a" if rng.random() < p_first else "b"
        assignment = Assignment(
            project=project, item_id=item_id, annotator=annotators[used[key] % 3], status=AssignmentStatus.SUBMITTED,
            leased_at=now, expires_at=now + timedelta(minutes=30), finished_at=now,
        )
        assignments.append(assignment)
        answers.append({"preference": {"choice": choice}})
    Assignment.objects.bulk_create(assignments)
    Annotation.objects.bulk_create(
        Annotation(project=project, item_id=a.item_id, annotator=a.annotator, assignment=a, answers=answer)
        for a, answer in zip(assignments, answers, strict=True)
    )


def test_adaptive_pairs_favour_close_models_after_votes(project, alpaca):
    strengths = {
        "gpt4_1106_preview": 3.0,
        "Meta-Llama-3-8B-Instruct": 0.3,
        "llama-2-7b-chat-hf": 0.0,
        "falcon-7b-instruct": -3.0,
    }
    _vote(project, strengths, per_pairing=60)  # on selfinstruct prompts; the other 553 remain to plan

    execution = execute(project, "adaptive", config={"budget": 600}, seed=3)

    assert execution.breakdown["votes"] == 360
    pairings = execution.breakdown["pairings"]
    close = pairings["Meta-Llama-3-8B-Instruct vs llama-2-7b-chat-hf"]
    far = pairings["falcon-7b-instruct vs gpt4_1106_preview"]
    assert close > 150 and far < 25, pairings
    assert close == max(pairings.values()) and far == min(pairings.values())
    strength = execution.breakdown["strengths"]
    assert strength["gpt4_1106_preview"] > strength["Meta-Llama-3-8B-Instruct"] > strength["falcon-7b-instruct"]


def test_gold_is_mixed_in_at_the_project_ratio(project, alpaca):
    project.gold_ratio = 0.2
    project.save(update_fields=["gold_ratio"])
    gold_run = execute(project, "each", config={"models": ["falcon-7b-instruct"], "budget": 15}, seed=1)
    plan_items(gold_run).update(is_gold=True, gold_answers={"overall": 5}, priority=-1)

    execution = execute(project, "k_pairs", config={"budget": 40}, priority=5)

    assert execution.created == 40
    assert execution.gold_mixed == 10  # 40 × 0.2 / 0.8
    assert Item.objects.filter(is_gold=True, priority=5).count() == 10
    assert Item.objects.filter(is_gold=True, priority=-1).count() == 5


def test_preview_counts_match_the_run(project, alpaca):
    preview = sampling_plan_preview(project=project, strategy="k_pairs", config={"k": 3}, seed=8)
    execution = execute(project, "k_pairs", config={"k": 3}, seed=8)
    assert (preview["candidates"], preview["prompts"], preview["new_items"]) == (3220, 805, execution.created)
    assert preview["breakdown"]["pairings"] == execution.breakdown["pairings"]
    assert Item.objects.count() == execution.created  # the preview wrote nothing
    after = sampling_plan_preview(project=project, strategy="k_pairs", config={"k": 3}, seed=8)
    assert (after["new_items"], after["duplicates"]) == (0, 805 * 3)
    assert "nothing new" in after["warnings"][0]


def test_continuous_plan_keeps_the_queue_at_its_target(project, alpaca):
    plan = sampling_plan_create(
        project=project,
        user=None,
        data={"name": "arena", "strategy": "k_pairs", "config": {"k": 2}, "continuous": True, "target_open_items": 50},
    )
    assert continuous_plans_top_up() == 1
    execution = plan.executions.get()
    assert (execution.trigger, execution.limit) == ("schedule", 50)
    plan_execution_run(execution_id=execution.pk)
    assert Item.objects.filter(state="open").count() == 50
    assert continuous_plans_top_up() == 0  # at target

    Item.objects.filter(pk__in=Item.objects.order_by("pk").values("pk")[:20]).update(state="completed")
    assert continuous_plans_top_up() == 1
    top_up = plan.executions.order_by("-pk").first()
    assert top_up.limit == 20
    plan_execution_run(execution_id=top_up.pk)
    assert Item.objects.filter(state="open").count() == 50
    assert Item.objects.count() == 70


def test_plan_settings_are_validated(project):
    with pytest.raises(ValidationError) as error:
        sampling_plan_create(
            project=project,
            user=None,
            data={
                "name": "",
                "strategy": "adaptive",
                "config": {"k": "two", "strata": "x", "surprise": 1},
                "continuous": True,
            },
        )
    errors = error.value.message_dict
    assert set(errors) >= {"name", "config.budget", "config.surprise", "target_open_items"}
    with pytest.raises(ValidationError, match="strategy"):
        sampling_plan_create(project=project, user=None, data={"name": "x", "strategy": "random"})
    assert SamplingPlan.objects.count() == 0


def test_a_failing_execution_is_recorded(project, monkeypatch):
    plan = sampling_plan_create(project=project, user=None, data={"name": "x", "strategy": "each"})
    execution = plan_execution_start(plan=plan, user=None)

    def explode(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    monkeypatch.setattr("apps.sampling.planning.generations_by_prompt", explode)
    result = plan_execution_run(execution_id=execution.pk)
    assert result.status == JobStatus.FAILED and "database went away" in result.error


def test_a_failure_while_planning_a_later_batch_is_recorded(project, monkeypatch):
    """Batches are planned in a second thread while earlier ones are written: an error there
    still fails the execution, with the batches before it kept (a re-run skips them)."""
    for prompt in make_prompts(project, 5):
        for model in ("a", "b"):
            GenerationFactory(project=project, prompt=prompt, model_name=model)
    plan = sampling_plan_create(project=project, user=None, data={"name": "x", "strategy": "each"})
    execution = plan_execution_start(plan=plan, user=None, enqueue=False)
    monkeypatch.setattr("apps.sampling.services.plans.INSERT_CHUNK", 4)
    real_stage = planning.items_stage
    calls = []

    def stage_then_explode(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("planning blew up")
        return real_stage(*args, **kwargs)

    monkeypatch.setattr(planning, "items_stage", stage_then_explode)
    result = plan_execution_run(execution_id=execution.pk)
    assert result.status == JobStatus.FAILED and "planning blew up" in result.error
    assert Item.objects.filter(project=project).count() == 4
    assert not any(thread.name == "plan-items" for thread in threading.enumerate())

    monkeypatch.setattr(planning, "items_stage", real_stage)
    again = plan_execution_run(execution_id=plan_execution_start(plan=plan, user=None, enqueue=False).pk)
    assert (again.status, again.created, again.duplicates) == (JobStatus.SUCCEEDED, 6, 4)


def test_a_streamed_execution_plans_what_plan_build_plans(project, alpaca, monkeypatch):
    """Executions plan batch by batch in a second thread; the items, their display order and
    the counts are those of the whole plan built at once (as previews build it)."""
    monkeypatch.setattr("apps.sampling.services.plans.INSERT_CHUNK", 1000)  # several batches, one prompt split
    execution = execute(project, "k_pairs", config={"k": 3}, seed=11)
    whole = plan_build(project=project, strategy="k_pairs", config={"k": 3}, seed=11, plan_id=execution.plan_id,
                       check_existing=False)

    made = list(plan_items(execution).order_by("pk").values_list("content_hash", flat=True))
    assert made == [item_content_hash(prompt_id, ids) for prompt_id, ids in whole.groups]
    assert (execution.planned, execution.created) == (whole.planned, len(whole.groups)) == (2415, 2415)
    assert execution.breakdown["prompts"] == whole.prompts == 805
    assert execution.breakdown["candidates"] == whole.candidates == 3220
    assert execution.breakdown["pairings"] == whole.breakdown["pairings"]


@pytest.mark.django_db(transaction=True)
def test_big_plans_insert_on_two_connections_with_the_same_result(project, monkeypatch):
    """Plans over PARALLEL_MIN_CANDIDATES generations insert batches on two connections at
    once; the items are those one connection makes, and a failing batch fails the execution."""
    for prompt in make_prompts(project, 30):
        for model in ("a", "b", "c"):
            GenerationFactory(project=project, prompt=prompt, model_name=model)
    monkeypatch.setattr("apps.sampling.services.plans.INSERT_CHUNK", 7)
    single = execute(project, "all_pairs", seed=2)
    expected = set(plan_items(single).values_list("content_hash", flat=True))
    Item.objects.filter(project=project).delete()

    monkeypatch.setattr("apps.sampling.services.plans.PARALLEL_MIN_CANDIDATES", 1)
    writers = set()
    real_insert = plans._insert_chunk

    def recording_insert(**kwargs):  # type: ignore[no-untyped-def]
        writers.add(threading.current_thread().name)
        return real_insert(**kwargs)

    monkeypatch.setattr(plans, "_insert_chunk", recording_insert)
    parallel = execute(project, "all_pairs", seed=2)
    assert writers == {"plan-writer-0", "plan-writer-1"}
    assert (parallel.status, parallel.created, parallel.duplicates) == (JobStatus.SUCCEEDED, 90, 0)
    assert set(plan_items(parallel).values_list("content_hash", flat=True)) == expected
    assert ItemGeneration.objects.filter(item__project=project).count() == 180

    def failing_insert(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(plans, "_insert_chunk", failing_insert)
    failed = execute(project, "all_pairs", seed=3)
    assert failed.status == JobStatus.FAILED and "disk full" in failed.error
    assert not any(thread.name.startswith("plan-") for thread in threading.enumerate())
