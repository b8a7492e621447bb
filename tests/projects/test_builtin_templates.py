"""Built-in templates: every one passes schema validation and ships real guidelines and shortcuts."""

from __future__ import annotations

import pytest

from apps.projects.builtin_templates import BUILTIN_TEMPLATES, TEMPLATE_KEYS, template_get
from apps.projects.schema import validate_schema
from apps.projects.services import SETTINGS_FIELDS


@pytest.mark.parametrize("template", BUILTIN_TEMPLATES, ids=TEMPLATE_KEYS)
def test_template_is_valid_and_complete(template):  # type: ignore[no-untyped-def]
    questions = validate_schema(template["questions"])
    assert all(q.get("shortcut") for q in questions), "every question has a keyboard shortcut"
    assert len(template["guidelines"].split()) > 250 and template["guidelines"].count("## ") >= 3
    assert set(template["settings"]) <= set(SETTINGS_FIELDS)
    assert template["item_kind"] in ("single", "pair")


def test_the_five_templates_cover_the_brief():  # type: ignore[no-untyped-def]
    assert TEMPLATE_KEYS == ("pairwise_preference", "response_quality", "safety_audit", "truthfulness", "sft_rewrite")
    pairwise = {q["id"]: q for q in template_get("pairwise_preference")["questions"]}
    assert pairwise["preference"]["strength"] and pairwise["rationale"]["type"] == "text"
    quality = [q for q in template_get("response_quality")["questions"] if q["type"] == "rating"]
    assert [q["id"] for q in quality] == ["fluency", "readability", "grammar", "coherence", "logic", "relevance"]
    assert all(q["applies_to"] == "each_response" and len(q["anchors"]) == 5 for q in quality)
    safety = {q["id"]: q for q in template_get("safety_audit")["questions"]}
    assert {label["value"] for label in safety["problem_spans"]["labels"]} == {"harmful", "biased", "false", "personal_data"}
    assert safety["harm_categories"]["type"] == "multi_choice" and safety["bias_flags"]["type"] == "multi_choice"
    truth = {q["id"]: q for q in template_get("truthfulness")["questions"]}
    assert {label["value"] for label in truth["claims"]["labels"]} == {"false", "unsupported"}
    assert truth["verdict"]["type"] == "single_choice" and truth["evidence"]["type"] == "text"
    sft = {q["id"]: q for q in template_get("sft_rewrite")["questions"]}
    assert sft["rewrite"]["type"] == "rewrite" and sft["reason"]["type"] == "text"


def test_template_get_returns_a_copy():  # type: ignore[no-untyped-def]
    first = template_get("truthfulness")
    first["questions"].clear()
    assert template_get("truthfulness")["questions"]
    assert template_get("nope") is None


@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_a_project_can_be_created_from_each_template(key, owner, org):  # type: ignore[no-untyped-def]
    from apps.projects.services import project_create

    project = project_create(user=owner, organization=org, name=key, template=key)
    assert project.questions == validate_schema(template_get(key)["questions"])
    assert project.current_guidelines().text == template_get(key)["guidelines"]
