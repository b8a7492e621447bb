"""The full recompute of a project: aggregates, agreement, annotator scores, leaderboards,
dynamic overlap and automatic suspension. Run by Celery (apps.quality.tasks).

Reads every annotation once (apps.quality.loading), works on vectors, and writes
its tables in bulk, so a million annotations take seconds rather than minutes.

pandas, numpy, scipy and crowd-kit (~200 MB together) are imported inside the functions
that use them: this module is imported by every web and Celery process (through
`settings_for` and the services), most of which never recompute.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Max

from apps.annotations.models import Annotation
from apps.quality.gold import GoldRules
from apps.quality.models import QualitySettings

if TYPE_CHECKING:
    import pandas as pd

    from apps.quality.aggregation import QuestionResult
    from apps.quality.loading import ProjectData

logger = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


def settings_for(project) -> QualitySettings:  # type: ignore[no-untyped-def]
    return QualitySettings.objects.filter(project=project).first() or QualitySettings(project=project)


def project_recompute(*, project, progress: Progress | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Recompute everything for the project and return the dashboard figures (also stored by the caller).

    Item aggregates and annotator scores are written in one transaction, so pages
    never see half of a run; suspensions are applied afterwards through the service.
    """
    # The run allocates millions of small dicts and lists and frees them all at the end; the
    # cyclic garbage collector would rescan the growing heap again and again (4-5x slower).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _project_recompute(project=project, progress=progress)
    finally:
        if was_enabled:
            gc.enable()


