"""Every payload of the XSS corpus, through render_markdown and the |markdown filter:
no live HTML or script survives, and template syntax stays text."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pytest
from django.template import Context, Template

from apps.core.rendering import render_markdown
from tests.security.xss_corpus import EXFILTRATION_PREFIX, ONE_MEGABYTE_TOKEN, PAYLOADS

# What sanitised markdown may contain (a subset of apps.core.rendering's allowlist).
SAFE_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "span",
}
SAFE_ATTRIBUTES = {"href", "title", "class", "align", "start", "rel"}
SAFE_SCHEMES = ("http", "https", "mailto")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_inert(html: str) -> None:
    """Only allowlisted tags and attributes; links only to http(s)/mailto."""
    parser = _Collector()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.elements:
        assert tag in SAFE_TAGS, f"live <{tag}> survived"
        for name, value in attrs:
            assert name in SAFE_ATTRIBUTES, f"attribute {name!r} survived on <{tag}>"
            assert not name.startswith(("on", "hx-", "data-")), name
            if name == "href":
                assert_safe_href(value or "")
    lowered = html.lower()
    for needle in ("<script", "<img", "<svg", "<iframe", "<base", "<meta", "<form", "<style", "<link",
                   "<object", "<embed", "<math", "<template", "<noscript", "<button"):
        assert needle not in lowered, f"{needle} survived"


def assert_safe_href(value: str) -> None:
    """As a browser parses it: tabs and line breaks are removed, leading controls and spaces
    ignored; then a scheme, if there is one, must be http, https or mailto."""
    url = re.sub(r"[\t\n\r]", "", value).lstrip("\x00\x01\x02\x03\x04\x05\x06\x07\x08 \x0b\x0c")
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", url)
    if scheme:
        assert scheme.group(1).lower() in SAFE_SCHEMES, f"unsafe href {value!r}"
    assert EXFILTRATION_PREFIX not in url


def test_the_corpus_covers_what_the_issue_lists():
    assert len(PAYLOADS) >= 25
    for family in ("script", "img_onerror", "svg_onload", "iframe_srcdoc", "base_href", "meta_refresh",
                   "form_action", "style_tag", "markdown_javascript_link", "markdown_data_link", "htmx_get",
                   "htmx_on", "django_template_variable", "django_template_tag", "bidi_override",
                   "one_megabyte_token"):
        assert family in PAYLOADS
    assert len(ONE_MEGABYTE_TOKEN) == 1024 * 1024


@pytest.mark.parametrize("name", [name for name in PAYLOADS if name != "one_megabyte_token"])
def test_render_markdown_leaves_nothing_live(name):
    payload = PAYLOADS[name]
    for text in (payload, f"Intro paragraph.\n\n{payload}\n\n- item {payload}", f"**{payload}**"):
        assert_inert(str(render_markdown(text)))


@pytest.mark.parametrize("name", [name for name in PAYLOADS if name != "one_megabyte_token"])
def test_the_markdown_filter_leaves_nothing_live_and_template_syntax_stays_text(name):
    payload = PAYLOADS[name]
    template = Template("{% load verity %}<div class=\"markdown\">{{ text|markdown }}</div><p>{{ text }}</p>")
    html = template.render(Context({"text": payload, "secret": "do-not-leak"}))
    body = html.split('<div class="markdown">', 1)[1].split("</div><p>", 1)
    assert_inert(body[0])
    # The auto-escaped copy is plain text: no tag opens at all.
    assert "<" not in body[1].rsplit("</p>", 1)[0]
    assert "do-not-leak" not in html


def test_template_syntax_in_content_is_never_evaluated():
    payload = PAYLOADS["django_template_variable"] + PAYLOADS["django_template_tag"]
    html = Template("{% load verity %}{{ text|markdown }}").render(Context({"text": payload, "settings": "X"}))
    assert "{{ request.user.password }}" in html.replace("&#x27;", "'")
    assert "{% debug %}" in html
    assert "<!DOCTYPE" not in html and "sys.modules" not in html


def test_bidi_controls_cannot_break_out_of_text():
    html = str(render_markdown(PAYLOADS["bidi_override"]))
    assert_inert(html)
    assert "&lt;\u202escript&gt;" in html  # still there as text, never a tag


def test_a_one_megabyte_token_is_rendered_as_escaped_text_quickly():
    started = time.monotonic()
    html = str(render_markdown(ONE_MEGABYTE_TOKEN))
    assert time.monotonic() - started < 10
    assert_inert(html)
    assert html.count("A") >= 1024 * 1024 - 2
    filtered = Template("{% load verity %}{{ text|markdown }}").render(Context({"text": ONE_MEGABYTE_TOKEN}))
    assert filtered.startswith("<p>&lt;AAAA")


@pytest.mark.parametrize(
    "html",
    [
        '<p>ok</p><img src="x">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVa\tScRiPt:alert(1)">x</a>',
        '<a href=" data:text/html,x">x</a>',
        '<p onclick="x()">x</p>',
        '<div hx-get="/x">x</div>',
        '<a href="/xss/steal">x</a>',
    ],
)
def test_the_checker_itself_catches_live_html(html):
    with pytest.raises(AssertionError):
        assert_inert(html)
