"""Personal-data suggestions in span questions: offsets over the text as shown, and back.

apps.privacy stores detected values with offsets into the original texts; the workspace
shows redacted text under the "redact" policy, so a suggestion must cover the placeholder
there and map back to the stored value when the annotator keeps it.
"""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from apps.annotations.models import Annotation
from apps.annotations.selectors import item_content, suggestions_for_question
from apps.annotations.services import annotation_submit, lease_next_item
from apps.privacy.models import PiiSpan
from apps.projects.models import PiiPolicy
from apps.projects.schema import validate_answers
from tests.annotations.conftest import RATING, add_annotator, items, normalised
from tests.conftest import client_for
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

PROMPT = "Reply to jane.roe@example.org about the invoice."
RESPONSE = "Sure. Call her on +1 (415) 555-0132 or mail jane.roe@example.org today."
PII_RESPONSES = {"id": "pii", "type": "spans", "prompt": "Mark personal data", "required": False,
                 "labels": [{"value": "harmful", "label": "Harmful"},
                            {"value": "personal_data", "label": "Personal data", "key": "p"}]}
PII_PROMPT = {"id": "prompt_pii", "type": "spans", "prompt": "Personal data in the prompt", "required": False,
              "target": "prompt", "labels": [{"value": "personal_data", "label": "Personal data"}]}
# A spans question without the suggestion label: it never gets suggestions.
CLAIMS = {"id": "claims", "type": "spans", "prompt": "Mark false claims", "required": False,
          "labels": [{"value": "false", "label": "False claim"}]}


@pytest.fixture
def pii_project(org, owner):  # type: ignore[no-untyped-def]
    return ProjectFactory(organization=org, created_by=owner,
                          questions=normalised([PII_RESPONSES, PII_PROMPT, CLAIMS, RATING]))


def _span(project, text: str, value: str, kind: str, **target) -> PiiSpan:  # type: ignore[no-untyped-def]
    start = text.index(value)
    return PiiSpan.objects.create(project=project, start=start, end=start + len(value), type=kind, score=0.9,
                                  **target)


def _pii_item(project):  # type: ignore[no-untyped-def]
    (item,) = items(project, 1, has_pii=True, prompt_text=PROMPT)
    generation = item.item_generations.get().generation
    generation.text = RESPONSE
    generation.save()
    _span(project, PROMPT, "jane.roe@example.org", "EMAIL", prompt=item.prompt)
    _span(project, RESPONSE, "+1 (415) 555-0132", "PHONE", generation=generation)
    _span(project, RESPONSE, "jane.roe@example.org", "EMAIL", generation=generation)
    return item, generation


def _shown(suggestion, content) -> str:  # type: ignore[no-untyped-def]
    text = content.original_texts and next(
        (r["text"] for r in content.responses if r["id"] == suggestion.get("generation")), content.prompt_text
    )
    return text[suggestion["start"]:suggestion["end"]]


def test_under_redact_suggestions_cover_the_placeholders_and_map_back_to_the_values(pii_project):
    item, generation = _pii_item(pii_project)
    content = item_content(item_id=item.pk, project=pii_project)
    assert content.responses[0]["text"] == "Sure. Call her on [PHONE] or mail [EMAIL] today."
    assert content.prompt_text == "Reply to [EMAIL] about the invoice."

    suggestions = content.pii_suggestions
    assert [(s.get("generation"), _shown(s, content), s["pii_type"], s["pii_label"]) for s in suggestions] == [
        (None, "[EMAIL]", "EMAIL", "Email address"),
        (generation.pk, "[PHONE]", "PHONE", "Phone number"),
        (generation.pk, "[EMAIL]", "EMAIL", "Email address"),
    ]
    assert all(s["label"] == "personal_data" for s in suggestions)

    # Kept as they are, they are stored over the original values.
    questions = pii_project.questions
    answers = {
        "pii": suggestions_for_question(questions[0], suggestions),
        "prompt_pii": suggestions_for_question(questions[1], suggestions),
    }
    cleaned = validate_answers(
        questions, content.spans_to_original(questions, {**answers, "overall": 3}),
        generation_ids=content.generation_ids, texts=content.original_texts,
        prompt_text=content.original_prompt_text, partial=True,
    )
    assert [RESPONSE[s["start"]:s["end"]] for s in cleaned["pii"]] == ["+1 (415) 555-0132", "jane.roe@example.org"]
    assert [PROMPT[s["start"]:s["end"]] for s in cleaned["prompt_pii"]] == ["jane.roe@example.org"]
    assert all(set(s) <= {"start", "end", "label", "generation"} for s in cleaned["pii"])  # no suggestion keys


