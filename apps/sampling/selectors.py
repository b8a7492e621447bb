"""Reads for sampling: prompt selection, run progress and outputs, plan candidates and votes."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, Length, Substr

from apps.annotations.models import Annotation
from apps.items.models import Generation, Item, ItemGeneration, ItemKind, ItemState, Prompt
from apps.sampling.chat_client import FAILURE_LABELS
from apps.sampling.models import (
    GenerationRun,
    GenerationSlot,
    ModelEndpoint,
    PlanExecution,
    SamplingPlan,
    SlotStatus,
)
from apps.sampling.strategies import Vote, length_bucket, stratified_pick

METADATA_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
NO_VALUE = "(none)"


# --- prompts for a generation run ------------------------------------------------------------


def metadata_filter_q(filters: dict[str, Any], *, prefix: str = "") -> Q:
    """{key: value | [values]} as a Q on a JSON `metadata` column (keys already validated)."""
    query = Q()
    for key, value in filters.items():
        values = value if isinstance(value, list) else [value]
        either = Q()
        for candidate in values:
            either |= Q(**{f"{prefix}metadata__contains": {key: candidate}})
        query &= either
    return query


def prompts_matching(*, project, selection: dict[str, Any]) -> QuerySet[Prompt]:  # type: ignore[no-untyped-def]
    prompts = Prompt.objects.filter(project=project)
    if selection.get("filter"):
        prompts = prompts.filter(metadata_filter_q(selection["filter"]))
    return prompts


def prompt_count_for_selection(*, project, selection: dict[str, Any]) -> int:  # type: ignore[no-untyped-def]
    matched = prompts_matching(project=project, selection=selection).count()
    if selection.get("mode") == "stratified":
        return min(matched, int(selection["sample_size"]))
    return matched


def prompt_ids_for_selection(*, project, selection: dict[str, Any]) -> list[int]:  # type: ignore[no-untyped-def]
    """The prompt ids a (validated) selection picks, in id order; stratified picks are seeded."""
    prompts = prompts_matching(project=project, selection=selection).order_by("pk")
    if selection.get("mode") != "stratified":
        return list(prompts.values_list("pk", flat=True))
    key = selection["stratify_by"]
    rows = prompts.annotate(_stratum=KeyTextTransform(key, "metadata")).values_list("pk", "_stratum")
    picked, _ = stratified_pick(
        ((pk, stratum if stratum is not None else NO_VALUE) for pk, stratum in rows.iterator(chunk_size=20_000)),
        int(selection["sample_size"]),
        seed=int(selection.get("seed", 0)),
    )
    return sorted(picked)


def prompt_metadata_keys(*, project, sample: int = 500) -> list[str]:  # type: ignore[no-untyped-def]
    """Metadata keys seen on a sample of the project's prompts (for form hints)."""
    keys: set[str] = set()
    for metadata in Prompt.objects.filter(project=project).order_by("pk").values_list("metadata", flat=True)[:sample]:
        if isinstance(metadata, dict):
            keys.update(k for k in metadata if METADATA_KEY_RE.match(k))
    return sorted(keys)


# --- generation runs -------------------------------------------------------------------------


def generation_runs_for_project(*, project) -> QuerySet[GenerationRun]:  # type: ignore[no-untyped-def]
    return (
        GenerationRun.objects.filter(project=project)
        .select_related("created_by")
        .prefetch_related("endpoints")
        .order_by("-created_at", "-id")
    )


def _cost(tokens: int | None, price: Decimal | None) -> Decimal | None:
    if price is None:
        return None
    return (Decimal(tokens or 0) / 1000) * price


