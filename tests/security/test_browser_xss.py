"""The XSS crawl: hostile text in every field a user controls, every page that shows it
opened in a real Chromium. Nothing may run (no dialog, no marker set, no request to the
exfiltration prefix) and the CSP may report no violation: an escaped payload is inert
text, so a violation would mean markup reached the DOM and only the CSP stopped it.
"""

from __future__ import annotations

from typing import Any

import pytest

from apps.accounts.models import ProjectMembership
from apps.items.models import Generation
from apps.projects.services import guidelines_update
from tests.conftest import login
from tests.factories import make_item
from tests.security.xss_corpus import EXFILTRATION_PREFIX, PAYLOADS

# A payload that would leave a marker instead of a dialog (CSP blocks alert-free inline code just the same).
MARKER = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=1</script>"
CHOSEN = (
    "script", "img_onerror", "svg_onload", "iframe_srcdoc", "base_href", "meta_refresh", "markdown_javascript_link",
    "markdown_data_link", "htmx_get", "htmx_on", "django_template_variable", "bidi_override", "noscript_mxss",
)
HOSTILE = " ".join(PAYLOADS[name] for name in CHOSEN) + " " + MARKER
SHORT = PAYLOADS["img_onerror"] + PAYLOADS["htmx_on"] + MARKER  # for fields with a length limit

# Records CSP violations in the page itself, from the first script that runs.
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));
"""


def _visit(page: Any, path: str, exfiltration: list[str]) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, (path, response and response.status)
    page.wait_for_load_state("networkidle")
    state = page.evaluate("({xss: window.__xss || null, csp: window.__csp || null})")
    assert state["xss"] is None, f"a payload ran on {path}"
    assert state["csp"] == [], f"CSP violations on {path}: {state['csp']}"
    assert not page.dialogs, f"dialog on {path}: {page.dialogs}"
    assert not exfiltration, f"requests to {EXFILTRATION_PREFIX} from {path}: {exfiltration}"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_hostile_text_stays_inert_on_every_page_that_shows_it(page, owner, annotator, project):
    project.name = SHORT[:200]
    project.save(update_fields=["name"])
    guidelines_update(project=project, user=owner, text="# Guidelines\n\n" + HOSTILE)
    annotator.display_name = SHORT[: annotator._meta.get_field("display_name").max_length]
    annotator.username = "ann<img src=x onerror=alert(1)>"[:150]
    annotator.save(update_fields=["display_name", "username"])
    membership = ProjectMembership.objects.get(project=project, user=annotator)
    membership.guidelines_seen_version = project.guideline_versions.order_by("-version").first().version
    membership.save(update_fields=["guidelines_seen_version"])
    item = make_item(project, responses=2, prompt_text="Prompt " + HOSTILE)
    Generation.objects.filter(items=item).update(text="Output " + HOSTILE)

    exfiltration: list[str] = []
    page.on("request", lambda request: exfiltration.append(request.url) if EXFILTRATION_PREFIX in request.url else None)
    page.add_init_script(WATCH_CSP)

    login(page, owner)
    for path in (
        "/projects/",
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/items/",
        f"/items/{item.pk}/",
        f"/projects/{project.pk}/guidelines/",
        f"/projects/{project.pk}/members/",
        f"/projects/{project.pk}/quality/",
        f"/projects/{project.pk}/review/",
        f"/projects/{project.pk}/exports/",
    ):
        _visit(page, path, exfiltration)
    # The payloads were on the pages as text, not dropped: the test saw what it meant to test.
    page.goto(f"/items/{item.pk}/")
    assert "Output" in page.inner_text("body") and "Prompt" in page.inner_text("body")

    page.context.clear_cookies()
    login(page, annotator)
    _visit(page, f"/projects/{project.pk}/annotate/", exfiltration)
    page.get_by_text("Prompt", exact=False).first.wait_for()  # the item itself is on screen, as text
    assert page.evaluate("window.__xss || null") is None
    assert page.evaluate("window.__csp") == []
    assert not page.dialogs
