"""In a real Chromium: the strict CSP lets Verity's own scripts run (htmx, the API docs) and
reports no violation on legitimate pages."""

from __future__ import annotations

import pytest

from tests.conftest import login
from tests.factories import make_item


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_run_their_scripts_without_csp_violations(page, org_admin, project, org):
    make_item(project, responses=1, prompt_text="Write to jane.roe@example.org please")
    from apps.privacy.services import pii_scan_items

    pii_scan_items(item_ids=list(project.items.values_list("pk", flat=True)))
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)

    page.goto("/accounts/login/")
    assert page.evaluate("typeof window.htmx") == "object"
    login(page, org_admin)

    page.goto(f"/projects/{project.pk}/privacy/")
    assert page.evaluate("typeof window.htmx") == "object"
    assert "[EMAIL]" in page.locator("#pii-items").inner_text()
    page.get_by_label("Annotators see personal data as it is").check()
    page.get_by_role("button", name="Save policy").click()
    page.wait_for_selector("text=Policy saved")  # swapped in by htmx, so its script ran

    page.goto(f"/organizations/{org.pk}/audit/")
    page.locator("#audit-results").get_by_text("Personal-data policy changed").wait_for()

    page.goto("/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=20000)

    assert not violations, violations
    assert not page.dialogs
