"""Generation runs executed in-process against the fake chat-completions server."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.core.models import JobStatus
from apps.items.models import Generation, GenerationSource
from apps.sampling.execution import lease_acquire, run_endpoint_execute
from apps.sampling.models import GenerationRun, GenerationSlot, SlotStatus
from apps.sampling.selectors import generation_run_summary
from apps.sampling.services.runs import (
    generation_run_cancel,
    generation_run_create,
    generation_run_execute_inline,
    generation_run_resume,
)
from tests.sampling.conftest import make_endpoint, make_prompts
from tests.sampling.fake_openai import empty_choices, slow, status, truncated


def _run(project, endpoints, **kwargs) -> GenerationRun:  # type: ignore[no-untyped-def]
    run = generation_run_create(project=project, user=None, endpoint_ids=[e.pk for e in endpoints], **kwargs)
    return generation_run_execute_inline(run_id=run.pk)


def test_a_run_completes_with_the_right_number_of_generations(project, fake_server):
    make_prompts(project, 6)
    first = make_endpoint(project.organization, fake_server, name="model-a", model_name="fake-a")
    second = make_endpoint(project.organization, fake_server, name="model-b", model_name="fake-b")

    run = _run(project, [first, second], samples_per_prompt=2)

    assert run.status == JobStatus.SUCCEEDED
    assert run.total == 6 * 2 * 2
    generations = Generation.objects.filter(project=project, source=GenerationSource.GENERATED)
    assert generations.count() == 24
    assert set(generations.values_list("model_name", flat=True)) == {"model-a", "model-b"}
    assert len(fake_server.chat_requests()) == 24
    one = generations.filter(model_name="model-a").first()
    assert one.text.startswith("fake-a answers")
    assert one.finish_reason == "stop"
    assert one.completion_tokens == len(one.text.split())
    assert one.prompt_tokens and one.latency_ms is not None
    summary = generation_run_summary(run=run)
    assert (summary["succeeded"], summary["failed"], summary["pending"], summary["percent"]) == (24, 0, 0, 100)
    assert summary["completion_tokens"] == sum(generations.values_list("completion_tokens", flat=True))


def test_parameters_and_key_reach_the_server_as_sent(project, fake_server):
    fake_server.api_key = "sk-secret-123"
    make_prompts(project, 2)
    endpoint = make_endpoint(
        project.organization,
        fake_server,
        api_key="sk-secret-123",
        default_parameters={"temperature": 0.2, "max_tokens": 50, "system_prompt": "Be brief.", "seed": 7},
    )

    _run(project, [endpoint], parameters={"temperature": 0.9, "top_p": 0.5, "stop": ["\n\n"]}, samples_per_prompt=2)

    bodies = [r.body for r in fake_server.chat_requests()]
    assert len(bodies) == 4
    assert all(r.headers["Authorization"] == "Bearer sk-secret-123" for r in fake_server.chat_requests())
    for body in bodies:
        assert body["model"] == "fake-model-a"
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert body["messages"][1]["role"] == "user"
        assert (body["temperature"], body["top_p"], body["max_tokens"], body["stop"]) == (0.9, 0.5, 50, ["\n\n"])
        assert "system_prompt" not in body
    # Sample i is sent with seed + i so samples differ but stay reproducible.
    assert sorted(body["seed"] for body in bodies) == [7, 7, 8, 8]
    stored = Generation.objects.filter(project=project).order_by("pk").first()
    assert stored.parameters["temperature"] == 0.9 and stored.parameters["model"] == "fake-model-a"


def test_injected_failures_are_retried_then_reported(project, fake_server):
    make_prompts(project, 6, prefix="p")
    fake_server.script("p 1:", status(429, retry_after=1))  # once, then fine
    fake_server.script("p 2:", then=status(500))
    fake_server.script("p 3:", then=truncated())
    fake_server.script("p 4:", then=empty_choices())
    fake_server.script("p 5:", then=slow(3))
    endpoint = make_endpoint(project.organization, fake_server, timeout_seconds=0.5)

    run = _run(project, [endpoint])

    slots = {s.prompt.text.split(":")[0]: s for s in GenerationSlot.objects.select_related("prompt")}
    assert slots["p 0"].status == SlotStatus.SUCCEEDED and slots["p 0"].attempts == 1
    assert slots["p 1"].status == SlotStatus.SUCCEEDED and slots["p 1"].attempts == 2
    times = [r.at for r in fake_server.chat_requests() if "p 1:" in r.body["messages"][-1]["content"]]
    assert times[1] - times[0] >= 1.0, "Retry-After: 1 was not honoured"
    assert (slots["p 2"].status, slots["p 2"].error_reason, slots["p 2"].attempts) == ("failed", "server_error", 3)
    assert "HTTP 500" in slots["p 2"].error_message and "gave up after 3 attempts" in slots["p 2"].error_message
    assert (slots["p 3"].error_reason, slots["p 3"].attempts) == ("malformed_response", 1)
    assert "not valid JSON" in slots["p 3"].error_message
    assert (slots["p 4"].error_reason, slots["p 4"].error_message) == ("malformed_response", "response has no choices")
    assert (slots["p 5"].error_reason, slots["p 5"].attempts) == ("timeout", 3)
    assert run.status == JobStatus.SUCCEEDED  # some outputs came back; the failures are reported
    reasons = {row["reason"]: row["count"] for row in generation_run_summary(run=run)["failures_by_reason"]}
    assert reasons == {"server_error": 1, "malformed_response": 2, "timeout": 1}
    assert Generation.objects.filter(project=project).count() == 2


def test_a_rerun_asks_only_for_what_is_missing(project, fake_server):
    make_prompts(project, 4, prefix="q")
    fake_server.script("q 3:", status(500), status(500), status(500))  # fails the first run only
    endpoint = make_endpoint(project.organization, fake_server)
    first = _run(project, [endpoint])
    assert generation_run_summary(run=first)["failed"] == 1
    fake_server.requests.clear()

    second = _run(project, [endpoint])

    assert [r.body["messages"][-1]["content"][:4] for r in fake_server.chat_requests()] == ["q 3:"]
    assert generation_run_summary(run=second)["succeeded"] == 4
    assert Generation.objects.filter(project=project).count() == 4
    assert GenerationSlot.objects.count() == 4
    # Other parameters are other slots.
    _run(project, [endpoint], parameters={"temperature": 1.5})
    assert GenerationSlot.objects.count() == 8 and Generation.objects.count() == 8


def test_resume_retries_failures(project, fake_server):
    make_prompts(project, 2, prefix="r")
    fake_server.script("r 1:", status(503), status(503), status(503))
    endpoint = make_endpoint(project.organization, fake_server)
    run = _run(project, [endpoint])
    assert generation_run_summary(run=run)["failed"] == 1

    generation_run_resume(run=run)
    run = generation_run_execute_inline(run_id=run.pk)

    assert run.status == JobStatus.SUCCEEDED
    assert generation_run_summary(run=run)["succeeded"] == 2


def test_concurrency_and_rpm_limits_hold(project, fake_server):
    fake_server.latency = 0.2
    make_prompts(project, 9)
    endpoint = make_endpoint(project.organization, fake_server, max_concurrency=3)
    started = time.monotonic()
    _run(project, [endpoint])
    assert fake_server.max_in_flight == 3
    assert time.monotonic() - started >= 0.55  # three waves of 0.2 s

    fake_server.reset()
    fake_server.latency = 0
    make_prompts(project, 6, prefix="rpm")
    limited = make_endpoint(project.organization, fake_server, name="limited", rpm_limit=600, max_concurrency=6)
    _run(project, [limited])
    times = sorted(r.at for r in fake_server.chat_requests())
    assert len(times) == 15  # 9 earlier prompts + 6 new ones on a new endpoint
    # 600 per minute = a start every 0.1 s (arrival times jitter a little, the span does not).
    assert times[-1] - times[0] >= 14 * 0.1 - 0.05
    assert sum(1 for t in times if t - times[0] < 0.5) <= 6


def test_one_executor_per_endpoint(project, fake_server):
    make_prompts(project, 2)
    endpoint = make_endpoint(project.organization, fake_server)
    run = generation_run_create(project=project, user=None, endpoint_ids=[endpoint.pk])
    assert lease_acquire(endpoint_id=endpoint.pk, run_id=run.pk, token="someone-else", seconds=30)
    from apps.sampling.services.runs import generation_run_prepare

    generation_run_prepare(run_id=run.pk, dispatch=False)
    assert run_endpoint_execute(run_id=run.pk, endpoint_id=endpoint.pk) == "busy"
    assert fake_server.chat_requests() == []


def test_a_host_blocked_after_saving_fails_at_connect_time(project, fake_server, settings):
    make_prompts(project, 2)
    endpoint = make_endpoint(project.organization, fake_server)
    settings.MODEL_ENDPOINT_DENY = ["127.0.0.0/8"]  # as if the name now resolved somewhere forbidden

    run = _run(project, [endpoint])

    assert run.status == JobStatus.FAILED
    assert fake_server.chat_requests() == []
    slot = GenerationSlot.objects.first()
    assert slot.error_reason == "blocked_url" and "127.0.0.1" in slot.error_message


def test_redirects_are_not_followed(project, fake_server):
    from tests.sampling.fake_openai import redirect

    make_prompts(project, 1)
    fake_server.script(None, then=redirect("http://169.254.169.254/latest/meta-data/"))
    endpoint = make_endpoint(project.organization, fake_server)
    _run(project, [endpoint])
    slot = GenerationSlot.objects.get()
    assert slot.error_reason == "redirect_refused" and "169.254.169.254" in slot.error_message
    assert len(fake_server.requests) == 1


def test_create_validates_input(project, other_project, fake_server):
    endpoint = make_endpoint(project.organization, fake_server)
    foreign = make_endpoint(other_project.organization, fake_server, name="theirs")
    with pytest.raises(ValidationError) as error:
        generation_run_create(
            project=project,
            user=None,
            endpoint_ids=[endpoint.pk, foreign.pk],
            parameters={"temprature": 1},
            samples_per_prompt=0,
            prompt_selection={"mode": "stratified"},
        )
    errors = error.value.message_dict
    assert "unknown or archived endpoint" in errors["endpoints"][0]
    assert "temprature: is not a known parameter" in errors["parameters"][0]
    assert "samples_per_prompt" in errors
    assert "prompt_selection.stratify_by" in errors and "prompt_selection.sample_size" in errors
    with pytest.raises(ValidationError, match="selects no prompts"):
        generation_run_create(project=project, user=None, endpoint_ids=[endpoint.pk])


def test_prompt_selection_filter_and_stratified(project, fake_server):
    make_prompts(project, 30, metadata=lambda i: {"source": ["koala", "oasst", "vicuna"][i % 3] if i < 27 else "rare"})
    endpoint = make_endpoint(project.organization, fake_server)

    run = _run(project, [endpoint], prompt_selection={"mode": "filter", "filter": {"source": ["koala", "rare"]}})
    assert run.total == 9 + 3

    run = _run(
        project, [endpoint], prompt_selection={"mode": "stratified", "stratify_by": "source", "sample_size": 12, "seed": 3}
    )
    picked = GenerationSlot.objects.filter(runs=run).values_list("prompt__metadata__source", flat=True)
    assert sorted(picked) == sorted(["koala"] * 3 + ["oasst"] * 3 + ["vicuna"] * 3 + ["rare"] * 3)


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_executor(project, fake_server):
    fake_server.latency = 0.1
    make_prompts(project, 60)
    endpoint = make_endpoint(project.organization, fake_server, max_concurrency=2)
    run = generation_run_create(project=project, user=None, endpoint_ids=[endpoint.pk])
    results: list[GenerationRun] = []

    def execute() -> None:
        try:
            results.append(generation_run_execute_inline(run_id=run.pk))
        finally:
            connection.close()

    worker = threading.Thread(target=execute)
    worker.start()
    deadline = time.monotonic() + 10
    while Generation.objects.filter(project=project).count() < 4 and time.monotonic() < deadline:
        time.sleep(0.05)

    generation_run_cancel(run=run)
    worker.join(10)

    assert results and results[0].status == JobStatus.CANCELLED
    summary = generation_run_summary(run=results[0])
    assert 0 < summary["succeeded"] < 60 and summary["pending"] > 0
    calls = len(fake_server.chat_requests())
    time.sleep(0.5)
    assert len(fake_server.chat_requests()) == calls  # nothing more is sent


def test_deleting_a_project_or_organization_takes_the_runs_along(project, fake_server):
    make_prompts(project, 2)
    endpoint = make_endpoint(project.organization, fake_server)
    _run(project, [endpoint])
    with pytest.raises(Exception, match="restricted"):
        endpoint.delete()  # still used: the API and pages archive it instead
    project.organization.delete()
    assert not GenerationSlot.objects.exists() and not GenerationRun.objects.exists()


def test_a_host_that_stops_resolving_is_a_connection_failure(project, fake_server):
    from apps.sampling.models import ModelEndpoint

    make_prompts(project, 1)
    endpoint = ModelEndpoint.objects.create(
        organization=project.organization, name="gone", base_url="http://no-such-host.invalid/v1", model_name="m"
    )
    run = _run(project, [endpoint])
    slot = GenerationSlot.objects.get(runs=run)
    assert (slot.status, slot.error_reason) == ("failed", "connection_error")
    assert "does not resolve" in slot.error_message and slot.attempts == 3


def test_generated_responses_are_queued_for_search_indexing(project, fake_server, monkeypatch):
    from apps.items import search
    from apps.items.models import GenerationSearch

    queued: list[dict] = []
    monkeypatch.setattr(search, "search_index_queue", lambda **kwargs: queued.append(kwargs))
    make_prompts(project, 3)
    endpoint = make_endpoint(project.organization, fake_server, name="model-a", model_name="fake-a")

    run = _run(project, [endpoint])

    assert run.status == JobStatus.SUCCEEDED
    generated = Generation.objects.filter(project=project, source=GenerationSource.GENERATED)
    assert len(queued) == 1 and queued[0]["project_id"] == project.pk
    assert queued[0]["after_generation_id"] == min(generated.values_list("pk", flat=True)) - 1
    # What the queued task runs indexes exactly the generated responses.
    search.search_index_pending(**queued[0])
    indexed = set(GenerationSearch.objects.filter(project=project).values_list("generation_id", flat=True))
    assert indexed == set(generated.values_list("pk", flat=True))
