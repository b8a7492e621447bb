"""What annotators do, in a real Chromium: keyboard only, reloads, lost connections."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.annotations.models import Annotation, Flag, Skip
from apps.projects.models import GuidelineVersion
from tests.annotations.conftest import PAIRWISE, RATING, add_annotator, items, normalised
from tests.conftest import login
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "annotations"
XSS = (
    "Here is **bold** text and code:\n\n```python\nprint('hi')\n```\n\n"
    "<script>alert('script')</script> <img src=x onerror=\"alert('img')\"> <svg onload=\"alert('svg')\"></svg> "
    "[click me](javascript:alert('link')) <button hx-get=\"/api/v1/\" hx-trigger=\"load\">htmx</button>"
)


def annotate_url(project) -> str:  # type: ignore[no-untyped-def]
    return f"/projects/{project.pk}/annotate/"


def wait_for_next_item(page, previous_assignment: int) -> None:  # type: ignore[no-untyped-def]
    # A function (not an expression string): Playwright would eval() a string, which the CSP forbids.
    page.wait_for_function(
        "(previous) => { const item = document.querySelector('#ws-item[data-ready]');"
        " return item && item.dataset.assignment !== String(previous); }",
        arg=previous_assignment,
    )


def test_keyboard_only_pairwise_and_rating_with_the_next_item_swapped_in(page, org, owner):
    project = ProjectFactory(organization=org, created_by=owner, questions=normalised([PAIRWISE, RATING]))
    first, second = items(project, 2, responses=2, required_annotations=1)
    links = first.item_generations.order_by("position")
    generation = links[1].generation
    generation.text = XSS
    generation.save()
    annotator = add_annotator(project, "kbd", guidelines_seen_version=1)

    login(page, annotator)
    page.goto(annotate_url(project))
    page.wait_for_selector("#ws-item[data-ready]")
    assert page.locator(".ws-responses.count-2 .ws-response").count() == 2
    assert page.locator(".ws-response").nth(1).get_by_text("<script>alert('script')</script>", exact=False).count() == 1
    page.evaluate("window.__sameDocument = true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.screenshot(path=str(SCREENSHOTS / "workspace-pairwise.png"))

    # Item 1: A is clearly better (a, 2), overall 4, Enter.
    current = int(page.get_attribute("#ws-item", "data-assignment"))
    page.keyboard.press("a")
    page.keyboard.press("2")
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    wait_for_next_item(page, current)
    assert page.evaluate("window.__sameDocument") is True  # swapped in by htmx, no page load

    # Item 2: a tie needs no strength; overall 5.
    page.keyboard.press("t")
    page.keyboard.press("5")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-no-work='done']")
    assert "No work left for you" in page.inner_text("#ws-panel")
    assert page.evaluate("window.__sameDocument") is True

    answers = {a.item_id: a.answers for a in Annotation.objects.all()}
    assert answers == {
        first.pk: {"preference": {"choice": "a", "strength": 2}, "overall": 4},
        second.pk: {"preference": {"choice": "tie"}, "overall": 5},
    }
    assert page.dialogs == []  # no payload ran
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_reload_restores_the_draft_and_an_offline_submit_lands_once(page, org, owner):
    spans = {"id": "marks", "type": "spans", "prompt": "Mark false claims", "shortcut": "m",
             "labels": [{"value": "false_claim", "label": "False claim", "key": "f"}]}
    rating = {**RATING, "shortcut": "o"}
    project = ProjectFactory(organization=org, created_by=owner, questions=normalised([spans, rating]))
    (item,) = items(project, 1, responses=1)
    generation = item.item_generations.get().generation
    generation.text = "The moon is made of cheese 🧀 and sits close by."
    generation.save()
    annotator = add_annotator(project, "drafty", guidelines_seen_version=1)

    login(page, annotator)
    page.goto(annotate_url(project))
    page.wait_for_selector("#ws-item[data-ready]")
    page.keyboard.press("m")  # the spans question's shortcut focuses its text
    assert page.evaluate("document.activeElement.classList.contains('span-target')")
    # Keyboard span over words 5-7 ("of cheese 🧀"): move to "of", extend twice, label f.
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("f")
    assert page.locator("mark.span-mark").inner_text() == "of cheese 🧀"
    page.keyboard.press("o")
    page.keyboard.press("2")
    page.wait_for_timeout(300)

    page.reload()
    page.wait_for_selector("#ws-item[data-ready]")
    assert page.locator("mark.span-mark").inner_text() == "of cheese 🧀"
    assert page.locator("[data-qid=overall] input[value='2']").is_checked()
    assert "restored" in page.inner_text("#ws-status")

    page.context.set_offline(True)
    page.locator(".ws-submit").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#ws-status').textContent.includes('No connection')")
    assert not Annotation.objects.exists()
    page.context.set_offline(False)
    page.wait_for_selector("[data-no-work]", timeout=20000)

    annotation = Annotation.objects.get()
    # Offsets are Python code points into the original text (the emoji counts once).
    start, end = generation.text.index("of"), generation.text.index("🧀") + 1
    assert annotation.answers == {
        "marks": [{"generation": generation.pk, "start": start, "end": end, "label": "false_claim"}],
        "overall": 2,
    }
    assert Annotation.objects.count() == 1


def test_guidelines_then_skip_and_report_by_keyboard_until_no_work_is_left(page, org, owner):
    project = ProjectFactory(organization=org, created_by=owner, questions=normalised([RATING]),
                             content_warning="Some items describe violence.")
    GuidelineVersion.objects.create(project=project, version=2, text="# Read me\n\nRate **fluency** only.")
    items(project, 2, required_annotations=1)
    annotator = add_annotator(project, "newbie")

    login(page, annotator)
    page.goto(annotate_url(project))
    assert page.locator("h1", has_text="Read me").count() == 1
    page.keyboard.press("Enter")  # the confirm button has focus
    page.wait_for_selector("#ws-item[data-ready]")
    assert "Some items describe violence." in page.inner_text(".ws-warning")
    page.screenshot(path=str(SCREENSHOTS / "workspace-rating.png"))

    page.keyboard.press("?")
    page.wait_for_selector("#ws-shortcuts-dialog[open]")
    page.keyboard.press("Escape")

    page.keyboard.press("s")
    page.wait_for_selector("#ws-skip-dialog[open]")
    page.keyboard.press("2")
    current = int(page.get_attribute("#ws-item", "data-assignment"))
    page.keyboard.press("Enter")
    wait_for_next_item(page, current)

    page.keyboard.press("r")
    page.wait_for_selector("#ws-report-dialog[open]")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-no-work='done']")
    assert Skip.objects.get().reason == "It needs expertise I do not have"
    assert Flag.objects.get().category == "harmful"


def test_take_a_break_with_the_keyboard_survives_a_reload_and_resumes(page, rating_project):
    items(rating_project, 2, required_annotations=1)
    annotator = add_annotator(rating_project, "breaker", guidelines_seen_version=1)
    login(page, annotator)
    page.goto(annotate_url(rating_project))
    page.wait_for_selector("#ws-item[data-ready]")
    page.keyboard.press("z")
    page.wait_for_selector('[data-no-work="paused"]')
    page.reload()
    page.wait_for_selector('[data-no-work="paused"]')
    page.click("[data-ws-resume]")
    page.wait_for_selector("#ws-item[data-ready]")
    assert not page.dialogs
