"""Fixtures for sampling: the fake chat-completions server, endpoints, prompts, AlpacaEval data."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json

import pytest

from apps.items.models import Generation, GenerationSource, Prompt
from apps.sampling.services.endpoints import endpoint_create
from tests.sampling.fake_openai import FakeOpenAI


@pytest.fixture(autouse=True)
def _fast_retries(settings):  # type: ignore[no-untyped-def]
    # Real backoff is half a second and up; tests keep the shape with tiny waits.
    settings.GENERATION_BACKOFF_BASE_MS = 5
    settings.GENERATION_BACKOFF_MAX_MS = 50
    settings.GENERATION_MAX_ATTEMPTS = 3


@pytest.fixture
def fake_server():  # type: ignore[no-untyped-def]
    server = FakeOpenAI().start()
    yield server
    server.stop()


def make_endpoint(organization, server, **data):  # type: ignore[no-untyped-def]
    api_key = data.pop("api_key", None)
    values = {"name": "fake-a", "base_url": server.url, "model_name": "fake-model-a", "max_concurrency": 4}
    values.update(data)
    return endpoint_create(organization=organization, user=None, data=values, api_key=api_key)


def make_prompts(project, count: int, *, metadata=None, prefix: str = "prompt"):  # type: ignore[no-untyped-def]
    rows = []
    for i in range(count):
        text = f"{prefix} {i}: explain topic number {i}"
        rows.append(
            Prompt(
                project=project,
                text=text,
                external_id=f"{prefix}-{i}",
                metadata=metadata(i) if callable(metadata) else dict(metadata or {}),
                content_hash=hashlib.sha256(f"{project.pk}:{text}".encode()).hexdigest(),
            )
        )
    return Prompt.objects.bulk_create(rows)


@functools.lru_cache(maxsize=1)
def _alpaca_rows(path: str) -> tuple[dict, ...]:  # type: ignore[type-arg]
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle)


def load_alpaca(project, shared_data):  # type: ignore[no-untyped-def]
    """AlpacaEval outputs as prompts (metadata: source) and imported generations (one per model)."""
    rows = _alpaca_rows(str(shared_data / "alpacaeval-outputs.jsonl.gz"))
    prompts: dict[str, Prompt] = {}
    for row in rows:
        if row["prompt_id"] in prompts:
            continue
        prompts[row["prompt_id"]] = Prompt(
            project=project,
            text=row["prompt"],
            external_id=str(row["prompt_id"]),
            metadata={"source": row["source"]},
            content_hash=hashlib.sha256(f"alpaca:{row['prompt_id']}".encode()).hexdigest(),
        )
    Prompt.objects.bulk_create(prompts.values())
    Generation.objects.bulk_create(
        Generation(
            project=project,
            prompt=prompts[row["prompt_id"]],
            model_name=row["model"],
            text=row["response"],
            source=GenerationSource.IMPORTED,
            content_hash=hashlib.sha256(f"alpaca:{row['prompt_id']}:{row['model']}".encode()).hexdigest(),
        )
        for row in rows
    )
    return rows


@pytest.fixture
def alpaca(project, shared_data):  # type: ignore[no-untyped-def]
    return load_alpaca(project, shared_data)