def generation_run_summary(*, run: GenerationRun) -> dict[str, Any]:
    """Progress, tokens, cost (so far and projected) and failures by reason, per endpoint and overall."""
    rows = (
        GenerationSlot.objects.filter(runs=run)
        .order_by()
        .values("endpoint_id")
        .annotate(
            total=Count("id"),
            succeeded=Count("id", filter=Q(status=SlotStatus.SUCCEEDED)),
            failed=Count("id", filter=Q(status=SlotStatus.FAILED)),
            prompt_tokens=Sum("generation__prompt_tokens"),
            completion_tokens=Sum("generation__completion_tokens"),
            latency_ms=Avg("generation__latency_ms"),
        )
    )
    endpoints = {e.pk: e for e in run.endpoints.all()}
    per_endpoint = []
    totals: dict[str, Any] = {"succeeded": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0}
    cost_known = True
    cost = Decimal(0)
    for row in rows:
        endpoint = endpoints.get(row["endpoint_id"]) or ModelEndpoint.objects.get(pk=row["endpoint_id"])
        prompt_cost = _cost(row["prompt_tokens"], endpoint.price_per_1k_prompt_tokens)
        completion_cost = _cost(row["completion_tokens"], endpoint.price_per_1k_completion_tokens)
        row_cost = None if prompt_cost is None and completion_cost is None else (prompt_cost or 0) + (completion_cost or 0)
        if row_cost is None:
            cost_known = False
        else:
            cost += row_cost
        per_endpoint.append(
            {
                "endpoint_id": endpoint.pk,
                "endpoint": endpoint.name,
                "total": row["total"],
                "succeeded": row["succeeded"],
                "failed": row["failed"],
                "pending": row["total"] - row["succeeded"] - row["failed"],
                "prompt_tokens": row["prompt_tokens"] or 0,
                "completion_tokens": row["completion_tokens"] or 0,
                "mean_latency_ms": round(row["latency_ms"]) if row["latency_ms"] is not None else None,
                "cost": str(round(row_cost, 6)) if row_cost is not None else None,
            }
        )
        for key in ("succeeded", "failed", "prompt_tokens", "completion_tokens"):
            totals[key] += per_endpoint[-1][key]
    total = run.total
    finished = totals["succeeded"] + totals["failed"]
    failures = [
        {"reason": reason, "label": FAILURE_LABELS.get(reason, reason), "count": count}
        for reason, count in GenerationSlot.objects.filter(runs=run, status=SlotStatus.FAILED)
        .order_by()
        .values_list("error_reason")
        .annotate(n=Count("id"))
        .order_by("-n")
    ]
    has_cost = cost_known and bool(per_endpoint)
    projected = None
    if has_cost and totals["succeeded"]:
        projected = str(round(cost / totals["succeeded"] * max(total - totals["failed"], totals["succeeded"]), 6))
    return {
        "total": total,
        "succeeded": totals["succeeded"],
        "failed": totals["failed"],
        "pending": max(0, total - finished),
        "percent": round(100 * finished / total) if total else (100 if run.is_finished else 0),
        "succeeded_percent": round(100 * totals["succeeded"] / total) if total else 0,
        "failed_percent": round(100 * totals["failed"] / total) if total else 0,
        "prompt_tokens": totals["prompt_tokens"],
        "completion_tokens": totals["completion_tokens"],
        "cost": str(round(cost, 6)) if has_cost else None,
        "projected_cost": projected,
        "failures_by_reason": failures,
        "endpoints": per_endpoint,
    }


def generation_runs_progress(*, runs: list[GenerationRun]) -> dict[int, dict[str, Any]]:
    """Counts, tokens and cost for a page of runs in one query (the list pages)."""
    rows = (
        GenerationSlot.objects.filter(runs__in=[run.pk for run in runs])
        .order_by()
        .values("runs", "endpoint_id", "endpoint__price_per_1k_prompt_tokens", "endpoint__price_per_1k_completion_tokens")
        .annotate(
            succeeded=Count("id", filter=Q(status=SlotStatus.SUCCEEDED)),
            failed=Count("id", filter=Q(status=SlotStatus.FAILED)),
            prompt_tokens=Sum("generation__prompt_tokens"),
            completion_tokens=Sum("generation__completion_tokens"),
        )
    )
    acc: dict[int, dict[str, Any]] = {
        run.pk: {"succeeded": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": Decimal(0),
                 "cost_known": True}
        for run in runs
    }
    for row in rows:
        entry = acc[row["runs"]]
        for key in ("succeeded", "failed", "prompt_tokens", "completion_tokens"):
            entry[key] += row[key] or 0
        prompt_cost = _cost(row["prompt_tokens"], row["endpoint__price_per_1k_prompt_tokens"])
        completion_cost = _cost(row["completion_tokens"], row["endpoint__price_per_1k_completion_tokens"])
        if prompt_cost is None and completion_cost is None:
            entry["cost_known"] = False
        else:
            entry["cost"] += (prompt_cost or 0) + (completion_cost or 0)
    progress = {}
    for run in runs:
        entry = acc[run.pk]
        total = run.total
        finished = entry["succeeded"] + entry["failed"]
        progress[run.pk] = {
            "total": total,
            "succeeded": entry["succeeded"],
            "failed": entry["failed"],
            "pending": max(0, total - finished),
            "percent": round(100 * finished / total) if total else 0,
            "succeeded_percent": round(100 * entry["succeeded"] / total) if total else 0,
            "failed_percent": round(100 * entry["failed"] / total) if total else 0,
            "prompt_tokens": entry["prompt_tokens"],
            "completion_tokens": entry["completion_tokens"],
            "cost": str(round(entry["cost"], 6)) if entry["cost_known"] and finished else None,
            "projected_cost": None,
        }
    return progress


