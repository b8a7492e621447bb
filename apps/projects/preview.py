"""The schema editor's live preview: the annotator's own question form, on a sample item.

The workspace owns templates/annotations/partials/question_form.html; the preview
renders that same template so researchers see what annotators will see. Until it
exists, a read-only listing stands in.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.http import HttpRequest
from django.template.loader import select_template
from django.utils.safestring import SafeString

from apps.projects.models import Project

QUESTION_FORM_TEMPLATES = (
    "annotations/partials/question_form.html",
    "projects/partials/question_preview_fallback.html",
)

SAMPLE_PROMPT = (
    "My grandmother turns 80 next week and loves gardening. "
    "Suggest a thoughtful gift and explain why it would suit her."
)
SAMPLE_RESPONSES = (
    "A kneeling pad with handles would make a lovely gift. It cushions her knees while she weeds and the "
    "handles help her get up again, so she can keep gardening comfortably for longer. Pair it with a packet "
    "of seeds from a flower she grew when she was younger.",
    "Buy her a rare orchid. Orchids are the easiest plants in the world to grow and they bloom all year "
    "round, so she will never have to do any work. Every gardener over 80 prefers houseplants anyway.",
)


def sample_response_count(questions: list[dict[str, Any]]) -> int:
    """Two responses when a question compares them or asks about each; otherwise one."""
    for question in questions:
        if not isinstance(question, dict):
            continue
        if question.get("type") in ("pairwise", "ranking") or question.get("applies_to") in ("pair", "each_response"):
            return 2
    return 1


def sample_item(questions: list[dict[str, Any]]) -> dict[str, Any]:
    count = sample_response_count(questions)
    responses = [{"id": i + 1, "label": chr(65 + i), "text": SAMPLE_RESPONSES[i]} for i in range(count)]
    item = SimpleNamespace(
        id=0, pk=0, kind="pair" if count == 2 else "single", is_sample=True, metadata={}, priority=0
    )
    return {"item": item, "responses": responses, "prompt_text": SAMPLE_PROMPT, "prompt_messages": None}


def question_preview_context(*, request: HttpRequest, project: Project, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Context for the preview partial: the rendered annotator form and the sample it was rendered for."""
    sample = sample_item(questions)
    template = select_template(list(QUESTION_FORM_TEMPLATES))
    html = template.render(
        {"project": project, "questions": questions, "answers": {}, "preview": True, **sample}, request
    )
    origin = getattr(getattr(template, "template", None), "origin", None)
    return {
        "preview_html": SafeString(html),  # a template render: autoescaped already
        "preview_sample": sample,
        "preview_is_workspace_form": getattr(origin, "template_name", "") == QUESTION_FORM_TEMPLATES[0],
    }
