"""GET, POST /api/v1/model-endpoints/ · GET, PATCH, DELETE /api/v1/model-endpoints/{id}/ · POST …/test/"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.sampling.api_keys import api_key_decrypt
from apps.sampling.models import ModelEndpoint
from tests.conftest import api_client_for
from tests.sampling.conftest import make_endpoint
from tests.sampling.fake_openai import echo_auth

SECRET = "sk-live-THIS-MUST-NEVER-LEAK-42"
LIST = "/api/v1/model-endpoints/"


def detail(endpoint) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/model-endpoints/{endpoint.pk}/"


def test_it_creates_an_endpoint_and_never_returns_the_key(owner, fake_server):
    response = api_client_for(owner).post(
        LIST,
        {
            "base_url": fake_server.url + "/chat/completions",
            "model_name": "meta-llama/Meta-Llama-3-8B-Instruct",
            "api_key": SECRET,
            "default_parameters": {"temperature": 0.7, "max_tokens": 256},
            "max_concurrency": 16,
            "rpm_limit": 600,
            "price_per_1k_prompt_tokens": "0.0005",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert SECRET not in response.content.decode()
    assert "api_key" not in body and "api_key_encrypted" not in body
    assert body["api_key_source"] == "stored"
    assert body["base_url"] == fake_server.url  # the pasted route is trimmed
    assert body["name"] == "meta-llama/Meta-Llama-3-8B-Instruct"
    stored = ModelEndpoint.objects.get(pk=body["id"])
    assert SECRET not in stored.api_key_encrypted
    assert api_key_decrypt(stored.api_key_encrypted) == SECRET


def test_it_lists_only_the_callers_organizations(owner, outsider, annotator, fake_server, other_project, project):
    mine = make_endpoint(project.organization, fake_server, name="ours")
    make_endpoint(other_project.organization, fake_server, name="theirs")

    assert [e["name"] for e in api_client_for(owner).get(LIST).json()["results"]] == ["ours"]
    assert [e["name"] for e in api_client_for(outsider).get(LIST).json()["results"]] == ["theirs"]
    # Annotators are not organization members: nothing to see, nothing to create.
    assert api_client_for(annotator).get(LIST).json()["results"] == []
    assert api_client_for(annotator).post(LIST, {"base_url": fake_server.url, "model_name": "m"}).status_code == 403
    assert api_client_for(owner).get(detail(mine)).json()["name"] == "ours"


def test_it_rejects_anonymous_and_wrong_methods(owner):
    assert APIClient().get(LIST).status_code in (401, 403)
    assert api_client_for(owner).put(LIST, {}, format="json").status_code == 405


def test_outsiders_get_404(outsider, project, fake_server):
    endpoint = make_endpoint(project.organization, fake_server)
    client = api_client_for(outsider)
    assert client.get(detail(endpoint)).status_code == 404
    assert client.patch(detail(endpoint), {"name": "mine now"}, format="json").status_code == 404
    assert client.delete(detail(endpoint)).status_code == 404
    assert client.post(detail(endpoint) + "test/").status_code == 404
    assert ModelEndpoint.objects.get(pk=endpoint.pk).name == "fake-a"


@pytest.mark.parametrize(
    ("payload", "field", "needle"),
    [
        ({"base_url": "ftp://example.org/v1"}, "base_url", "http:// or https://"),
        ({"base_url": "http://169.254.169.254/v1"}, "base_url", "MODEL_ENDPOINT_DENY"),
        ({"base_url": "http://[fd00:ec2::254]/v1"}, "base_url", "MODEL_ENDPOINT_DENY"),
        ({"base_url": "http://user:pw@localhost/v1"}, "base_url", "user name or password"),
        ({"base_url": "http://no-such-host.invalid/v1"}, "base_url", "does not resolve"),
        ({"default_parameters": {"temprature": 1}}, "default_parameters", "not a known parameter"),
        ({"default_parameters": {"top_p": 3}}, "default_parameters", "top_p"),
        ({"api_key_env": "SECRET_KEY"}, "api_key_env", "MODEL_ENDPOINT_KEY_ENVS"),
        ({"max_concurrency": 0}, "max_concurrency", ""),
        ({"surprise": 1}, "surprise", "Unknown field"),
    ],
)
def test_it_names_bad_input(owner, fake_server, payload, field, needle):
    data = {"base_url": fake_server.url, "model_name": "m", **payload}
    response = api_client_for(owner).post(LIST, data, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"]
    assert needle in str(error["details"][field]) or needle in error["message"]


def test_the_allow_list_admits_only_what_it_names(owner, fake_server, settings):
    settings.MODEL_ENDPOINT_ALLOW = ["api.example.com"]
    response = api_client_for(owner).post(LIST, {"base_url": fake_server.url, "model_name": "m"}, format="json")
    assert response.status_code == 400 and "MODEL_ENDPOINT_ALLOW" in response.json()["error"]["message"]
    settings.MODEL_ENDPOINT_ALLOW = ["127.0.0.0/8"]
    assert api_client_for(owner).post(LIST, {"base_url": fake_server.url, "model_name": "m"}, format="json").status_code == 201


def test_patch_rotates_and_clears_the_key(owner, project, fake_server):
    endpoint = make_endpoint(project.organization, fake_server, api_key="old-key")
    client = api_client_for(owner)

    response = client.patch(detail(endpoint), {"api_key": SECRET, "rpm_limit": 30}, format="json")
    assert response.status_code == 200 and SECRET not in response.content.decode()
    endpoint.refresh_from_db()
    assert api_key_decrypt(endpoint.api_key_encrypted) == SECRET and endpoint.rpm_limit == 30

    response = client.patch(detail(endpoint), {"clear_api_key": True}, format="json")
    assert response.json()["api_key_source"] == "none"
    assert client.patch(detail(endpoint), {"timeout_seconds": -1}, format="json").status_code == 400


def test_an_env_key_must_be_allowed_and_is_read_on_the_worker(owner, project, fake_server, settings, monkeypatch):
    settings.MODEL_ENDPOINT_KEY_ENVS = ["FAKE_API_KEY@127.0.0.1"]
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    fake_server.api_key = SECRET
    client = api_client_for(owner)
    response = client.post(LIST, {"base_url": fake_server.url, "model_name": "m", "api_key_env": "FAKE_API_KEY"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["api_key_source"] == "env" and response.json()["api_key_env"] == "FAKE_API_KEY"

    result = client.post(f"{LIST}{response.json()['id']}/test/").json()
    assert result["ok"] is True, result
    assert fake_server.chat_requests()[-1].headers["Authorization"] == f"Bearer {SECRET}"

    settings.MODEL_ENDPOINT_KEY_ENVS = ["FAKE_API_KEY@api.openai.com"]  # bound to another host now
    result = client.post(f"{LIST}{response.json()['id']}/test/").json()
    assert result["ok"] is False and "may only be sent to api.openai.com" in result["message"]


def test_the_connection_test_reports_success_and_failure(owner, project, fake_server):
    endpoint = make_endpoint(project.organization, fake_server, api_key=SECRET)
    client = api_client_for(owner)

    ok = client.post(detail(endpoint) + "test/")
    assert ok.status_code == 200 and ok.json()["ok"] is True and ok.json()["latency_ms"] is not None
    assert fake_server.chat_requests()[-1].body["model"] == "fake-model-a"

    fake_server.script(None, then=echo_auth())  # a server that repeats our Authorization header
    failed = client.post(detail(endpoint) + "test/")
    assert failed.json()["ok"] is False and failed.json()["reason"] == "client_error"
    assert "[redacted]" in failed.json()["message"]
    assert SECRET not in failed.content.decode()
    assert SECRET not in client.get(detail(endpoint)).content.decode()
    assert client.get(detail(endpoint)).json()["last_test"]["ok"] is False
    assert client.get(f"{detail(endpoint)}test/").status_code == 405


def test_delete_archives_a_used_endpoint_and_deletes_an_unused_one(owner, project, fake_server):
    unused = make_endpoint(project.organization, fake_server, name="unused")
    assert api_client_for(owner).delete(detail(unused)).status_code == 204
    assert not ModelEndpoint.objects.filter(pk=unused.pk).exists()

    from apps.sampling.services.runs import generation_run_create, generation_run_prepare
    from tests.sampling.conftest import make_prompts

    used = make_endpoint(project.organization, fake_server, name="used", api_key=SECRET)
    make_prompts(project, 1)
    run = generation_run_create(project=project, user=owner, endpoint_ids=[used.pk])
    generation_run_prepare(run_id=run.pk, dispatch=False)
    assert api_client_for(owner).delete(detail(used)).status_code == 204
    used.refresh_from_db()
    assert used.archived_at is not None and used.api_key_encrypted == ""
    assert api_client_for(owner).get(detail(used)).status_code == 404
