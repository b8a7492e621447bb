"""Real Chromium: script and HTML in model outputs show as text in the preview, the browser and the item page."""

from __future__ import annotations

import io

import pytest

from apps.items.search import search_index_pending
from apps.items.services import import_upload_store
from tests.conftest import login
from tests.items.conftest import jsonl_bytes, run_import

PAYLOADS = [
    "<script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    "<svg onload=alert('svg')></svg>",
    '"><iframe src="javascript:alert(\'frame\')"></iframe>',
    "[click me](javascript:alert('link'))",
    "<details open ontoggle=alert('toggle')>",
]
ROWS = [
    {"prompt_id": f"x{n}", "prompt": f"Payload prompt {n} {payload}", "model": "evil-model",
     "response": f"Response with payload {payload} and *markdown*"}
    for n, payload in enumerate(PAYLOADS)
]
MAPPING = {"shape": "rows", "prompt": "prompt", "prompt_id": "prompt_id", "model": "model", "response": "response"}


@pytest.fixture(autouse=True)
def _no_favicon(page):  # type: ignore[no-untyped-def]
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))


def _no_live_html(page) -> None:  # type: ignore[no-untyped-def]
    assert page.locator("main img, main svg, main iframe, main details[ontoggle], main script").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.evaluate("window.__xss === undefined")


@pytest.mark.browser
def test_xss_payloads_show_as_text(page, owner, project):  # type: ignore[no-untyped-def]
    job = run_import(project, jsonl_bytes(ROWS), MAPPING)
    assert job.items_created == len(PAYLOADS)
    search_index_pending(project_id=project.pk)
    upload = import_upload_store(project=project, user=owner, fileobj=io.BytesIO(jsonl_bytes(ROWS)), name="evil.jsonl")
    login(page, owner)

    page.goto(f"/projects/{project.pk}/uploads/{upload.pk}/mapping/")
    page.wait_for_selector("#import-preview .preview-row")
    assert "<script>alert('script')</script>" in page.inner_text("#import-preview")
    _no_live_html(page)

    page.goto(f"/projects/{project.pk}/items/")
    page.wait_for_selector("table.item-table")
    assert "<img src=x onerror=alert('img')>" in page.inner_text("table.item-table")
    # The htmx search swaps in results containing the payloads: still text.
    page.fill("#id_q", "payload")
    page.wait_for_function("document.querySelectorAll('#item-results tbody tr').length === 6")
    _no_live_html(page)

    for index, payload in enumerate(PAYLOADS):
        page.goto(f"/projects/{project.pk}/items/")
        page.click(f"td.prompt-cell:has-text('Payload prompt {index} ') >> xpath=.. >> a")
        page.wait_for_selector(".item-response .markdown")
        text = page.inner_text(".item-response .markdown")
        assert "Response with payload" in text
        if not payload.startswith("[click me]"):
            assert payload in text  # shown verbatim, as text
        assert page.locator(".item-response .markdown em:has-text('markdown')").count() == 1
        _no_live_html(page)

    assert page.dialogs == []
