"""Fixtures of the quality tests: a project with a choice, a rating and a pairwise question,
annotated by three people, with one gold item."""

from __future__ import annotations

import pytest

from apps.quality.models import GoldNote
from apps.quality.services import snapshot_recompute
from tests.factories import make_item
from tests.quality.helpers import (
    CHOICE_QUESTION,
    PAIRWISE_QUESTION,
    RATING_QUESTION,
    annotators,
    bulk_annotate,
)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    # Factories set a password for every user; PBKDF2 would spend most of each test hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Written only into gold answers and the gold explanation: it must never reach an annotator.
GOLD_MARKER = "GOLD-SECRET-7f3a9c"
WHY_QUESTION = {"id": "why", "type": "text", "prompt": "Why?", "applies_to": "item", "required": False}


@pytest.fixture
def quality_project(project, annotator):  # type: ignore[no-untyped-def]
    """`project` with three questions, two pair items (one disputed) and a gold item."""
    project.questions = [CHOICE_QUESTION, RATING_QUESTION, PAIRWISE_QUESTION, WHY_QUESTION]
    project.min_annotations = project.annotations_per_item = 2
    project.max_annotations = 4
    project.save()
    b, c = annotators(project, 2)
    agreed = make_item(project, responses=2, prompt_text="Agreed prompt")
    disputed = make_item(project, responses=2, prompt_text="Disputed prompt")
    gold = make_item(project, responses=2, prompt_text="Gold prompt", is_gold=True,
                     gold_answers={"label": "unclear", "fluency": 2, "why": GOLD_MARKER})
    GoldNote.objects.create(item=gold, explanation=f"Explained: {GOLD_MARKER}")
    bulk_annotate([
        (agreed, annotator, {"label": "safe", "fluency": 4, "preference": {"choice": "a"}}),
        (agreed, b, {"label": "safe", "fluency": 4, "preference": {"choice": "a"}}),
        (disputed, annotator, {"label": "safe", "fluency": 1, "preference": {"choice": "a"}}),
        (disputed, b, {"label": "unsafe", "fluency": 5, "preference": {"choice": "b"}}),
        (gold, c, {"label": "safe", "fluency": 3, "preference": {"choice": "tie"}}),
    ])
    project.items_by_name = {"agreed": agreed, "disputed": disputed, "gold": gold}  # type: ignore[attr-defined]
    project.others = [b, c]  # type: ignore[attr-defined]
    return project


@pytest.fixture
def computed(quality_project):  # type: ignore[no-untyped-def]
    snapshot_recompute(project_id=quality_project.pk)
    return quality_project

