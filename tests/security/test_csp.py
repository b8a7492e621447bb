"""Every HTML page Verity serves carries the strict CSP, and obeys it.

Walks the whole URLconf (so new pages are covered without anyone listing them) as an
anonymous visitor, an annotator and an organization admin.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from tests.security.routes import all_routes

pytestmark = pytest.mark.django_db

REQUIRED = ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'")


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def csp_problems(path: str, response) -> list[str]:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    csp = response.get("Content-Security-Policy", "")
    if not csp:
        return [f"{path}: no Content-Security-Policy"]
    directives = {part.strip().split(" ", 1)[0]: part.strip() for part in csp.split(";") if part.strip()}
    script_src = directives.get("script-src", "")
    nonce = re.fullmatch(r"script-src 'nonce-([A-Za-z0-9_\-]+={0,2})'", script_src)
    if not nonce:
        problems.append(f"{path}: script-src is not nonce-only: {script_src!r}")
    for directive in REQUIRED:
        if directive not in csp:
            problems.append(f"{path}: missing {directive}")
    if "unsafe-eval" in csp:
        problems.append(f"{path}: unsafe-eval")
    if not nonce:
        return problems
    parser = _Elements()
    parser.feed(response.content.decode(errors="replace"))
    for tag, attrs in parser.found:
        handlers = [name for name in attrs if name.startswith("on")]
        if handlers:
            problems.append(f"{path}: inline event handler {handlers} on <{tag}>")
        if tag in ("script", "style") and attrs.get("type") not in ("application/json", "application/ld+json"):
            if attrs.get("nonce") != nonce.group(1):
                problems.append(f"{path}: <{tag}{' src=' + str(attrs.get('src')) if attrs.get('src') else ''}> "
                                "without this response's nonce")
        for name in ("href", "src", "action", "formaction"):
            if (attrs.get(name) or "").strip().lower().startswith("javascript:"):
                problems.append(f"{path}: javascript: URL in <{tag} {name}>")
    return problems


def test_every_html_page_has_a_strict_csp_and_follows_it(url_values, annotator, org_admin):
    clients = {"anonymous": Client(raise_request_exception=False)}
    for name, user in (("annotator", annotator), ("org_admin", org_admin)):
        clients[name] = Client(raise_request_exception=False)
        clients[name].force_login(user)
    problems: list[str] = []
    html_pages = 0
    for route in all_routes():
        path = route.url(url_values)
        for persona, client in clients.items():
            response = client.get(path)
            if not response.get("Content-Type", "").startswith("text/html"):
                continue
            html_pages += 1
            problems += [f"[{persona}] {problem}" for problem in csp_problems(path, response)]
    assert html_pages > 10
    assert not problems, "\n".join(problems)


def test_the_error_pages_are_covered_too(client):
    for response in (client.get("/no-such-page/"), client.get("/api/v1/projects/", HTTP_ACCEPT="text/html")):
        assert "Content-Security-Policy" in response


def test_the_header_is_fresh_for_every_response(client):
    first = client.get("/accounts/login/")["Content-Security-Policy"]
    second = client.get("/accounts/login/")["Content-Security-Policy"]
    assert first != second


def test_other_browser_guards_are_set(client, owner):
    response = client.get("/accounts/login/")
    assert "camera=()" in response["Permissions-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    client.force_login(owner)
    assert client.get("/projects/")["Cache-Control"] == "private, no-store"
