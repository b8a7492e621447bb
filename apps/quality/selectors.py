"""Reads of the quality app. Pages and APIs read precomputed rows; nothing here computes
over all annotations.

For the annotator workspace (the quiz itself is apps.quality.qualification):
    gold_feedback(annotation)         → GoldFeedback after a training item, or None
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Annotation, Flag, Review, ReviewDecision
from apps.core.rendering import render_markdown
from apps.items.models import Item
from apps.quality.display import answer_text, response_labels
from apps.quality.gold import GoldRules, score_answers
from apps.quality.models import (
    AggregateSource,
    AnnotatorScore,
    GoldNote,
    ItemAggregate,
    QualitySnapshot,
    SuspensionEvent,
)
from apps.quality.recompute import settings_for

# --- training feedback ---------------------------------------------------------------------


@dataclass
class GoldFeedback:
    item_id: int
    score: float
    passed: bool
    questions: list[dict[str, Any]] = field(default_factory=list)
    explanation_html: str = ""
    guideline_excerpt_html: str = ""


_WORD = re.compile(r"[a-z0-9]{4,}")


def guideline_excerpt(text: str, questions: list[dict[str, Any]], limit: int = 1200) -> str:
    """The guideline section (split at markdown headings) that best matches the questions' words."""
    if not text.strip():
        return ""
    sections: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not sections:
            sections.append(line)
        else:
            sections[-1] += "\n" + line
    wanted: set[str] = set()
    for question in questions:
        words = " ".join([question["id"].replace("_", " "), question.get("prompt", ""),
                          " ".join(o.get("label", "") for o in question.get("options", []) + question.get("labels", []))])
        wanted |= set(_WORD.findall(words.lower()))
    scored = [(len(wanted & set(_WORD.findall(section.lower()))), -i, section) for i, section in enumerate(sections)]
    best = max(scored)
    section = best[2] if best[0] > 0 else ""
    return section[:limit].strip()


def gold_feedback(annotation: Annotation) -> GoldFeedback | None:
    """After a gold item in training mode: the annotator's answer beside the expected one.

    None unless the project's training feedback is on and the item is gold; the
    workspace shows it only after the annotation was submitted.
    """
    item = annotation.item
    if not item.is_gold or not item.gold_answers:
        return None
    project = annotation.project
    settings = settings_for(project)
    if not settings.training_feedback:
        return None
    questions = {q["id"]: q for q in project.questions or []}
    scores = score_answers(project.questions or [], annotation.answers or {}, item.gold_answers, GoldRules.from_settings(settings))
    if not scores:
        return None
    generations = item.ordered_generations()
    labels = response_labels([g.pk for g in generations])
    texts = {g.pk: g.text for g in generations}
    rows: dict[str, dict[str, Any]] = {}
    for result in scores:
        question = questions[result.question]
        row = rows.setdefault(result.question, {
            "id": result.question, "prompt": question.get("prompt", result.question), "passed": True,
            "given": answer_text(question, (annotation.answers or {}).get(result.question), labels=labels, texts=texts,
                                 prompt_text=item.prompt.text),
            "expected": answer_text(question, item.gold_answers.get(result.question), labels=labels, texts=texts,
                                    prompt_text=item.prompt.text),
        })
        row["passed"] = row["passed"] and result.passed
    missed = [questions[qid] for qid, row in rows.items() if not row["passed"]] or list(questions.values())
    guidelines = project.current_guidelines()
    note = GoldNote.objects.filter(item=item).first()
    return GoldFeedback(
        item_id=item.pk,
        score=sum(s.score for s in scores) / len(scores),
        passed=all(s.passed for s in scores),
        questions=list(rows.values()),
        explanation_html=render_markdown(note.explanation) if note and note.explanation else "",
        guideline_excerpt_html=render_markdown(guideline_excerpt(guidelines.text, missed)) if guidelines else "",
    )


# --- dashboard -------------------------------------------------------------------------


def snapshot_for(project) -> QualitySnapshot | None:  # type: ignore[no-untyped-def]
    return QualitySnapshot.objects.filter(project=project).first()


def chart_data(figures: dict[str, Any]) -> dict[str, Any]:
    """The slice of the snapshot the dashboard's charts draw (kept small: it is inlined as JSON)."""
    questions = figures.get("questions", [])
    return {
        "progress": figures.get("progress", {"days": [], "annotations": [], "items_done": []}),
        "agreement": [{"id": q["id"], "alpha": q.get("alpha"), "percent": q.get("percent_agreement"),
                       "kappa": q.get("fleiss_kappa"), "span_f1": q.get("span_f1")} for q in questions],
        "distributions": [{"id": q["id"], **q.get("distribution", {})} for q in questions
                          if q.get("distribution", {}).get("labels")],
        "leaderboards": figures.get("leaderboards", []),
        "position_bias": figures.get("position_bias", []),
    }


ANNOTATOR_ORDERINGS = {
    "annotations": "-annotations", "gold": "gold_accuracy", "agreement": "agreement", "time": "median_time_ms",
    "fast": "-too_fast_share", "skips": "-skip_rate", "flags": "-flags",
}


