"""Real Chromium: register an endpoint, test it, run a generation, plan items from the outputs."""

from __future__ import annotations

import re

import pytest

from apps.items.models import Item
from apps.sampling.models import GenerationRun, ModelEndpoint, PlanExecution
from apps.sampling.services.plans import plan_execution_run
from apps.sampling.services.runs import generation_run_execute_inline
from tests.conftest import login
from tests.sampling.conftest import make_prompts

SECRET = "sk-browser-secret-987654321"
XSS = "<script>alert('gen')</script><img src=x onerror=alert('img')>"


@pytest.fixture(autouse=True)
def _no_favicon(page):  # type: ignore[no-untyped-def]
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))


@pytest.mark.browser
def test_endpoint_run_and_plan_in_the_browser(page, owner, project, fake_server):  # type: ignore[no-untyped-def]
    fake_server.api_key = SECRET
    make_prompts(project, 3, prefix=XSS)  # the fake model echoes the prompt: hostile output
    login(page, owner)

    page.goto("/model-endpoints/")
    page.fill("#id_base_url", fake_server.url)
    page.fill("#id_model_name", "fake-model")
    page.fill("#id_name", "fake")
    # Fields follow the key choice (sampling.js): "No key" is the default.
    assert not page.locator("#id_api_key").is_visible()
    page.check("input[name=key_source][value=env]")
    assert page.locator("#id_api_key_env").is_visible() and not page.locator("#id_api_key").is_visible()
    page.check("input[name=key_source][value=stored]")
    page.fill("#id_api_key", SECRET)
    page.fill("#id_temperature", "0.2")
    page.click("button:has-text('Add endpoint')")
    page.wait_for_selector("text=Test the connection before a run")
    endpoint = ModelEndpoint.objects.get()
    page.click(f"#test-{endpoint.pk} ~ td button:has-text('Test')")
    page.wait_for_selector(f"#test-{endpoint.pk} >> text=connected")
    assert SECRET not in page.content()

    page.goto(f"/projects/{project.pk}/generation-runs/")
    page.check(f"input[name=endpoints][value='{endpoint.pk}']")
    page.fill("#id_max_tokens", "40")
    page.click("button:has-text('Start run')")
    page.wait_for_url(re.compile(r"/generation-runs/\d+/$"))
    run = GenerationRun.objects.get()
    assert run.parameters == {"max_tokens": 40}
    page.wait_for_selector("#run-progress >> text=Queued")
    generation_run_execute_inline(run_id=run.pk)
    # The progress panel polls every 2 s and stops once the run is done.
    page.wait_for_selector("#run-progress >> text=Succeeded", timeout=10_000)
    page.wait_for_selector("#run-progress >> text=3 done")
    page.reload()
    outputs = page.locator("table.outputs")
    assert "<script>alert('gen')</script>" in outputs.inner_text()  # shown as text, never run
    assert SECRET not in page.content()

    page.click("nav.project-nav >> text=Sampling")
    page.fill("#id_name", "singles")
    page.select_option("#id_strategy", "each")
    page.click("button:has-text('Preview counts')")
    page.wait_for_selector("#plan-preview >> text=3 new items")
    page.click("button:has-text('Save and run')")
    page.wait_for_url(re.compile(r"/sampling-plans/\d+/$"))
    plan_execution_run(execution_id=PlanExecution.objects.get().pk)
    page.wait_for_selector("#plan-history >> text=Succeeded", timeout=10_000)
    assert Item.objects.filter(project=project).count() == 3
    assert page.dialogs == [] and page.console_errors == []