def generation_run_outputs(*, run: GenerationRun, status: str | None = None) -> QuerySet[GenerationSlot]:
    slots = (
        GenerationSlot.objects.filter(runs=run)
        .select_related("endpoint", "generation")
        .annotate(prompt_excerpt=Substr("prompt__text", 1, 300))
        .order_by("pk")
    )
    if status in SlotStatus.values:
        slots = slots.filter(status=status)
    return slots


# --- sampling plans --------------------------------------------------------------------------


def sampling_plans_for_project(*, project) -> QuerySet[SamplingPlan]:  # type: ignore[no-untyped-def]
    return SamplingPlan.objects.filter(project=project).select_related("created_by").order_by("-created_at", "-id")


def plan_executions(*, plan: SamplingPlan) -> QuerySet[PlanExecution]:
    return plan.executions.select_related("created_by").order_by("-created_at", "-id")


def latest_executions(*, plans: list[SamplingPlan]) -> dict[int, PlanExecution]:
    """Each plan's most recent execution, in one query (DISTINCT ON)."""
    latest = (
        PlanExecution.objects.filter(plan__in=[plan.pk for plan in plans])
        .order_by("plan_id", "-created_at", "-id")
        .distinct("plan_id")
    )
    return {execution.plan_id: execution for execution in latest}


def plan_candidates_queryset(*, project, config: dict[str, Any]) -> QuerySet[Generation]:  # type: ignore[no-untyped-def]
    generations = Generation.objects.filter(project=project)
    if config.get("models"):
        generations = generations.filter(model_name__in=config["models"])
    if config.get("generation_source"):
        generations = generations.filter(source=config["generation_source"])
    if config.get("generation_run"):
        generations = generations.filter(sampling_slot__runs=config["generation_run"])
    if config.get("prompt_filter"):
        generations = generations.filter(metadata_filter_q(config["prompt_filter"], prefix="prompt__"))
    return generations


def generations_by_prompt(*, project, config: dict[str, Any]) -> dict[int, list[tuple[int, str]]]:  # type: ignore[no-untyped-def]
    grouped: dict[int, list[tuple[int, str]]] = defaultdict(list)
    rows = plan_candidates_queryset(project=project, config=config).order_by().values_list("pk", "prompt_id", "model_name")
    for pk, prompt_id, model_name in rows.iterator(chunk_size=50_000):
        grouped[prompt_id].append((pk, model_name))
    return dict(grouped)


BUILTIN_STRATA = ("model", "length_bucket", "generation_source")


@dataclass(frozen=True)
class StratifiedCandidate:
    generation_id: int
    prompt_id: int
    stratum: tuple[str, ...]


