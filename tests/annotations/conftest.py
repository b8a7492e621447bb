"""Fixtures for the annotation tests: projects with every question type, annotators, items."""

from __future__ import annotations

import pytest

from apps.accounts.models import ProjectRole
from tests.factories import ProjectFactory, ProjectMembershipFactory, UserFactory, make_item

RATING = {"id": "overall", "type": "rating", "prompt": "Overall quality", "min": 1, "max": 5,
          "anchors": {"1": "Very poor", "5": "Excellent"}}
PAIRWISE = {"id": "preference", "type": "pairwise", "prompt": "Which response is better?", "strength": True}

ALL_TYPES = [
    {"id": "topic", "type": "single_choice", "prompt": "Topic", "shortcut": "q",
     "options": [{"value": "code", "label": "Code"}, {"value": "chat", "label": "Chat"}]},
    {"id": "issues", "type": "multi_choice", "prompt": "Problems", "required": False, "max_selected": 2,
     "options": [{"value": "bias", "label": "Bias"}, {"value": "false", "label": "False claim"},
                 {"value": "rude", "label": "Rude"}]},
    {"id": "fluency", "type": "rating", "prompt": "Fluency", "applies_to": "each_response", "min": 1, "max": 5},
    {"id": "preference", "type": "pairwise", "prompt": "Which is better?", "strength": True},
    {"id": "order", "type": "ranking", "prompt": "Rank them"},
    {"id": "why", "type": "text", "prompt": "Why?", "min_length": 5, "max_length": 50,
     "condition": {"question": "preference", "in": ["a", "b"]}},
    {"id": "fixed", "type": "rewrite", "prompt": "Correct the responses", "required": False, "max_length": 200},
    {"id": "marks", "type": "spans", "prompt": "Mark problems",
     "labels": [{"value": "harmful", "label": "Harmful", "key": "h"}, {"value": "false_claim", "label": "False claim"}]},
]


def normalised(questions):  # type: ignore[no-untyped-def]
    from apps.projects.schema import validate_schema

    return validate_schema(questions)


def add_annotator(project, username: str | None = None, **fields):  # type: ignore[no-untyped-def]
    user = UserFactory(**({"username": username} if username else {}))
    ProjectMembershipFactory(project=project, user=user, role=ProjectRole.ANNOTATOR, **fields)
    return user


@pytest.fixture
def rating_project(org, owner):  # type: ignore[no-untyped-def]
    return ProjectFactory(organization=org, created_by=owner, questions=normalised([RATING]),
                          annotations_per_item=2)


@pytest.fixture
def typed_project(org, owner):  # type: ignore[no-untyped-def]
    return ProjectFactory(organization=org, created_by=owner, questions=normalised(ALL_TYPES))


@pytest.fixture
def member(rating_project):  # type: ignore[no-untyped-def]
    """An annotator of rating_project who has read its guidelines."""
    return add_annotator(rating_project, "member", guidelines_seen_version=1)


def items(project, count: int, *, responses: int = 1, **fields):  # type: ignore[no-untyped-def]
    return [make_item(project, responses=responses, **fields) for _ in range(count)]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    # These tests create many users; real PBKDF2 rounds would dominate their run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
