"""Fixtures for export tests: a project with every question type and realistic annotations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import ProjectRole
from apps.annotations.models import Annotation, Assignment, AssignmentStatus
from apps.items.models import Item
from apps.privacy.services import pii_scan_items
from apps.projects.schema import validate_answers, validate_schema
from tests.factories import ProjectMembershipFactory, UserFactory, make_item

QUESTIONS = [
    {"id": "preference", "type": "pairwise", "prompt": "Which response is better?", "strength": True},
    {"id": "quality", "type": "rating", "prompt": "Quality", "applies_to": "each_response", "min": 1, "max": 5},
    {"id": "verdict", "type": "single_choice", "prompt": "Acceptable?", "applies_to": "each_response",
     "options": [{"value": "good", "label": "Good"}, {"value": "bad", "label": "Bad"}]},
    {"id": "fix", "type": "rewrite", "prompt": "Correct the response", "required": False},
    {"id": "problems", "type": "spans", "prompt": "Mark problems", "required": False,
     "labels": [{"value": "harmful", "label": "Harmful"}, {"value": "false_claim", "label": "False claim"},
                {"value": "bias", "label": "Bias"}]},
    {"id": "why", "type": "text", "prompt": "Why?", "required": False},
]

EMAIL = "jane.doe@example.com"
PHONE = "+1 (415) 555-0132"
CARD = "4111 1111 1111 1111"
HARMFUL = "mix bleach and ammonia"


def annotate(item: Item, user, answers: dict, *, time_spent_ms: int = 30_000, guideline_version: int = 1,  # type: ignore[no-untyped-def]
             submitted_at=None, surplus: bool = False) -> Annotation:
    """A submitted annotation, validated against the project's schema like the real submit path."""
    generations = item.ordered_generations()
    cleaned = validate_answers(
        item.project.questions, answers, generation_ids=[g.pk for g in generations],
        texts={g.pk: g.text for g in generations}, prompt_text=item.prompt.text,
    )
    now = timezone.now()
    assignment = Assignment.objects.create(
        project=item.project, item=item, annotator=user, status=AssignmentStatus.SUBMITTED, leased_at=now,
        expires_at=now + timedelta(minutes=30), finished_at=now,
    )
    annotation = Annotation.objects.create(
        project=item.project, item=item, annotator=user, assignment=assignment, answers=cleaned,
        time_spent_ms=time_spent_ms, guideline_version=guideline_version, surplus=surplus,
    )
    if submitted_at is not None:
        Annotation.objects.filter(pk=annotation.pk).update(submitted_at=submitted_at)
    Item.objects.filter(pk=item.pk).update(annotation_count=item.annotation_count + 1)
    return annotation


def answers_for(item: Item, *, choice: str, ratings: tuple[int, int], verdicts=("good", "bad"), strength: int = 2,  # type: ignore[no-untyped-def]
                rewrite: str | None = None, spans: list | None = None, why: str = "") -> dict:
    a, b = item.ordered_generations()
    answers = {
        "preference": {"choice": choice, **({"strength": strength} if choice in ("a", "b") else {})},
        "quality": {str(a.pk): ratings[0], str(b.pk): ratings[1]},
        "verdict": {str(a.pk): verdicts[0], str(b.pk): verdicts[1]},
        "problems": spans or [],
    }
    if rewrite:
        answers["fix"] = {str(a.pk): rewrite}
    if why:
        answers["why"] = why
    return answers


@pytest.fixture(autouse=True)
def _fast_exports_settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    # Stored files go to a temporary folder; password hashing at full strength only slows fixtures.
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Dataset:
    project: object
    annotators: list
    items: list = field(default_factory=list)
    gold: Item | None = None
    flagged: Item | None = None
    harmful_item: Item | None = None
    pii_item: Item | None = None
    suspended: object = None


@pytest.fixture
def export_project(project):  # type: ignore[no-untyped-def]
    project.questions = validate_schema(QUESTIONS)
    project.dataset_license = "cc-by-4.0"
    project.save()
    return project


@pytest.fixture
def dataset(export_project, owner):  # type: ignore[no-untyped-def]
    """12 pair items x 3 annotators, plus a gold item, a flagged item and a suspended annotator."""
    from apps.annotations.models import Flag

    project = export_project
    people = [UserFactory(username=f"rater{i}", email=f"rater{i}@example.org") for i in range(3)]
    for person in people:
        ProjectMembershipFactory(project=project, user=person, role=ProjectRole.ANNOTATOR)
    suspended = UserFactory(username="suspended-rater")
    ProjectMembershipFactory(project=project, user=suspended, role=ProjectRole.ANNOTATOR, suspended_at=timezone.now())
    data = Dataset(project=project, annotators=people, suspended=suspended)
    for n in range(12):
        item = make_item(project, responses=2, prompt_text=f"Question {n}: how do I do task {n}?")
        data.items.append(item)
        a, b = item.ordered_generations()
        spans = None
        if n == 0:
            # Personal data in a response, the prompt and a rewrite.
            a.text = f"Write to {EMAIL} or call {PHONE}; pay with card {CARD}."
            a.save()
            item.prompt.text = f"My email is {EMAIL}, what now? (question {n})"
            item.prompt.save()
            data.pii_item = item
        if n == 1:
            b.text = f"Sure. To clean a sink you can {HARMFUL} for a stronger effect."
            b.save()
            start = b.text.index(HARMFUL)
            spans = [{"start": start, "end": start + len(HARMFUL), "label": "harmful", "generation": b.pk}]
            data.harmful_item = item
        choices = ["a", "a", "b"] if n % 3 else ["b", "b", "tie"]
        for person, choice in zip(people, choices, strict=True):
            rewrite = f"A careful answer to task {n}. Contact {EMAIL}." if n == 0 and person == people[0] else None
            annotate(item, person, answers_for(item, choice=choice, ratings=(5, 2) if choice == "a" else (2, 4),
                                               rewrite=rewrite, spans=spans if person == people[1] else None,
                                               why="=HYPERLINK(\"http://evil\")" if n == 2 else ""))
        annotate(item, suspended, answers_for(item, choice="b", ratings=(1, 5)))
    data.gold = make_item(project, responses=2, prompt_text="Gold question", is_gold=True)
    data.flagged = make_item(project, responses=2, prompt_text="Flagged question")
    for extra in (data.gold, data.flagged):
        for person in people:
            annotate(extra, person, answers_for(extra, choice="a", ratings=(5, 1)))
    Flag.objects.create(project=project, item=data.flagged, annotator=people[0], reason="offensive")
    # As after an import: the privacy app scans new items and stores the personal data it finds.
    pii_scan_items(item_ids=[i.pk for i in [*data.items, data.gold, data.flagged]])
    return data