def stratified_candidates(*, project, config: dict[str, Any]) -> list[StratifiedCandidate]:  # type: ignore[no-untyped-def]
    """Candidate generations with their stratum: a tuple of one value per key in config["strata"].

    Built-in keys: model, length_bucket (short < 500 characters <= medium < 2000 <= long),
    generation_source (imported / generated). Any other key is read from the generation's
    metadata, then the prompt's (AlpacaEval's "source" lives on the prompt).
    """
    keys: list[str] = list(config.get("strata") or ["model"])
    generations = plan_candidates_queryset(project=project, config=config).order_by()
    fields = ["pk", "prompt_id"]
    annotations: dict[str, Any] = {}
    for position, key in enumerate(keys):
        name = f"_s{position}"
        if key == "model":
            fields.append("model_name")
        elif key == "length_bucket":
            annotations[name] = Length("text")
            fields.append(name)
        elif key == "generation_source":
            fields.append("source")
        else:
            annotations[name] = Coalesce(KeyTextTransform(key, "metadata"), KeyTextTransform(key, "prompt__metadata"))
            fields.append(name)
    rows = generations.annotate(**annotations).values_list(*fields)
    candidates = []
    for row in rows.iterator(chunk_size=50_000):
        values = []
        for key, value in zip(keys, row[2:], strict=True):
            if key == "length_bucket":
                values.append(length_bucket(value))
            else:
                values.append(str(value) if value is not None else NO_VALUE)
        candidates.append(StratifiedCandidate(row[0], row[1], tuple(values)))
    return candidates


def pairwise_question_ids(*, project) -> list[str]:  # type: ignore[no-untyped-def]
    return [q["id"] for q in project.questions or [] if isinstance(q, dict) and q.get("type") == "pairwise"]


def pairwise_votes(*, project) -> list[Vote]:  # type: ignore[no-untyped-def]
    """Submitted pairwise answers on two-response items, as votes between the models shown.

    "a" is the response at display position 0. "tie" and "both_bad" carry no preference
    and count as ties. Surplus annotations (not counted for the item) are left out.
    """
    question_ids = pairwise_question_ids(project=project)
    if not question_ids:
        return []
    answers = Annotation.objects.filter(project=project, surplus=False, item__kind=ItemKind.PAIR).values_list(
        "item_id", "answers"
    )
    by_item: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item_id, answer in answers.iterator(chunk_size=20_000):
        if isinstance(answer, dict):
            by_item[item_id].append(answer)
    if not by_item:
        return []
    models: dict[int, dict[int, str]] = defaultdict(dict)
    links = ItemGeneration.objects.filter(item__project=project, item__kind=ItemKind.PAIR, item_id__in=list(by_item))
    for item_id, position, model_name in links.values_list("item_id", "position", "generation__model_name"):
        models[item_id][position] = model_name
    votes = []
    for item_id, item_answers in by_item.items():
        shown = models.get(item_id, {})
        if 0 not in shown or 1 not in shown:
            continue
        for answer in item_answers:
            for question_id in question_ids:
                value = answer.get(question_id)
                choice = value.get("choice") if isinstance(value, dict) else None
                if choice in ("a", "b"):
                    votes.append(Vote(shown[0], shown[1], choice))
                elif choice in ("tie", "both_bad"):
                    votes.append(Vote(shown[0], shown[1], "tie"))
    return votes


def existing_generation_groups(*, project, kind: str) -> set[frozenset[int]]:  # type: ignore[no-untyped-def]
    """Generation sets of the project's existing items of `kind` (order ignored)."""
    groups: dict[int, set[int]] = defaultdict(set)
    links = ItemGeneration.objects.filter(item__project=project, item__kind=kind).values_list("item_id", "generation_id")
    for item_id, generation_id in links.iterator(chunk_size=50_000):
        groups[item_id].add(generation_id)
    return {frozenset(group) for group in groups.values()}


def existing_item_hashes(*, project, hashes: list[str]) -> set[str]:  # type: ignore[no-untyped-def]
    found: set[str] = set()
    for start in range(0, len(hashes), 5_000):
        chunk = hashes[start : start + 5_000]
        found.update(Item.objects.filter(project=project, content_hash__in=chunk).values_list("content_hash", flat=True))
    return found


def open_item_count(*, project) -> int:  # type: ignore[no-untyped-def]
    """Open, non-gold items: what a continuous plan keeps at its target."""
    return Item.objects.filter(project=project, state=ItemState.OPEN, is_gold=False).count()


def gold_pool(*, project) -> QuerySet[Item]:  # type: ignore[no-untyped-def]
    return Item.objects.filter(project=project, is_gold=True, state=ItemState.OPEN)
