"""manage.py generate and manage.py sample."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.items.models import Generation, Item
from apps.sampling.models import GenerationRun, SamplingPlan
from tests.sampling.conftest import make_endpoint, make_prompts


def run_command(*args: str) -> dict:  # type: ignore[type-arg]
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_generate_then_sample(project, fake_server):
    make_prompts(project, 4, metadata=lambda i: {"source": "a" if i % 2 else "b"})
    make_endpoint(project.organization, fake_server, name="one", model_name="m-one")
    make_endpoint(project.organization, fake_server, name="two", model_name="m-two")

    result = run_command(
        "generate", "--project", str(project.pk), "--endpoint", "one", "--endpoint", "two",
        "--param", "temperature=0.3", "--param", "stop=[\"END\"]", "--filter", "source=a", "--inline",
    )
    assert (result["status"], result["succeeded"], result["failed"]) == ("succeeded", 4, 0)
    assert {r.body["temperature"] for r in fake_server.chat_requests()} == {0.3}
    assert fake_server.chat_requests()[0].body["stop"] == ["END"]
    assert Generation.objects.count() == 4

    preview = run_command("sample", "--project", str(project.pk), "--strategy", "all_pairs", "--preview")
    assert preview["new_items"] == 2 and Item.objects.count() == 0
    made = run_command("sample", "--project", str(project.pk), "--strategy", "all_pairs", "--name", "pairs")
    assert (made["status"], made["created"]) == ("succeeded", 2)
    plan = SamplingPlan.objects.get(name="pairs")
    again = run_command("sample", "--plan", str(plan.pk))
    assert (again["created"], again["duplicates"]) == (0, 2)

    run = GenerationRun.objects.get()
    status = run_command("generate", "--status", str(run.pk))
    assert status["run"] == run.pk and status["succeeded"] == 4


def test_commands_name_bad_input(project, fake_server):
    make_prompts(project, 1)
    make_endpoint(project.organization, fake_server, name="one")
    with pytest.raises(CommandError, match="no endpoint 'nope'.*have: one"):
        call_command("generate", "--project", str(project.pk), "--endpoint", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="temprature"):
        call_command("generate", "--project", str(project.pk), "--endpoint", "one", "--param", "temprature=1",
                     stdout=StringIO())
    with pytest.raises(CommandError, match="config.budget"):
        call_command("sample", "--project", str(project.pk), "--strategy", "adaptive", stdout=StringIO())
    with pytest.raises(CommandError, match="--project"):
        call_command("sample", "--strategy", "each", stdout=StringIO())
    assert GenerationRun.objects.count() == 0
