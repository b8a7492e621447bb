"""Schema editor: validated JSON save, named errors, and the live preview of the annotator form."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.projects.builtin_templates import template_get
from apps.projects.models import Project
from apps.projects.preview import sample_response_count
from tests.conftest import client_for

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(project, suffix: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/projects/{project.pk}/questions/{suffix}"


def test_editor_shows_json_and_preview(owner, project):  # type: ignore[no-untyped-def]
    response = client_for(owner).get(url(project))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="questions-json"' in html and "&quot;overall&quot;" in html
    assert 'id="schema-preview"' in html and "Overall quality" in html
    assert "/static/js/projects.js" in html


def test_save_normalises_and_stores(owner, project):  # type: ignore[no-untyped-def]
    questions = [{"id": "fluency", "type": "rating", "prompt": "Fluency", "applies_to": "each_response", "anchors": {"1": "Bad", "5": "Good"}}]
    response = client_for(owner).post(url(project), {"questions": json.dumps(questions)})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.questions[0]["min"] == 1 and project.questions[0]["required"] is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[{", "not valid JSON: line 1, column 3"),
        ('{"id": "x"}', "Question -, field questions: must be a list of questions"),
        ('[{"id": "score", "type": "rating", "prompt": "S", "anchors": {"8": "?"}}]', "Question score, field anchors.8: is not a point of the 1-5 scale"),
        ('[{"id": "a", "type": "text", "prompt": "A", "shortcut": "k"}, {"id": "b", "type": "text", "prompt": "B", "shortcut": "k"}]', "Question b, field shortcut"),
        ("", "This field is required"),
    ],
)
def test_save_bad_input_named_errors_and_keeps_the_text(owner, project, raw, expected):  # type: ignore[no-untyped-def]
    response = client_for(owner).post(url(project), {"questions": raw})
    html = response.content.decode()
    assert response.status_code == 422
    assert expected in html
    assert Project.objects.get(pk=project.pk).questions[0]["id"] == "overall"


def test_preview_renders_the_annotator_form_for_a_sample_item(owner, project):  # type: ignore[no-untyped-def]
    questions = template_get("pairwise_preference")["questions"]
    response = client_for(owner).post(url(project, "preview/"), {"questions": json.dumps(questions)}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Which response is better?" in html and "Response B" in html
    # The workspace's own form when it exists (its fieldsets carry data-path), else the outline.
    from django.template.loader import select_template

    from apps.projects.preview import QUESTION_FORM_TEMPLATES

    used = select_template(list(QUESTION_FORM_TEMPLATES)).template.origin.template_name
    if used == QUESTION_FORM_TEMPLATES[0]:
        assert 'data-path="preference"' in html and "outline of the form" not in html
    else:
        assert "outline of the form" in html


def test_preview_names_schema_errors(owner, project):  # type: ignore[no-untyped-def]
    raw = json.dumps([{"id": "q1", "type": "rating", "prompt": "R", "max": 99}])
    html = client_for(owner).post(url(project, "preview/"), {"questions": raw}, **HTMX).content.decode()
    assert 'data-schema-error="q1"' in html and "<code>max</code>" in html
    html = client_for(owner).post(url(project, "preview/"), {"questions": "[1,"}, **HTMX).content.decode()
    assert "not valid JSON" in html


def test_preview_escapes_untrusted_question_text(owner, project):  # type: ignore[no-untyped-def]
    raw = json.dumps([{"id": "q1", "type": "text", "prompt": "<img src=x onerror=alert(1)>"}])
    html = client_for(owner).post(url(project, "preview/"), {"questions": raw}, **HTMX).content.decode()
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_sample_item_fits_the_questions():  # type: ignore[no-untyped-def]
    assert sample_response_count([{"type": "text", "applies_to": "item"}]) == 1
    assert sample_response_count([{"type": "spans", "applies_to": "item"}]) == 1
    assert sample_response_count([{"type": "rating", "applies_to": "each_response"}]) == 2
    assert sample_response_count([{"type": "pairwise", "applies_to": "pair"}]) == 2
    assert sample_response_count([{"type": "ranking", "applies_to": "item"}]) == 2


def test_permissions(annotator, reviewer, outsider, project):  # type: ignore[no-untyped-def]
    raw = json.dumps([{"id": "x", "type": "text", "prompt": "X"}])
    for user, status in ((annotator, 403), (reviewer, 403), (outsider, 404)):
        client = client_for(user)
        assert client.get(url(project)).status_code == status
        assert client.post(url(project), {"questions": raw}).status_code == status
        assert client.post(url(project, "preview/"), {"questions": raw}).status_code == status
    assert Client().get(url(project)).status_code == 302
    assert Client().post(url(project, "preview/"), {"questions": raw}).status_code == 302
    assert Project.objects.get(pk=project.pk).questions[0]["id"] == "overall"


def test_wrong_methods(owner, project):  # type: ignore[no-untyped-def]
    assert client_for(owner).put(url(project)).status_code == 405
    assert client_for(owner).get(url(project, "preview/")).status_code == 405


@pytest.mark.parametrize("key", ["pairwise_preference", "response_quality", "safety_audit", "truthfulness", "sft_rewrite"])
def test_preview_renders_every_builtin_template(owner, project, key):  # type: ignore[no-untyped-def]
    questions = template_get(key)["questions"]
    response = client_for(owner).post(url(project, "preview/"), {"questions": json.dumps(questions)}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "schema-errors" not in html
    for question in questions:
        assert question["prompt"] in html or question["prompt"].replace("'", "&#x27;") in html
