"""Annotator scores (gold accuracy, agreement with the leave-one-out consensus, speed, skips,
flags) and the automatic-suspension rules that read them.

The rules judge only work submitted since an annotator was last reinstated, so
a researcher's reinstatement is not undone by the same old evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.db.models import Count
from django.utils import timezone

from apps.accounts.models import ProjectMembership, ProjectRole
from apps.annotations.models import Annotation, Flag, Skip
from apps.quality.aggregation import QuestionResult
from apps.quality.gold import GoldRules, score_answers
from apps.quality.loading import ProjectData
from apps.quality.models import AnnotatorScore, SuspensionEvent, SuspensionKind


def gold_results(project, questions: list[dict[str, Any]], gold: dict[int, dict], rules: GoldRules) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """One row per scored gold annotation: id, annotator_id, submitted, passed_share, score."""
    columns = ["id", "annotator_id", "submitted", "passed_share", "score"]
    if not gold:
        return pd.DataFrame(columns=columns)
    rows = []
    annotations = Annotation.objects.filter(project=project, surplus=False, item_id__in=list(gold)).values_list(
        "id", "annotator_id", "item_id", "answers", "submitted_at"
    )
    for annotation_id, annotator_id, item_id, answers, submitted_at in annotations.iterator(chunk_size=5000):
        scores = score_answers(questions, answers or {}, gold.get(item_id), rules)
        if scores:
            rows.append((annotation_id, annotator_id, submitted_at.timestamp(),
                         sum(s.passed for s in scores) / len(scores), sum(s.score for s in scores) / len(scores)))
    return pd.DataFrame(rows, columns=columns)


def excluded_agreement(data: ProjectData, results: list[QuestionResult], tolerance: int) -> pd.Series:
    """Agreement of set-aside votes with the consensus they were left out of (choices and ratings)."""
    base = data.base[["id", "item_id", "excluded"]]
    parts = []
    for result in results:
        question = result.question
        frame = data.values.get(question["id"])
        if question["type"] not in ("single_choice", "pairwise", "rating") or frame is None or result.units.empty:
            continue
        votes = frame.merge(base, on="id")
        votes = votes[votes["excluded"]]
        if votes.empty:
            continue
        merged = votes.merge(result.units[["item_id", "response", "answer"]], on=["item_id", "response"])
        if merged.empty:
            continue
        if question["type"] == "rating":
            agree = (np.abs(merged["value"].astype(float) - merged["answer"].astype(float)) <= max(tolerance, 0.5)).astype(float)
        elif question["type"] == "pairwise":
            agree = (merged["value"] == merged["answer"].map(lambda a: a.get("choice"))).astype(float)
        else:
            agree = (merged["value"] == merged["answer"]).astype(float)
        parts.append(pd.Series(agree.to_numpy(), index=merged["id"].to_numpy()))
    return pd.concat(parts) if parts else pd.Series(dtype=float)


def _reinstated_at(project) -> dict[int, float]:  # type: ignore[no-untyped-def]
    events = SuspensionEvent.objects.filter(project=project, kind=SuspensionKind.REINSTATED).values_list(
        "annotator_id", "created_at"
    )
    latest: dict[int, float] = {}
    for annotator_id, created_at in events:
        latest[annotator_id] = max(latest.get(annotator_id, 0.0), created_at.timestamp())
    return latest


def compute_scores(project, data: ProjectData, results: list[QuestionResult], gold: pd.DataFrame, *, tolerance: int) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Per annotator: the table figures plus `w_*` figures over work since their last reinstatement."""
    base = data.base.copy()
    min_ms = project.min_seconds_per_item * 1000
    base["fast"] = base["too_fast"].astype(bool) | ((base["time_ms"] < min_ms) if min_ms else False)
    since = _reinstated_at(project)
    base["window"] = base["submitted"] > base["annotator_id"].map(since).fillna(-1.0)
    loo = pd.concat([r.loo for r in results if not r.loo.empty] + [excluded_agreement(data, results, tolerance)])
    loo_frame = pd.DataFrame({"id": loo.index.astype(np.int64), "agree": loo.to_numpy(dtype=float)})
    loo_frame = loo_frame.merge(base[["id", "annotator_id", "window"]], on="id")

    grouped = base.groupby("annotator_id")
    table = pd.DataFrame({
        "annotations": grouped.size(),
        "median_time_ms": grouped["time_ms"].median(),
        "too_fast": grouped["fast"].sum(),
        "w_annotations": grouped["window"].sum(),
        "w_too_fast": base[base["window"]].groupby("annotator_id")["fast"].sum(),
    })
    agreement = loo_frame.groupby("annotator_id")["agree"]
    table["agreement"] = agreement.mean()
    table["agreement_n"] = agreement.size()
    window_agreement = loo_frame[loo_frame["window"]].groupby("annotator_id")["agree"]
    table["w_agreement"] = window_agreement.mean()
    table["w_agreement_n"] = window_agreement.size()
    if not gold.empty:
        gold = gold.assign(window=gold["submitted"] > gold["annotator_id"].map(since).fillna(-1.0))
        by = gold.groupby("annotator_id")["passed_share"]
        table = table.join(pd.DataFrame({"gold_answered": by.size(), "gold_correct": by.sum()}), how="outer")
        window = gold[gold["window"]].groupby("annotator_id")["passed_share"]
        table = table.join(pd.DataFrame({"w_gold_answered": window.size(), "w_gold_correct": window.sum()}), how="left")
    for column in ("gold_answered", "gold_correct", "w_gold_answered", "w_gold_correct"):
        if column not in table:
            table[column] = 0.0
    skips = dict(Skip.objects.filter(assignment__project=project).values_list("assignment__annotator_id")
                 .annotate(n=Count("id")).values_list("assignment__annotator_id", "n"))
    flags = dict(Flag.objects.filter(project=project).values_list("annotator_id").annotate(n=Count("id"))
                 .values_list("annotator_id", "n"))
    index = table.index.union(pd.Index(list(skips) + list(flags), dtype=table.index.dtype))
    table = table.reindex(index)
    counts = ["annotations", "too_fast", "w_annotations", "w_too_fast", "agreement_n", "w_agreement_n",
              "gold_answered", "gold_correct", "w_gold_answered", "w_gold_correct"]
    table[counts] = table[counts].fillna(0)
    table["skips"] = table.index.map(lambda a: skips.get(a, 0))
    table["flags"] = table.index.map(lambda a: flags.get(a, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        table["gold_accuracy"] = np.where(table["gold_answered"] > 0, table["gold_correct"] / table["gold_answered"], np.nan)
        table["w_gold_accuracy"] = np.where(table["w_gold_answered"] > 0, table["w_gold_correct"] / table["w_gold_answered"], np.nan)
        table["too_fast_share"] = np.where(table["annotations"] > 0, table["too_fast"] / table["annotations"], np.nan)
        table["w_too_fast_share"] = np.where(table["w_annotations"] > 0, table["w_too_fast"] / table["w_annotations"], np.nan)
        seen = table["annotations"] + table["skips"]
        table["skip_rate"] = np.where(seen > 0, table["skips"] / seen, np.nan)
    table.index.name = "annotator_id"
    return table


def _num(value: Any, digits: int = 4) -> float | None:
    return None if value is None or value != value else round(float(value), digits)


def write_scores(project, table: pd.DataFrame) -> int:  # type: ignore[no-untyped-def]
    now = timezone.now()
    objects = [
        AnnotatorScore(
            project=project, annotator_id=int(annotator_id), annotations=int(row.annotations),
            gold_answered=int(row.gold_answered), gold_correct=float(row.gold_correct),
            gold_accuracy=_num(row.gold_accuracy), agreement=_num(row.agreement), agreement_n=int(row.agreement_n),
            median_time_ms=None if row.median_time_ms != row.median_time_ms else int(row.median_time_ms),
            too_fast=int(row.too_fast), too_fast_share=_num(row.too_fast_share), skips=int(row.skips),
            skip_rate=_num(row.skip_rate), flags=int(row.flags), computed_at=now,
        )
        for annotator_id, row in zip(table.index, table.itertuples(index=False), strict=True)
    ]
    fields = ["annotations", "gold_answered", "gold_correct", "gold_accuracy", "agreement", "agreement_n",
              "median_time_ms", "too_fast", "too_fast_share", "skips", "skip_rate", "flags", "computed_at"]
    AnnotatorScore.objects.bulk_create(
        objects, batch_size=1000, update_conflicts=True, unique_fields=["project", "annotator"], update_fields=fields
    )
    return len(objects)


@dataclass(frozen=True)
class SuspensionDecision:
    annotator_id: int
    reason: str
    metrics: dict[str, Any]


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def suspension_decisions(project, table: pd.DataFrame, settings) -> list[SuspensionDecision]:  # type: ignore[no-untyped-def]
    """Active annotators whose recent work breaks a threshold (each with enough evidence)."""
    if not settings.auto_suspend or table.empty:
        return []
    active = set(
        ProjectMembership.objects.filter(project=project, role=ProjectRole.ANNOTATOR, suspended_at__isnull=True)
        .values_list("user_id", flat=True)
    )
    decisions = []
    for annotator_id, row in zip(table.index, table.itertuples(index=False), strict=True):
        if int(annotator_id) not in active:
            continue
        reasons = []
        if (settings.min_gold_accuracy is not None and row.w_gold_answered >= settings.gold_min_answers
                and row.w_gold_accuracy < settings.min_gold_accuracy):
            reasons.append(f"gold accuracy {_pct(row.w_gold_accuracy)} on {int(row.w_gold_answered)} gold items "
                           f"is below {_pct(settings.min_gold_accuracy)}")
        if (settings.min_agreement is not None and row.w_agreement_n >= settings.agreement_min_answers
                and row.w_agreement < settings.min_agreement):
            reasons.append(f"agreement with other annotators {_pct(row.w_agreement)} on {int(row.w_agreement_n)} "
                           f"answers is below {_pct(settings.min_agreement)}")
        if (settings.max_too_fast_share is not None and row.w_annotations >= settings.too_fast_min_answers
                and row.w_too_fast_share > settings.max_too_fast_share):
            reasons.append(f"{_pct(row.w_too_fast_share)} of {int(row.w_annotations)} submissions were faster than "
                           f"plausible (limit {_pct(settings.max_too_fast_share)})")
        if reasons:
            metrics = {
                "gold_accuracy": _num(row.w_gold_accuracy), "gold_answered": int(row.w_gold_answered),
                "agreement": _num(row.w_agreement), "agreement_n": int(row.w_agreement_n),
                "too_fast_share": _num(row.w_too_fast_share), "annotations": int(row.w_annotations),
            }
            reason = "Automatically suspended: " + "; ".join(reasons) + "."
            decisions.append(SuspensionDecision(int(annotator_id), reason[:500], metrics))
    return decisions
