"""The quality dashboard in a real Chromium: charts render from precomputed figures, no console errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "quality"


@pytest.fixture(autouse=True)
def _no_favicon(page):  # type: ignore[no-untyped-def]
    # The browser asks for /favicon.ico on its own; its 404 would read as a console error.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))


def test_dashboard_renders_charts_without_console_errors(page, computed, owner):  # type: ignore[no-untyped-def]
    login(page, owner)
    page.goto(f"/projects/{computed.pk}/quality/")
    for chart in ("progress", "agreement", "distribution", "leaderboard", "position"):
        page.wait_for_selector(f"canvas[data-chart={chart}][data-rendered=true]", state="attached")
    # Chart.js registered a chart on every canvas and drew it at a real size.
    drawn = page.evaluate("""() => Array.from(document.querySelectorAll('canvas[data-chart]'))
        .map((c) => Boolean(window.Chart.getChart(c)) && c.width > 0 && c.height > 0)""")
    assert drawn and all(drawn)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    # htmx partial: re-sorting the annotator table swaps only that section.
    page.select_option("#annotator-order", "agreement")
    page.wait_for_selector("#annotator-order >> option[value=agreement][selected]", state="attached")
    assert page.locator("canvas[data-chart=progress]").count() == 1
    assert page.console_errors == [] and page.dialogs == []