def _project_recompute(*, project, progress: Progress | None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from apps.quality.itemagg import build_rows, question_results, write_rows
    from apps.quality.loading import load_project_data
    from apps.quality.overlap import overlap_candidates, overlap_raise
    from apps.quality.scores import compute_scores, gold_results, suspension_decisions, write_scores
    from apps.quality.services import annotator_suspend  # services import this module

    report = progress or (lambda stage, percent: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    questions = list(project.questions or [])
    settings = settings_for(project)
    rules = GoldRules.from_settings(settings)
    last_id = Annotation.objects.filter(project=project).aggregate(m=Max("id"))["m"] or 0
    report("Loading annotations", 5)
    data = load_project_data(project, questions)
    lap("load")
    report("Agreement and aggregation", 30)
    results = question_results(questions, data, rules=rules, use_ds=True)
    lap("aggregate")
    rows = build_rows(questions, data, results, rules=rules)
    lap("items")
    report("Annotator scores", 60)
    gold = gold_results(project, questions, data.gold, rules)
    table = compute_scores(project, data, results, gold, tolerance=rules.rating_tolerance)
    lap("scores")
    report("Saving", 75)
    with transaction.atomic():
        write_rows(project.pk, rows, replace_all=True)
        lap("write_aggregates")
        write_scores(project, table)
        candidates = overlap_candidates(project, rows, data.items)
        raised = overlap_raise(project, candidates)
        lap("write_overlap")
    lap("commit")
    report("Leaderboards", 85)
    leaderboards, position, length = pairwise_figures(questions, data, results)
    lap("leaderboards")
    suspended = []
    for decision in suspension_decisions(project, table, settings):
        if annotator_suspend(project=project, annotator_id=decision.annotator_id, reason=decision.reason,
                             automatic=True, metrics=decision.metrics, schedule=False):
            suspended.append(decision.annotator_id)
    queues = _queue_counts(project, rows, data.items, {item_id for item_id, _ in candidates})
    base = data.base
    items_total = len(data.items) if data.items is not None else 0
    figures = {
        "annotations": int(len(base)),
        "annotations_used": int((~base["excluded"]).sum()),
        "excluded_annotations": int(base["excluded"].sum()),
        "items": items_total,
        "items_annotated": int(base["item_id"].nunique()),
        "items_complete": int(sum(1 for row in rows.values() if row["annotation_count"] >= project.min_annotations)),
        "gold_items": int(data.items["is_gold"].astype(bool).sum()) if items_total else 0,
        "annotators": int(base["annotator_id"].nunique()),
        "suspended_now": suspended,
        "overlap_raised": raised,
        # Free text has no agreement or aggregate to show.
        "questions": [r.figures for r in results if r.question["type"] not in ("text", "rewrite")],
        "progress": progress_series(base, project.min_annotations),
        "leaderboards": leaderboards,
        "position_bias": position,
        "length_bias": length,
        "last_annotation_id": int(last_id),
        "queues": queues,
    }
    lap("figures")
    figures["timings"] = timings
    logger.info("quality recompute of project %s: %s", project.pk, timings)
    return figures


def _queue_counts(project, rows: dict[int, dict[str, Any]], items: pd.DataFrame | None, raised: set[int]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Review-queue sizes from the rows just written (the same rules as selectors.review_queue,
    without three counts over the whole project)."""
    from apps.annotations.models import Flag

    required = items.set_index("id")["required"].to_dict() if items is not None and not items.empty else {}
    threshold = project.confidence_threshold
    open_rows = [(item_id, row) for item_id, row in rows.items() if not row["reviewed"] and row["source"] != "gold"]
    return {
        "disagreements": sum(1 for _, row in open_rows if row["disagreement"]),
        "low_confidence": sum(
            1 for item_id, row in open_rows
            if row["min_confidence"] is not None and row["min_confidence"] < threshold
            and item_id not in raised and row["annotation_count"] >= required.get(item_id, 0)
        ),
        "flags": Flag.objects.filter(project=project, resolved_at__isnull=True).values("item_id").distinct().count(),
    }


def progress_series(base: pd.DataFrame, min_annotations: int) -> dict[str, list]:
    """Annotations per day, and items that reached min_annotations counted annotations per day."""
    import numpy as np

    if base.empty:
        return {"days": [], "annotations": [], "items_done": []}
    day = (base["submitted"] // 86400).astype(np.int64)
    per_day = day.value_counts().sort_index()
    valid = base.loc[~base["excluded"], ["item_id", "submitted"]].sort_values(["item_id", "submitted"])
    nth = valid.groupby("item_id").cumcount()
    done = (valid.loc[nth == min_annotations - 1, "submitted"] // 86400).astype(np.int64).value_counts()
    days = range(int(per_day.index.min()), int(per_day.index.max()) + 1)
    return {
        "days": [datetime.fromtimestamp(d * 86400, tz=UTC).strftime("%Y-%m-%d") for d in days],
        "annotations": [int(per_day.get(d, 0)) for d in days],
        "items_done": [int(done.get(d, 0)) for d in days],
    }


def pairwise_figures(questions: list[dict[str, Any]], data: ProjectData, results: list[QuestionResult]) -> tuple[list, list, list]:
    """Leaderboards (pairwise and ranking questions), position bias and length bias (pairwise)."""
    import numpy as np

    from apps.quality import leaderboard as lb

    leaderboards, position, length = [], [], []
    responses = data.responses
    if responses is None or responses.empty:
        return leaderboards, position, length
    base = data.base.loc[~data.base["excluded"], ["id", "item_id"]]
    model_of = dict(zip(responses["generation_id"], responses["model"], strict=True))
    models = sorted(set(responses["model"].astype(str)))
    model_index = {m: i for i, m in enumerate(models)}
    for question in questions:
        frame = data.values.get(question["id"])
        if frame is None or frame.empty:
            continue
        votes = frame.merge(base, on="id")
        if question["type"] == "pairwise":
            votes = votes[votes["value"].isin(["a", "b", "tie"])]
            # The model and length shown at positions A and B, looked up by item without a merge.
            first = responses[responses["position"] == 0].set_index("item_id")
            second = responses[responses["position"] == 1].set_index("item_id")
            at_first = first.index.get_indexer(votes["item_id"])
            at_second = second.index.get_indexer(votes["item_id"])
            keep = (at_first >= 0) & (at_second >= 0)
            if not keep.any():
                continue
            votes, at_first, at_second = votes[keep], at_first[keep], at_second[keep]
            outcome = votes["value"].map({"a": 1.0, "b": 0.0, "tie": 0.5}).to_numpy()
            left = first["model"].map(model_index).to_numpy()[at_first]
            right = second["model"].map(model_index).to_numpy()[at_second]
            votes = votes.assign(length0=first["length"].to_numpy()[at_first], length1=second["length"].to_numpy()[at_second])
            board = lb.leaderboard_from_arrays(models, left, right, outcome)
            a_wins, b_wins = int((votes["value"] == "a").sum()), int((votes["value"] == "b").sum())
            position.append({"question": question["id"], **lb.position_bias(a_wins, b_wins)})
            decisive = votes[votes["value"].isin(["a", "b"]) & (votes["length0"] != votes["length1"])]
            first_longer = decisive["length0"] > decisive["length1"]
            longer_won = np.where(decisive["value"] == "a", first_longer, ~first_longer)
            length.append({"question": question["id"], **lb.length_bias(int(longer_won.sum()), int((~longer_won).sum()))})
        elif question["type"] == "ranking":
            left_list, right_list = [], []
            for order in votes["value"]:
                names = [model_index.get(str(model_of.get(int(g)))) for g in order]
                for i in range(len(names)):
                    for j in range(i + 1, len(names)):
                        if names[i] is not None and names[j] is not None:
                            left_list.append(names[i])
                            right_list.append(names[j])
            board = lb.leaderboard_from_arrays(models, np.array(left_list, dtype=np.int64),
                                               np.array(right_list, dtype=np.int64), np.ones(len(left_list)))
        else:
            continue
        board["models"] = [m for m in board["models"] if m["wins"] + m["losses"] + m["ties"] > 0]
        leaderboards.append({"question": question["id"], "prompt": question.get("prompt", ""), **board})
    return leaderboards, position, length


def items_refresh(*, project, item_ids: list[int]) -> int:  # type: ignore[no-untyped-def]
    """Recompute the aggregates of a few items (majority vote) and apply dynamic overlap to them.

    Returns how many items got one more required annotation. Called after a
    submission or a review so queues and the assignment engine react at once; the
    next full recompute refines the answers with Dawid–Skene.
    """
    from apps.quality.itemagg import build_rows, question_results, write_rows
    from apps.quality.loading import load_project_data
    from apps.quality.overlap import overlap_candidates, overlap_raise

    questions = list(project.questions or [])
    rules = GoldRules.from_settings(settings_for(project))
    data = load_project_data(project, questions, item_ids=item_ids)
    if data.base.empty:
        return 0
    results = question_results(questions, data, rules=rules, use_ds=False)
    rows = build_rows(questions, data, results, rules=rules)
    with transaction.atomic():
        write_rows(project.pk, rows, replace_all=False)
        return overlap_raise(project, overlap_candidates(project, rows, data.items))

