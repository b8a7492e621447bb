"""Real Chromium: a researcher creates a project, edits its guidelines and questions."""

from __future__ import annotations

import re

import pytest

from apps.projects.models import GuidelineVersion, Project
from tests.conftest import login


@pytest.fixture(autouse=True)
def _no_favicon(page):  # type: ignore[no-untyped-def]
    # The browser asks for /favicon.ico on its own; its 404 would read as a console error.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))


@pytest.mark.browser
def test_researcher_creates_pairwise_project_and_versions_guidelines(page, owner, org):  # type: ignore[no-untyped-def]
    login(page, owner)
    page.goto("/projects/")
    page.click("text=New project")
    page.fill("#id_name", "RLHF preferences")
    page.check("input[name=template][value=pairwise_preference]")
    page.click("button:has-text('Create project')")
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    project = Project.objects.get(name="RLHF preferences")
    assert project.template == "pairwise_preference"

    page.click("nav.project-nav >> text=Guidelines")
    page.wait_for_selector("#guidelines-text")
    page.fill("#guidelines-text", "## Updated rules\n\nPrefer the **shorter** answer when both are correct.")
    # The live preview renders the sanitised markdown through htmx.
    page.wait_for_selector("#guidelines-preview h2:has-text('Updated rules')")
    page.click("button:has-text('Save guidelines')")
    page.wait_for_selector("text=Saved as version 2")
    page.click("#guidelines-editor >> text=History")
    page.wait_for_url(f"**/projects/{project.pk}/guidelines/history/")
    assert page.locator("table.guideline-versions >> text=Version 2").is_visible()
    assert GuidelineVersion.objects.filter(project=project).count() == 2
    assert page.dialogs == [] and page.console_errors == []


@pytest.mark.browser
def test_schema_editor_form_edits_json_and_preview(page, owner, project):  # type: ignore[no-untyped-def]
    login(page, owner)
    page.goto(f"/projects/{project.pk}/questions/")
    page.wait_for_selector(".question-card")
    page.select_option("#new-question-type", "single_choice")
    page.click("#add-question")
    card = page.locator(".question-card").nth(1)
    card.locator(".q-prompt").fill("Is it polite?")
    card.locator(".o-label").first.fill("Polite")
    # The JSON textarea follows the form, and the preview follows the JSON.
    assert '"Is it polite?"' in page.input_value("#questions-json")
    page.wait_for_selector("#schema-preview >> text=Is it polite?")
    page.wait_for_selector("#schema-preview >> text=Polite")
    # A duplicate shortcut is named in the preview and marks the card.
    card.locator(".q-shortcut").fill("o")
    page.locator(".question-card").first.locator(".q-shortcut").fill("o")
    page.wait_for_selector("#schema-preview [data-schema-error]")
    page.wait_for_selector(".question-card.has-error")
    page.locator(".question-card").first.locator(".q-shortcut").fill("")
    page.wait_for_selector("#schema-preview >> text=Is it polite?")
    page.click("button:has-text('Save questions')")
    page.wait_for_selector("text=Questions saved.")
    project.refresh_from_db()
    assert [q["id"] for q in project.questions] == ["overall", "question_2"]
    assert project.questions[1]["options"][0]["label"] == "Polite"
    assert page.dialogs == [] and page.console_errors == []
