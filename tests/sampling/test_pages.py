"""The sampling pages: endpoints, runs, plans. Works, wrong method, anonymous, outsider, bad input."""

from __future__ import annotations

from django.test import Client

from apps.items.models import Item
from apps.sampling.models import GenerationRun, ModelEndpoint, PlanExecution, SamplingPlan
from apps.sampling.services.runs import generation_run_create, generation_run_execute_inline
from tests.conftest import client_for
from tests.factories import GenerationFactory, PromptFactory
from tests.sampling.conftest import make_endpoint, make_prompts
from tests.sampling.fake_openai import echo_auth, status

SECRET = "sk-page-secret-0123456789"
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_endpoint_pages(owner, project, fake_server):
    client = client_for(owner)
    page = client.get("/model-endpoints/")
    assert page.status_code == 200 and "No model endpoints yet" in page.content.decode()

    bad = client.post("/model-endpoints/", {"base_url": "http://169.254.169.254/", "model_name": "m", "key_source": "none",
                                            "max_concurrency": 4, "timeout_seconds": 30})
    assert bad.status_code == 422 and "MODEL_ENDPOINT_DENY" in bad.content.decode()

    created = client.post(
        "/model-endpoints/",
        {"base_url": fake_server.url, "model_name": "fake-model", "name": "<b>bold</b>", "key_source": "stored",
         "api_key": SECRET, "max_concurrency": 4, "timeout_seconds": 30, "temperature": "0.3"},
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    endpoint = ModelEndpoint.objects.get()
    assert endpoint.default_parameters == {"temperature": 0.3}
    listing = client.get("/model-endpoints/").content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in listing and "<b>bold</b>" not in listing
    assert SECRET not in listing and endpoint.api_key_encrypted not in listing

    tested = client.post(f"/model-endpoints/{endpoint.pk}/test/", **HTMX)
    assert tested.status_code == 200 and "connected" in tested.content.decode()
    fake_server.script(None, then=echo_auth())
    failed = client.post(f"/model-endpoints/{endpoint.pk}/test/", **HTMX).content.decode()
    assert "failed" in failed and SECRET not in failed

    edit = client.get(f"/model-endpoints/{endpoint.pk}/").content.decode()
    assert SECRET not in edit and "a key is stored" in edit
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(default_parameters={"temperature": 0.3, "stop": ["END"]})
    # Saving without touching the key keeps it, and parameters the form does not show stay.
    saved = client.post(f"/model-endpoints/{endpoint.pk}/", {"base_url": fake_server.url, "model_name": "fake-model",
                                                           "name": "renamed", "key_source": "keep",
                                                           "max_concurrency": 2, "timeout_seconds": 10})
    assert saved.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.name == "renamed" and endpoint.api_key_source == "stored"
    assert endpoint.default_parameters == {"stop": ["END"]}  # temperature was cleared in the form
    assert client.get(f"/model-endpoints/{endpoint.pk}/test/").status_code == 405
    assert client.post(f"/model-endpoints/{endpoint.pk}/archive/").status_code == 302
    assert not ModelEndpoint.objects.exists()


def test_endpoint_pages_access(owner, annotator, outsider, project, fake_server):
    endpoint = make_endpoint(project.organization, fake_server)
    assert Client().get("/model-endpoints/").status_code == 302  # to sign-in
    assert client_for(annotator).get("/model-endpoints/").status_code == 403
    for url in (f"/model-endpoints/{endpoint.pk}/",):
        assert client_for(outsider).get(url).status_code == 404
    assert client_for(outsider).post(f"/model-endpoints/{endpoint.pk}/test/").status_code == 404
    assert client_for(outsider).post(f"/model-endpoints/{endpoint.pk}/archive/").status_code == 404
    assert ModelEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_run_pages(owner, project, fake_server):
    make_prompts(project, 3, metadata={"source": "koala"})
    fake_server.script("prompt 1:", then=status(500))
    endpoint = make_endpoint(project.organization, fake_server, api_key=SECRET)
    client = client_for(owner)
    page = client.get(f"/projects/{project.pk}/generation-runs/").content.decode()
    assert "No generation runs yet" in page and "3 prompts" in page and "<code>source</code>" in page

    bad = client.post(f"/projects/{project.pk}/generation-runs/", {"endpoints": [endpoint.pk], "samples_per_prompt": 1,
                                                                  "mode": "stratified"})
    assert bad.status_code == 422 and "metadata key" in bad.content.decode()

    started = client.post(f"/projects/{project.pk}/generation-runs/",
                          {"endpoints": [endpoint.pk], "samples_per_prompt": 1, "mode": "all", "temperature": "0.4"})
    assert started.status_code == 302
    run = GenerationRun.objects.get()
    assert run.parameters == {"temperature": 0.4}
    progress = client.get(f"/projects/{project.pk}/generation-runs/{run.pk}/?fragment=progress", **HTMX).content.decode()
    assert 'hx-trigger="every 2s"' in progress and "<html" not in progress

    generation_run_execute_inline(run_id=run.pk)
    detail = client.get(f"/projects/{project.pk}/generation-runs/{run.pk}/").content.decode()
    assert "Failures by reason" in detail and "server_error" in detail and "fake-model-a answers" in detail
    assert "every 2s" not in detail  # finished: polling stops
    assert SECRET not in detail
    failed_only = client.get(f"/projects/{project.pk}/generation-runs/{run.pk}/?status=failed").content.decode()
    assert "HTTP 500" in failed_only and "fake-model-a answers" not in failed_only
    assert "Resume and retry failures" in detail
    assert client.post(f"/projects/{project.pk}/generation-runs/{run.pk}/resume/").status_code == 302
    assert client.get(f"/projects/{project.pk}/generation-runs/{run.pk}/cancel/").status_code == 405
    assert client.post(f"/projects/{project.pk}/generation-runs/{run.pk}/cancel/").status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"


def test_run_pages_access(owner, annotator, outsider, project, other_project, fake_server):
    make_prompts(project, 1)
    endpoint = make_endpoint(project.organization, fake_server)
    run = generation_run_create(project=project, user=owner, endpoint_ids=[endpoint.pk])
    for url in (f"/projects/{project.pk}/generation-runs/", f"/projects/{project.pk}/generation-runs/{run.pk}/"):
        assert client_for(outsider).get(url).status_code == 404
        assert client_for(annotator).get(url).status_code == 403
        assert Client().get(url).status_code == 302
    # A run id under another project's URL is not found either.
    assert client_for(owner).get(f"/projects/{other_project.pk}/generation-runs/{run.pk}/").status_code == 404
    assert client_for(outsider).post(f"/projects/{project.pk}/generation-runs/{run.pk}/cancel/").status_code == 404


def test_plan_pages(owner, project):
    for _ in range(6):
        prompt = PromptFactory(project=project)
        for model in ("m1", "m2", "m3"):
            GenerationFactory(project=project, prompt=prompt, model_name=model)
    client = client_for(owner)
    page = client.get(f"/projects/{project.pk}/sampling-plans/").content.decode()
    assert "No plans yet" in page and 'value="m2"' in page

    preview = client.post(f"/projects/{project.pk}/sampling-plans/preview/",
                          {"strategy": "all_pairs", "seed": 0, "priority": 0}, **HTMX).content.decode()
    assert "<strong>18</strong> new items" in preview and "m1 vs m2" in preview and "<html" not in preview
    bad_preview = client.post(f"/projects/{project.pk}/sampling-plans/preview/",
                              {"strategy": "stratified", "seed": 0, "priority": 0}, **HTMX).content.decode()
    assert "config.budget" in bad_preview

    invalid = client.post(f"/projects/{project.pk}/sampling-plans/", {"name": "x", "strategy": "adaptive", "seed": 0,
                                                                    "priority": 0})
    assert invalid.status_code == 422 and "required for this strategy" in invalid.content.decode()

    created = client.post(f"/projects/{project.pk}/sampling-plans/",
                          {"name": "pairs", "strategy": "k_pairs", "k": 2, "seed": 3, "priority": 1, "mix_gold": "on"})
    assert created.status_code == 302
    plan = SamplingPlan.objects.get()
    assert plan.config == {"k": 2}
    detail = client.get(f"/projects/{project.pk}/sampling-plans/{plan.pk}/").content.decode()
    assert "Not run yet" in detail

    assert client.post(f"/projects/{project.pk}/sampling-plans/{plan.pk}/run/").status_code == 302
    execution = PlanExecution.objects.get()
    history = client.get(f"/projects/{project.pk}/sampling-plans/{plan.pk}/?fragment=history", **HTMX).content.decode()
    assert "every 2s" in history  # queued: the history polls
    from apps.sampling.services.plans import plan_execution_run

    plan_execution_run(execution_id=execution.pk)
    history = client.get(f"/projects/{project.pk}/sampling-plans/{plan.pk}/?fragment=history", **HTMX).content.decode()
    assert "every 2s" not in history and "<td>12</td>" in history
    assert Item.objects.count() == 12

    saved = client.post(f"/projects/{project.pk}/sampling-plans/{plan.pk}/",
                        {"name": "pairs", "strategy": "k_pairs", "k": 1, "seed": 3, "priority": 1,
                         "continuous": "on", "target_open_items": 40})
    assert saved.status_code == 302
    plan.refresh_from_db()
    assert (plan.continuous, plan.target_open_items, plan.config["k"]) == (True, 40, 1)
    assert client.post(f"/projects/{project.pk}/sampling-plans/{plan.pk}/toggle/").status_code == 302
    plan.refresh_from_db()
    assert plan.is_active is False


def test_plan_pages_access(owner, annotator, outsider, project, other_project):
    plan = SamplingPlan.objects.create(project=project, name="p", strategy="each")
    for url in (f"/projects/{project.pk}/sampling-plans/", f"/projects/{project.pk}/sampling-plans/{plan.pk}/"):
        assert client_for(outsider).get(url).status_code == 404
        assert client_for(annotator).get(url).status_code == 403
        assert Client().get(url).status_code == 302
    assert client_for(owner).get(f"/projects/{other_project.pk}/sampling-plans/{plan.pk}/").status_code == 404
    assert client_for(outsider).post(f"/projects/{project.pk}/sampling-plans/{plan.pk}/run/").status_code == 404
    assert client_for(owner).get(f"/projects/{project.pk}/sampling-plans/{plan.pk}/run/").status_code == 405
    assert PlanExecution.objects.count() == 0
