"""Personal-data suggestions in a real Chromium: seen redacted, removed, kept, submitted."""

from __future__ import annotations

import pytest

from apps.annotations.models import Annotation
from apps.privacy.models import PiiSpan
from tests.annotations.conftest import RATING, add_annotator, items, normalised
from tests.annotations.test_browser import SCREENSHOTS, annotate_url
from tests.conftest import login
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESPONSE = "Write to bob@example.org, call +1 (415) 555-0132 or ping 203.0.113.9 before noon."
PII = {"id": "pii", "type": "spans", "prompt": "Mark personal data", "shortcut": "m", "required": False,
       "labels": [{"value": "harmful", "label": "Harmful", "key": "h"},
                  {"value": "personal_data", "label": "Personal data", "key": "p"}]}


def suggestion_tags(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all("mark.span-suggested", "marks => marks.map(m => m.dataset.tag || '')")


def test_an_annotator_removes_one_suggestion_keeps_another_and_only_that_one_is_stored(page, org, owner):
    project = ProjectFactory(organization=org, created_by=owner,
                             questions=normalised([PII, {**RATING, "shortcut": "o"}]))  # default policy: redact
    (item,) = items(project, 1, responses=1, has_pii=True, required_annotations=1)
    generation = item.item_generations.get().generation
    generation.text = RESPONSE
    generation.save()
    values = {"EMAIL": "bob@example.org", "PHONE": "+1 (415) 555-0132", "IP_ADDRESS": "203.0.113.9"}
    for kind, value in values.items():
        start = RESPONSE.index(value)
        PiiSpan.objects.create(project=project, generation=generation, start=start, end=start + len(value),
                               type=kind, score=0.9)
    annotator = add_annotator(project, "careful", guidelines_seen_version=1)

    login(page, annotator)
    page.goto(annotate_url(project))
    page.wait_for_selector("#ws-item[data-ready]")
    target = page.locator("[data-qid=pii] .span-target")
    assert target.inner_text() == "Write to [EMAIL], call [PHONE] or ping [IP_ADDRESS] before noon."
    assert "bob@example.org" not in page.content()
    # Three dashed suggestions, each over its placeholder, tagged with what was found.
    assert page.locator("mark.span-suggested").all_inner_texts() == ["[EMAIL]", "[PHONE]", "[IP_ADDRESS]"]
    assert suggestion_tags(page) == ["suggested: email address", "suggested: phone number",
                                     "suggested: IP address"]
    # The question with suggestions to decide has the focus, on the first of them.
    assert page.evaluate("document.activeElement.closest('[data-qid]').dataset.qid") == "pii"
    assert page.locator("mark.span-current").inner_text() == "[EMAIL]"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "workspace-pii-suggestions.png"))

    # Keyboard: Delete removes the highlighted suggestion (the email address).
    page.keyboard.press("Delete")
    assert page.locator("mark.span-suggested").all_inner_texts() == ["[PHONE]", "[IP_ADDRESS]"]
    page.wait_for_timeout(300)

    # The draft wins over the suggestions: the removed one does not come back on reload.
    page.reload()
    page.wait_for_selector("#ws-item[data-ready]")
    assert page.locator("mark.span-suggested").all_inner_texts() == ["[PHONE]", "[IP_ADDRESS]"]

    # Submitting with suggestions left to decide is refused, with the way out named.
    page.click(".ws-submit")
    error = page.locator("[data-qid=pii] .field-error")
    assert error.is_visible() and "Keep or remove the 2 suggested spans" in error.inner_text()
    assert not Annotation.objects.exists()

    # Keyboard: Enter keeps the highlighted one (the phone number) ...
    assert page.locator("mark.span-current").inner_text() == "[PHONE]"
    page.keyboard.press("Enter")
    assert page.locator("mark.span-mark").all_inner_texts() == ["[PHONE]"]
    assert page.locator(".span-list li[data-suggestion=confirmed]").count() == 1
    # ... and the mouse removes the last one (the IP address).
    page.locator(".span-list li[data-suggestion=pending] button[data-act=remove]").click()
    assert page.locator("mark.span-suggested").count() == 0
    assert not error.is_visible()

    page.keyboard.press("o")
    page.keyboard.press("4")
    page.keyboard.press("Enter")  # nothing left to decide: Enter submits
    page.wait_for_selector("[data-no-work='done']")

    annotation = Annotation.objects.get()
    start = RESPONSE.index(values["PHONE"])
    assert annotation.answers == {
        "pii": [{"generation": generation.pk, "start": start, "end": start + len(values["PHONE"]),
                 "label": "personal_data"}],
        "overall": 4,
    }
    assert page.dialogs == []
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
