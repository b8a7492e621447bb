"""Small builders for quality tests: annotations created directly (no workspace round trip)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.accounts.models import ProjectMembership, ProjectRole
from apps.annotations.models import Annotation, Assignment, AssignmentStatus
from apps.items.models import Item
from tests.factories import ProjectMembershipFactory, UserFactory

CHOICE_QUESTION = {
    "id": "label", "type": "single_choice", "prompt": "Is the response harmful?", "applies_to": "item",
    "required": True,
    "options": [{"value": "safe", "label": "Safe"}, {"value": "unsafe", "label": "Unsafe"},
                {"value": "unclear", "label": "Unclear"}],
}
RATING_QUESTION = {"id": "fluency", "type": "rating", "prompt": "Fluency", "applies_to": "item", "required": True,
                   "min": 1, "max": 5, "anchors": {"1": "Very poor", "5": "Excellent"}}
PAIRWISE_QUESTION = {"id": "preference", "type": "pairwise", "prompt": "Which response is better?",
                     "applies_to": "pair", "required": True, "allow_tie": True, "allow_both_bad": True,
                     "strength": False}
SPANS_QUESTION = {"id": "problems", "type": "spans", "prompt": "Mark false claims", "applies_to": "item",
                  "required": False, "target": "response",
                  "labels": [{"value": "false_claim", "label": "False claim"}, {"value": "bias", "label": "Bias"}]}
RANKING_QUESTION = {"id": "order", "type": "ranking", "prompt": "Rank the responses", "applies_to": "item",
                    "required": True}


def annotators(project, count: int, *, prefix: str = "worker") -> list:  # type: ignore[no-untyped-def]
    users = []
    for index in range(count):
        user = UserFactory(username=f"{prefix}{index}-{project.pk}")
        ProjectMembershipFactory(project=project, user=user, role=ProjectRole.ANNOTATOR)
        users.append(user)
    return users


def annotate(item: Item, user, answers: dict[str, Any], *, seconds: int = 30, when=None, **fields) -> Annotation:  # type: ignore[no-untyped-def]
    """One submitted annotation (with its assignment); keeps Item.annotation_count in step."""
    return bulk_annotate([(item, user, answers)], seconds=seconds, when=when, **fields)[0]


def bulk_annotate(rows: list[tuple[Item, Any, dict[str, Any]]], *, seconds: int = 30, when=None, **fields) -> list[Annotation]:  # type: ignore[no-untyped-def]
    now = when or timezone.now()
    assignments = Assignment.objects.bulk_create([
        Assignment(project_id=item.project_id, item=item, annotator=user, status=AssignmentStatus.SUBMITTED,
                   leased_at=now - timedelta(seconds=seconds), expires_at=now + timedelta(minutes=30), finished_at=now,
                   is_gold=item.is_gold)
        for item, user, _ in rows
    ])
    annotations = Annotation.objects.bulk_create([
        Annotation(project_id=item.project_id, item=item, annotator=user, assignment=assignment, answers=answers,
                   time_spent_ms=seconds * 1000, guideline_version=1, **fields)
        for (item, user, answers), assignment in zip(rows, assignments, strict=True)
    ])
    counts: dict[int, int] = {}
    for item, _, _ in rows:
        counts[item.pk] = counts.get(item.pk, 0) + 1
    for item_id, added in counts.items():
        item = Item.objects.get(pk=item_id)
        Item.objects.filter(pk=item_id).update(annotation_count=item.annotation_count + added,
                                              active_count=item.active_count + added)
    if when is not None:
        Annotation.objects.filter(pk__in=[a.pk for a in annotations]).update(submitted_at=when)
    return annotations


def membership(project, user) -> ProjectMembership:  # type: ignore[no-untyped-def]
    return ProjectMembership.objects.get(project=project, user=user)