def test_under_show_suggestions_are_the_stored_offsets(pii_project):
    pii_project.pii_policy = PiiPolicy.SHOW
    pii_project.save()
    item, generation = _pii_item(pii_project)
    content = item_content(item_id=item.pk, project=pii_project)
    assert content.responses[0]["text"] == RESPONSE
    shown = [(s.get("generation"), _shown(s, content)) for s in content.pii_suggestions]
    assert shown == [(None, "jane.roe@example.org"), (generation.pk, "+1 (415) 555-0132"),
                     (generation.pk, "jane.roe@example.org")]
    assert content.spans_to_original(pii_project.questions, {"pii": content.pii_suggestions[1:]}) == {
        "pii": content.pii_suggestions[1:]
    }


def test_only_span_questions_with_the_label_get_them_each_over_its_own_target(pii_project):
    item, generation = _pii_item(pii_project)
    suggestions = item_content(item_id=item.pk, project=pii_project).pii_suggestions
    by_question = {q["id"]: suggestions_for_question(q, suggestions) for q in pii_project.questions}
    assert [s["generation"] for s in by_question["pii"]] == [generation.pk, generation.pk]
    assert [("generation" in s) for s in by_question["prompt_pii"]] == [False]
    assert by_question["claims"] == [] and by_question["overall"] == []


def test_suggestions_cost_no_query_under_redact_and_one_under_show(pii_project, django_assert_num_queries):
    item, _ = _pii_item(pii_project)
    content = item_content(item_id=item.pk, project=pii_project)
    with django_assert_num_queries(0):
        assert len(content.pii_suggestions) == 3  # the redaction loaded the spans already
    pii_project.pii_policy = PiiPolicy.SHOW
    content = item_content(item_id=item.pk, project=pii_project)
    with django_assert_num_queries(1):
        assert len(content.pii_suggestions) == 3
    (clean,) = items(pii_project, 1)
    content = item_content(item_id=clean.pk, project=pii_project)
    with django_assert_num_queries(0):
        assert content.pii_suggestions == []


def _fieldset_suggestions(html: str, qid: str) -> list[dict] | None:  # type: ignore[type-arg]
    match = re.search(rf'<fieldset[^>]*data-qid="{qid}"[^>]*>', html)
    assert match, qid
    found = re.search(r'data-suggestions="([^"]*)"', match.group(0))
    return json.loads(unescape(found.group(1))) if found else None


def test_the_workspace_renders_them_on_the_labelled_span_questions_only(pii_project):
    _pii_item(pii_project)
    annotator = add_annotator(pii_project, guidelines_seen_version=1)
    html = client_for(annotator).get(f"/projects/{pii_project.pk}/annotate/").content.decode()
    assert "jane.roe" not in html and "555-0132" not in html  # not even inside the JSON
    assert [s["pii_type"] for s in _fieldset_suggestions(html, "pii")] == ["PHONE", "EMAIL"]
    assert [s["pii_type"] for s in _fieldset_suggestions(html, "prompt_pii")] == ["EMAIL"]
    assert _fieldset_suggestions(html, "claims") is None
    assert html.count('data-testid="suggestions-help"') == 2


def test_a_kept_suggestion_is_stored_over_the_original_text(pii_project):
    item, generation = _pii_item(pii_project)
    annotator = add_annotator(pii_project, guidelines_seen_version=1)
    assignment = lease_next_item(annotator, pii_project)
    content = item_content(item_id=item.pk, project=pii_project, assignment_id=assignment.pk)
    phone = {**content.pii_suggestions[1], "suggestion": "confirmed"}  # what the page sends
    annotation = annotation_submit(assignment=assignment, answers={"pii": [phone], "overall": 4}).annotation
    start = RESPONSE.index("+1")
    assert Annotation.objects.get(pk=annotation.pk).answers["pii"] == [
        {"generation": generation.pk, "start": start, "end": start + len("+1 (415) 555-0132"),
         "label": "personal_data"}
    ]


def test_the_api_payload_carries_the_suggestions_as_shown(pii_project):
    _pii_item(pii_project)
    annotator = add_annotator(pii_project, guidelines_seen_version=1)
    response = client_for(annotator).post(f"/api/v1/projects/{pii_project.pk}/next/")
    body = response.json()
    assert response.status_code == 200 and "jane.roe" not in response.content.decode()
    suggestions = body["item"]["pii_suggestions"]
    assert [(s["pii_type"], "generation" in s) for s in suggestions] == [("EMAIL", False), ("PHONE", True), ("EMAIL", True)]
    response_text = body["item"]["responses"][0]["text"]
    assert [response_text[s["start"]:s["end"]] for s in suggestions if "generation" in s] == ["[PHONE]", "[EMAIL]"]
