"""Static checks over every template, so a mistake names its file and line.

* every <script> and <style> element carries nonce="{{ csp_nonce }}" (the CSP allows
  nothing else; JSON data blocks are not scripts);
* no inline event handlers (onclick=...) and no javascript: URLs;
* `|safe` and `{% autoescape off %}` only where reviewed (ALLOWED_UNESCAPED).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import BASE_DIR

TEMPLATE_DIRS = [BASE_DIR / "templates", *sorted((BASE_DIR / "apps").glob("*/templates"))]

# file (relative to the repository) -> why its unescaped output is safe
ALLOWED_UNESCAPED = {
    "templates/quality/partials/gold_feedback.html": "explanation_html and guideline_excerpt_html come from "
    "apps.core.rendering.render_markdown (nh3-sanitised) in apps.quality.selectors",
}

_ELEMENT = re.compile(r"<(script|style)\b([^>]*)>", re.IGNORECASE)
_HANDLER = re.compile(r"<[a-zA-Z][^>]*\s(on[a-z]+)\s*=", re.IGNORECASE)
_JS_URL = re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)
_UNESCAPED = re.compile(r"\|\s*safe\b|{%\s*autoescape\s+off\s*%}")


def _templates() -> list[Path]:
    return sorted(path for directory in TEMPLATE_DIRS for path in directory.rglob("*.html"))


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def test_there_are_templates_to_check():
    assert len(_templates()) > 5


def test_every_script_and_style_element_carries_the_nonce():
    problems = []
    for path in _templates():
        text = path.read_text()
        for match in _ELEMENT.finditer(text):
            attributes = match.group(2)
            if re.search(r"""type\s*=\s*["']application/(ld\+)?json["']""", attributes):
                continue
            if 'nonce="{{ csp_nonce }}"' not in attributes:
                problems.append(f"{path.relative_to(BASE_DIR)}:{_line(text, match.start())}: <{match.group(1)}> "
                                'needs nonce="{{ csp_nonce }}"')
    assert not problems, "\n".join(problems)


def test_no_inline_event_handlers_or_javascript_urls():
    problems = []
    for path in _templates():
        text = path.read_text()
        for pattern, what in ((_HANDLER, "inline event handler"), (_JS_URL, "javascript: URL")):
            for match in pattern.finditer(text):
                problems.append(f"{path.relative_to(BASE_DIR)}:{_line(text, match.start())}: {what}")
    assert not problems, "\n".join(problems)


def test_unescaped_output_only_where_reviewed():
    problems = []
    for path in _templates():
        relative = str(path.relative_to(BASE_DIR))
        if relative in ALLOWED_UNESCAPED:
            continue
        text = path.read_text()
        for match in _UNESCAPED.finditer(text):
            problems.append(f"{relative}:{_line(text, match.start())}: {match.group(0)!r} (review it, then add the "
                            "file to ALLOWED_UNESCAPED with the reason it is safe)")
    assert not problems, "\n".join(problems)
