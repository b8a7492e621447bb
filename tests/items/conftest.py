"""Fixtures of the items tests: uploads go to a temporary MEDIA_ROOT (also for worker subprocesses)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from apps.items.models import ImportJob
from apps.items.services import import_job_create, import_job_run, import_upload_store


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings, monkeypatch):  # type: ignore[no-untyped-def]
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    monkeypatch.setenv("MEDIA_ROOT", str(media))  # inherited by celery worker subprocesses
    return media


def jsonl_bytes(rows: list[dict], *, gz: bool = False) -> bytes:
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    return gzip.compress(body) if gz else body


def run_import(project, data: bytes | Path, mapping: dict, *, name: str = "data.jsonl", user=None) -> ImportJob:  # type: ignore[no-untyped-def]
    """Store the bytes as an upload and run the job in this process (the worker path is tested separately)."""
    if isinstance(data, Path):
        name = data.name
        data = data.read_bytes()
    upload = import_upload_store(project=project, user=user, fileobj=io.BytesIO(data), name=name)
    job = import_job_create(project=project, user=user, upload=upload, mapping=mapping, queue=False)
    import_job_run(job_id=job.pk, search_inline=True)
    job.refresh_from_db()
    return job


ALPACA_MAPPING = {
    "shape": "rows", "prompt": "prompt", "prompt_id": "prompt_id", "model": "model", "response": "response",
}
HH_MAPPING = {"shape": "preference", "chosen": "chosen", "rejected": "rejected", "model_name": "hh-rlhf-52b"}
