"""The workspace page and its htmx partial (server side; the browser tests drive the JavaScript)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from apps.annotations.models import Assignment, WorkspacePreference
from apps.annotations.services import annotation_submit, lease_next_item
from apps.projects.models import GuidelineVersion
from tests.annotations.conftest import ALL_TYPES, add_annotator, items, normalised
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

XSS = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> <svg onload=alert(3)></svg> "
    "[link](javascript:alert(4)) <div hx-get=\"/api/v1/\" hx-trigger=\"load\">htmx</div>"
)


def page(project) -> str:  # type: ignore[no-untyped-def]
    return f"/projects/{project.pk}/annotate/"


def test_anonymous_users_are_sent_to_sign_in_and_outsiders_get_404(rating_project, outsider):
    response = Client().get(page(rating_project))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client_for(outsider).get(page(rating_project)).status_code == 404
    assert client_for(outsider).post(page(rating_project) + "next/", HTTP_HX_REQUEST="true").status_code == 404


def test_guidelines_come_first_and_again_when_they_change(rating_project):
    items(rating_project, 2)
    newcomer = add_annotator(rating_project)
    client = client_for(newcomer)
    response = client.get(page(rating_project))
    assert b"Please read the guidelines in full" in response.content and b"Be careful and kind." in response.content
    assert not Assignment.objects.exists()  # no lease while reading
    client.post(page(rating_project) + "guidelines/", {"version": "1"})
    response = client.get(page(rating_project))
    assert b'id="ws-item"' in response.content

    GuidelineVersion.objects.create(project=rating_project, version=2, text="**New rule**: be terse.")
    response = client.get(page(rating_project))
    assert b"The guidelines changed since you last read them" in response.content
    assert b"<strong>New rule</strong>" in response.content
    # The htmx swap sends the annotator to the full page to read them.
    swap = client.post(page(rating_project) + "next/", HTTP_HX_REQUEST="true")
    assert swap["HX-Redirect"] == page(rating_project)
    client.post(page(rating_project) + "guidelines/", {"version": "2"})
    assert b'id="ws-item"' in client.get(page(rating_project)).content
    assert b"be terse" in client.get(page(rating_project) + "?guidelines=1").content


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_untrusted_text_renders_as_inert_markdown(rating_project, member):
    items(rating_project, 1, responses=2, prompt_text="# Title\n\n" + XSS)
    html = client_for(member).get(page(rating_project)).content.decode()
    assert "<h1>Title</h1>" in html
    parser = TagCollector()
    parser.feed(html)
    scripts = [attrs.get("src") for tag, attrs in parser.tags if tag == "script"]
    assert all(src and src.startswith("/static/js/") for src in scripts)
    assert not [tag for tag, _ in parser.tags if tag in ("img", "svg", "iframe")]
    for tag, attrs in parser.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert not (attrs.get("href") or "").startswith("javascript:")
        assert "hx-trigger" not in attrs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count('class="markdown" hx-disable') == 3


def test_gold_answers_and_model_names_never_reach_the_page(rating_project, member):
    rating_project.gold_ratio = 1.0
    rating_project.save()
    items(rating_project, 1, responses=2, is_gold=True, gold_answers={"overall": "GOLD-SECRET-7"})
    html = client_for(member).get(page(rating_project)).content.decode()
    assert 'id="ws-item"' in html
    for secret in ("GOLD-SECRET-7", "model-a", "model-b", "gold"):
        assert secret not in html


def test_the_page_shows_progress_pairwise_side_by_side_and_every_widget(typed_project):
    annotator = add_annotator(typed_project, guidelines_seen_version=1)
    items(typed_project, 3, responses=2)
    html = client_for(annotator).get(page(typed_project)).content.decode()
    assert 'class="ws-responses count-2"' in html
    assert "Done today <strong>0</strong> · left <strong>2</strong>" in html
    for widget in ("q-single_choice", "q-multi_choice", "q-rating", "q-pairwise", "q-ranking", "q-text", "q-rewrite", "q-spans"):
        assert widget in html
    assert html.count('data-qid="fluency"') == 2  # one rating per response
    assert '&quot;question&quot;: &quot;preference&quot;}"' in html  # the condition, for the JS
    assert re.search(r'<script src="/static/js/workspace.js" nonce="[^"]+" defer></script>', html)
    assert "<script>" not in html and "<script nonce" not in html  # no inline scripts


def test_htmx_gets_only_the_panel_and_plain_posts_go_back_to_the_page(rating_project, member):
    items(rating_project, 2)
    client = client_for(member)
    partial = client.post(page(rating_project) + "next/", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert b"<html" not in partial.content and b'id="ws-item"' in partial.content
    assert client.post(page(rating_project) + "next/").status_code == 302
    assert client.get(page(rating_project) + "next/").status_code == 405
    assert client.get(page(rating_project))["Vary"].count("HX-Request") == 1


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("done", b"No work left for you"),
        ("cap", b"limit"),
        ("leased", b"No item free right now"),
        ("suspended", b"Your work here is paused"),
        ("archived", b"This project is closed"),
    ],
)
def test_no_work_states_say_why(rating_project, member, setup, expected):
    if setup == "cap":
        rating_project.per_annotator_cap = 1
        rating_project.save()
        items(rating_project, 2)
        annotation_submit(assignment=lease_next_item(member, rating_project), answers={"overall": 1})
    elif setup == "leased":
        items(rating_project, 1, required_annotations=1)
        lease_next_item(add_annotator(rating_project), rating_project)
    elif setup == "suspended":
        member.project_memberships.update(suspended_at=timezone.now())
    elif setup == "archived":
        items(rating_project, 1)
        rating_project.archived_at = timezone.now()
        rating_project.save()
    response = client_for(member).get(page(rating_project))
    assert response.status_code == 200
    assert expected in response.content
    assert b'data-no-work="' in response.content and b"Check again" in response.content


def test_content_warnings_and_the_harmful_opt_out(rating_project, member):
    rating_project.content_warning = "Contains descriptions of violence."
    rating_project.allow_harmful_opt_out = True
    rating_project.save()
    items(rating_project, 1, is_harmful=True)
    client = client_for(member)
    html = client.get(page(rating_project)).content.decode()
    assert "Contains descriptions of violence." in html
    assert 'class="ws-content blurred"' in html and "Show it <kbd>V</kbd>" in html
    Assignment.objects.all().delete()
    client.post(page(rating_project) + "preferences/", {"harmful_opt_out": "1"})
    assert WorkspacePreference.objects.get(annotator=member).harmful_opt_out
    assert b"No work left for you" in client.get(page(rating_project)).content


def test_question_form_renders_for_the_schema_editor_preview_without_an_item():
    html = render_to_string(
        "annotations/partials/question_form.html",
        {
            "project": None,
            "questions": normalised(ALL_TYPES),
            "item": None,
            "responses": [{"id": 1, "label": "A", "text": "First"}, {"id": 2, "label": "B", "text": "Second <b>"}],
            "prompt_text": "Prompt",
            "prompt_messages": None,
            "answers": {},
        },
    )
    assert html.count('class="q ') == 10  # fluency and the rewrite once per response
    assert "Second &lt;b&gt;" in html and "<b>" not in html
    assert 'data-path="fluency.2"' in html and 'data-path="fixed.1"' in html


def test_personal_data_is_redacted_on_the_page(rating_project, member):
    from apps.privacy.models import PiiSpan

    (item,) = items(rating_project, 1, has_pii=True, prompt_text="Call me on +44 20 7946 0958 please.")
    PiiSpan.objects.create(project=rating_project, prompt=item.prompt, start=11, end=27, type="PHONE", score=0.9)
    html = client_for(member).get(page(rating_project)).content.decode()
    assert "Call me on [PHONE] please." in html and "7946" not in html
