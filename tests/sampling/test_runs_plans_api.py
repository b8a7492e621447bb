"""Generation runs and sampling plans over the API: works, wrong method, anonymous, outsider, bad input."""

from __future__ import annotations

from rest_framework.test import APIClient

from apps.core.models import JobStatus
from apps.items.models import Item
from apps.sampling.models import GenerationRun, PlanExecution, SamplingPlan
from apps.sampling.services.plans import plan_execution_run
from apps.sampling.services.runs import generation_run_create, generation_run_execute_inline
from tests.conftest import api_client_for
from tests.factories import GenerationFactory, PromptFactory
from tests.sampling.conftest import make_endpoint, make_prompts
from tests.sampling.fake_openai import status


def runs_url(project) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/generation-runs/"


def plans_url(project) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/sampling-plans/"


def test_a_run_over_the_api(owner, project, fake_server, django_capture_on_commit_callbacks):
    make_prompts(project, 3, metadata={"source": "koala"})
    fake_server.script("prompt 2:", then=status(500))
    endpoint = make_endpoint(project.organization, fake_server, api_key="sk-never-shown", price_per_1k_completion_tokens="2")
    client = api_client_for(owner)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            runs_url(project),
            {
                "name": "first",
                "endpoints": [endpoint.pk],
                "parameters": {"temperature": 0.5},
                "prompt_selection": {"mode": "filter", "filter": {"source": "koala"}},
                "samples_per_prompt": 1,
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    assert len(callbacks) == 1  # the prepare task is queued after commit, not before
    body = response.json()
    assert (body["status"], body["total"], body["endpoints"][0]["name"]) == ("queued", 3, "fake-a")
    generation_run_execute_inline(run_id=body["id"])

    run = client.get(f"/api/v1/generation-runs/{body['id']}/").json()
    assert run["status"] == "succeeded"
    progress = run["progress"]
    assert (progress["succeeded"], progress["failed"], progress["pending"]) == (2, 1, 0)
    assert progress["failures_by_reason"][0]["reason"] == "server_error"
    assert float(progress["cost"]) == progress["completion_tokens"] / 1000 * 2
    outputs = client.get(f"/api/v1/generation-runs/{body['id']}/outputs/?status=failed").json()["results"]
    assert len(outputs) == 1 and "HTTP 500" in outputs[0]["error_message"]
    done = client.get(f"/api/v1/generation-runs/{body['id']}/outputs/?status=succeeded").json()["results"]
    assert done[0]["generation"]["parameters"]["temperature"] == 0.5
    assert [r["id"] for r in client.get(runs_url(project)).json()["results"]] == [body["id"]]
    for url in (runs_url(project), f"/api/v1/generation-runs/{body['id']}/", f"/api/v1/generation-runs/{body['id']}/outputs/"):
        assert "sk-never-shown" not in client.get(url).content.decode()

    # Finished: cancelling is a conflict; resuming retries the failure.
    assert client.post(f"/api/v1/generation-runs/{body['id']}/cancel/").status_code == 409
    fake_server.reset()
    resumed = client.post(f"/api/v1/generation-runs/{body['id']}/resume/", {}, format="json")
    assert resumed.status_code == 202 and resumed.json()["status"] == "queued"
    generation_run_execute_inline(run_id=body["id"])
    assert client.get(f"/api/v1/generation-runs/{body['id']}/").json()["progress"]["succeeded"] == 3


def test_cancel_a_queued_run(owner, project, fake_server):
    make_prompts(project, 2)
    endpoint = make_endpoint(project.organization, fake_server)
    client = api_client_for(owner)
    run_id = client.post(runs_url(project), {"endpoints": [endpoint.pk]}, format="json").json()["id"]
    response = client.post(f"/api/v1/generation-runs/{run_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert generation_run_execute_inline(run_id=run_id).status == JobStatus.CANCELLED
    assert fake_server.chat_requests() == []


def test_runs_reject_bad_input(owner, project, other_project, fake_server):
    make_prompts(project, 2)
    theirs = make_endpoint(other_project.organization, fake_server, name="theirs")
    client = api_client_for(owner)
    cases = [
        ({"endpoints": [theirs.pk]}, "endpoints"),
        ({"endpoints": []}, "endpoints"),
        ({"endpoints": [theirs.pk], "parameters": {"temperature": 9}}, "parameters"),
        ({"endpoints": [1], "prompt_selection": {"mode": "random"}}, "prompt_selection.mode"),
        ({"endpoints": [1], "samples_per_prompt": 1000}, "samples_per_prompt"),
        ({"endpoints": [1], "extra": True}, "extra"),
    ]
    for payload, field in cases:
        response = client.post(runs_url(project), payload, format="json")
        assert response.status_code == 400, (payload, response.content)
        assert field in response.json()["error"]["details"], (payload, response.json())
    assert GenerationRun.objects.count() == 0


def test_run_access(owner, annotator, outsider, project, fake_server):
    make_prompts(project, 1)
    endpoint = make_endpoint(project.organization, fake_server)
    run_id = api_client_for(owner).post(runs_url(project), {"endpoints": [endpoint.pk]}, format="json").json()["id"]
    for url in (runs_url(project), f"/api/v1/generation-runs/{run_id}/", f"/api/v1/generation-runs/{run_id}/outputs/"):
        assert api_client_for(outsider).get(url).status_code == 404
        assert api_client_for(annotator).get(url).status_code == 403
        assert APIClient().get(url).status_code in (401, 403)
    assert api_client_for(outsider).post(f"/api/v1/generation-runs/{run_id}/cancel/").status_code == 404
    assert api_client_for(owner).delete(f"/api/v1/generation-runs/{run_id}/").status_code == 405
    assert api_client_for(owner).get(f"/api/v1/generation-runs/{run_id}/cancel/").status_code == 405


def _pairs_project(project) -> None:  # type: ignore[no-untyped-def]
    for i in range(10):
        prompt = PromptFactory(project=project, metadata={"source": "a" if i < 5 else "b"})
        for model in ("m1", "m2", "m3"):
            GenerationFactory(project=project, prompt=prompt, model_name=model)


def test_a_plan_over_the_api(owner, project, django_capture_on_commit_callbacks):
    _pairs_project(project)
    client = api_client_for(owner)

    preview = client.post(
        plans_url(project) + "preview/", {"strategy": "k_pairs", "config": {"k": 2}, "seed": 1}, format="json"
    )
    assert preview.status_code == 200, preview.content
    assert (preview.json()["new_items"], preview.json()["prompts"]) == (20, 10)

    created = client.post(
        plans_url(project), {"name": "arena", "strategy": "k_pairs", "config": {"k": 2}, "seed": 1}, format="json"
    )
    assert created.status_code == 201, created.content
    plan_id = created.json()["id"]
    assert client.post(f"/api/v1/sampling-plans/{plan_id}/preview/", {}, format="json").json()["new_items"] == 20

    with django_capture_on_commit_callbacks() as callbacks:
        started = client.post(f"/api/v1/sampling-plans/{plan_id}/run/", {"limit": 12}, format="json")
    assert started.status_code == 202 and started.json()["status"] == "queued" and len(callbacks) == 1
    plan_execution_run(execution_id=started.json()["id"])
    assert Item.objects.filter(project=project).count() == 12

    history = client.get(f"/api/v1/sampling-plans/{plan_id}/executions/").json()["results"]
    assert (history[0]["status"], history[0]["created"], history[0]["trigger"]) == ("succeeded", 12, "api")
    plan = client.get(f"/api/v1/sampling-plans/{plan_id}/").json()
    assert plan["last_execution"]["created"] == 12
    assert [p["id"] for p in client.get(plans_url(project)).json()["results"]] == [plan_id]

    patched = client.patch(
        f"/api/v1/sampling-plans/{plan_id}/", {"continuous": True, "target_open_items": 30}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["continuous"] is True
    assert client.patch(f"/api/v1/sampling-plans/{plan_id}/", {"target_open_items": 0}, format="json").status_code == 400
    assert client.delete(f"/api/v1/sampling-plans/{plan_id}/").status_code == 204
    assert not SamplingPlan.objects.exists() and Item.objects.count() == 12  # its items stay


def test_plans_reject_bad_input(owner, project):
    client = api_client_for(owner)
    cases = [
        ({"name": "x", "strategy": "random"}, "strategy"),
        ({"name": "x", "strategy": "stratified"}, "config.budget"),
        ({"name": "x", "strategy": "stratified", "config": {"budget": 5, "strata": ["bad key!"]}}, "config.strata"),
        ({"name": "x", "strategy": "each", "config": {"generation_run": 999999}}, "config.generation_run"),
        ({"name": "x", "strategy": "each", "continuous": True}, "target_open_items"),
        ({"strategy": "each"}, "name"),
    ]
    for payload, field in cases:
        response = client.post(plans_url(project), payload, format="json")
        assert response.status_code == 400, (payload, response.content)
        assert field in response.json()["error"]["details"], (payload, response.json())
    bad_preview = client.post(plans_url(project) + "preview/", {"strategy": "adaptive"}, format="json")
    assert bad_preview.status_code == 400 and "config.budget" in bad_preview.json()["error"]["details"]


def test_plan_access(owner, annotator, outsider, project):
    plan_id = api_client_for(owner).post(plans_url(project), {"name": "x", "strategy": "each"}, format="json").json()["id"]
    urls = [plans_url(project), f"/api/v1/sampling-plans/{plan_id}/", f"/api/v1/sampling-plans/{plan_id}/executions/"]
    for url in urls:
        assert api_client_for(outsider).get(url).status_code == 404
        assert api_client_for(annotator).get(url).status_code == 403
        assert APIClient().get(url).status_code in (401, 403)
    assert api_client_for(outsider).post(f"/api/v1/sampling-plans/{plan_id}/run/").status_code == 404
    assert api_client_for(outsider).delete(f"/api/v1/sampling-plans/{plan_id}/").status_code == 404
    assert api_client_for(owner).get(f"/api/v1/sampling-plans/{plan_id}/run/").status_code == 405
    assert PlanExecution.objects.count() == 0 and SamplingPlan.objects.filter(pk=plan_id).exists()


def test_list_queries_do_not_grow_with_rows(owner, project, fake_server):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.sampling.models import SamplingPlan
    from tests.conftest import client_for

    make_prompts(project, 2)
    endpoint = make_endpoint(project.organization, fake_server)
    client, page = api_client_for(owner), client_for(owner)

    def counts() -> tuple[int, int, int]:
        result = []
        for fetch in (
            lambda: client.get(runs_url(project)),
            lambda: page.get(f"/projects/{project.pk}/generation-runs/"),
            lambda: client.get(plans_url(project)),
        ):
            with CaptureQueriesContext(connection) as captured:
                assert fetch().status_code == 200
            result.append(len(captured))
        return tuple(result)  # type: ignore[return-value]

    def add_rows() -> None:
        run = generation_run_create(project=project, user=owner, endpoint_ids=[endpoint.pk], enqueue=False)
        generation_run_execute_inline(run_id=run.pk)
        plan = SamplingPlan.objects.create(project=project, name=f"p{run.pk}", strategy="each")
        PlanExecution.objects.create(plan=plan, status="succeeded", created=1)

    add_rows()
    one = counts()
    for _ in range(3):
        add_rows()
    assert counts() == one