def annotator_table(project, *, order: str = "annotations") -> QuerySet[AnnotatorScore]:  # type: ignore[no-untyped-def]
    """Annotator scores with each annotator's membership status (suspended, qualified)."""
    ordering = ANNOTATOR_ORDERINGS.get(order, "-annotations")
    expression = F(ordering.lstrip("-"))
    expression = expression.desc(nulls_last=True) if ordering.startswith("-") else expression.asc(nulls_last=True)
    member = ProjectMembership.objects.filter(project=project, user_id=OuterRef("annotator_id"))
    return (
        AnnotatorScore.objects.filter(project=project).select_related("annotator")
        .annotate(suspended_at=Subquery(member.values("suspended_at")[:1]),
                  suspended_reason=Subquery(member.values("suspended_reason")[:1]),
                  role=Subquery(member.values("role")[:1]))
        .order_by(expression, "annotator_id")
    )


def notices_for(project) -> QuerySet[SuspensionEvent]:  # type: ignore[no-untyped-def]
    return SuspensionEvent.objects.filter(project=project, acknowledged_at__isnull=True).select_related("annotator").order_by("-created_at")


# --- review queues ------------------------------------------------------------------------

QUEUES = {
    "disagreements": "Annotators disagree",
    "low_confidence": "Low confidence after the last annotation",
    "flags": "Reported by annotators",
}


def review_queue(project, queue: str) -> QuerySet:  # type: ignore[no-untyped-def]
    """Items waiting for a reviewer in one queue, most urgent first (sliced by the caller)."""
    if queue == "flags":
        return (
            Item.objects.filter(project=project, flags__isnull=False, flags__resolved_at__isnull=True)
            .annotate(open_flags=Count("flags", filter=Q(flags__resolved_at__isnull=True)), last_flag=Max("flags__created_at"))
            .select_related("prompt").order_by("-last_flag", "id")
        )
    aggregates = ItemAggregate.objects.filter(project=project, reviewed=False).exclude(source=AggregateSource.GOLD)
    if queue == "low_confidence":
        aggregates = aggregates.filter(
            min_confidence__lt=project.confidence_threshold, annotation_count__gte=F("item__required_annotations")
        ).order_by("min_confidence", "item_id")
    else:
        aggregates = aggregates.filter(disagreement=True).order_by("agreement", "item_id")
    return aggregates.select_related("item__prompt")


def queue_counts(project) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {name: review_queue(project, name).order_by().count() for name in QUEUES}


def review_item_detail(project, item: Item, *, reveal_gold: bool = False) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Everything a reviewer sees for one item: responses, every answer side by side, the aggregate.

    A gold item's aggregate *is* its gold answer: it is left out unless `reveal_gold`
    (managers), because reviewers also annotate.
    """
    generations = item.ordered_generations()
    labels = response_labels([g.pk for g in generations])
    texts = {g.pk: g.text for g in generations}
    annotations = list(
        Annotation.objects.filter(item=item, project=project).select_related("annotator").order_by("submitted_at", "id")
    )
    suspended = set(
        ProjectMembership.objects.filter(project=project, suspended_at__isnull=False,
                                         user_id__in=[a.annotator_id for a in annotations]).values_list("user_id", flat=True)
    )
    reviews = list(Review.objects.filter(item=item).select_related("reviewer").order_by("-created_at", "-id"))
    latest_on: dict[int, str] = {}
    for review in reversed(reviews):
        if review.annotation_id:
            latest_on[review.annotation_id] = review.decision
    columns = []
    for annotation in annotations:
        status = "counted"
        if annotation.surplus:
            status = "surplus"
        elif annotation.annotator_id in suspended:
            status = "suspended"
        elif latest_on.get(annotation.pk) == ReviewDecision.REJECT:
            status = "rejected"
        columns.append({"annotation": annotation, "status": status})
    aggregate = ItemAggregate.objects.filter(item=item).first()
    if aggregate is not None and aggregate.source == AggregateSource.GOLD and not reveal_gold:
        aggregate = None
    rows = []
    for question in project.questions or []:
        qid = question["id"]
        confidence = aggregate.confidence.get(qid) if aggregate else None
        rows.append({
            "question": question,
            "cells": [answer_text(question, (c["annotation"].answers or {}).get(qid), labels=labels, texts=texts,
                                  prompt_text=item.prompt.text) for c in columns],
            "aggregate": answer_text(question, aggregate.answers.get(qid), labels=labels, texts=texts,
                                     prompt_text=item.prompt.text) if aggregate else "—",
            "method": ((aggregate.details.get(qid) or {}).get("method") if aggregate and isinstance(aggregate.details.get(qid), dict) else None),
            "confidence": confidence,
        })
    return {
        "item": item,
        "responses": [{"id": g.pk, "label": labels[g.pk], "model": g.model_name, "text": g.text} for g in generations],
        "columns": columns,
        "rows": rows,
        "aggregate": aggregate,
        "flags": list(Flag.objects.filter(item=item).select_related("annotator").order_by("-created_at")),
        "reviews": reviews,
    }
