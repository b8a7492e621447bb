"""The qualification quiz and training feedback as an annotator meets them, in Chromium."""

from __future__ import annotations

import pytest

from apps.annotations.models import Annotation
from apps.quality.models import GoldNote, QualitySettings
from tests.annotations.conftest import add_annotator, items
from tests.annotations.test_browser import annotate_url, wait_for_next_item
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_quiz_item_then_feedback_then_the_main_queue_by_keyboard(page, rating_project):
    QualitySettings.objects.create(project=rating_project, qualification_required=True, qualification_size=1,
                                   qualification_pass_mark=0.5, training_feedback=True, rating_tolerance=2,
                                   min_gold_accuracy=None)
    (real,) = items(rating_project, 1, required_annotations=1)
    (gold,) = items(rating_project, 1, is_gold=True, gold_answers={"overall": 4})
    GoldNote.objects.create(item=gold, explanation="A **four**: complete but a little long.")
    annotator = add_annotator(rating_project, "candidate", guidelines_seen_version=1)

    login(page, annotator)
    page.goto(annotate_url(rating_project))
    page.wait_for_selector("#ws-item[data-ready]")
    assert "Qualification quiz" in page.inner_text("[data-testid=quiz]")
    page.keyboard.press("2")  # two points off, within the tolerance of 2
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=training-feedback]")
    feedback = page.inner_text("[data-testid=training-feedback]")
    assert "this was a training item and your answer matches" in feedback
    assert "four" in page.inner_text(".gold-feedback .markdown")
    current = Annotation.objects.get().assignment_id
    page.keyboard.press("Enter")  # Continue
    wait_for_next_item(page, current)
    assert page.locator("[data-testid=quiz]").count() == 0  # passed: the main queue
    page.keyboard.press("5")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-no-work='done']")
    assert {a.item_id: a.surplus for a in Annotation.objects.all()} == {gold.pk: True, real.pk: False}
    assert not page.dialogs
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
