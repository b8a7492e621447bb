"""End to end on a real Celery worker: API request → worker builds → download → load_dataset."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.conf import settings

from apps.core.models import JobStatus
from apps.exports.models import ExportJob
from tests.conftest import api_client_for, wait_for
from tests.exports.conftest import EMAIL, HARMFUL


@pytest.mark.worker
def test_export_on_a_real_worker(dataset, owner, worker_factory, tmp_path, monkeypatch):
    worker_factory(extra_env={"MEDIA_ROOT": str(settings.MEDIA_ROOT)}, concurrency=1)
    client = api_client_for(owner)
    response = client.post(f"/api/v1/projects/{dataset.project.pk}/exports/",
                           {"kind": "preference", "format": "hf",
                            "options": {"test_fraction": 0.25, "harmful_spans": "mask", "margin": True}},
                           format="json")
    assert response.status_code == 202
    job_id = response.json()["id"]
    wait_for(lambda: ExportJob.objects.get(pk=job_id).is_finished, timeout=120, message="export to finish")
    job = ExportJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    download = client.get(f"/api/v1/exports/{job_id}/download/")
    assert download.status_code == 200
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))) as zf:
        zf.extractall(folder)
    (root,) = list(folder.iterdir())
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    loaded = datasets.load_dataset(str(root), cache_dir=str(tmp_path / "cache"))
    assert {s: loaded[s].num_rows for s in loaded} == job.split_counts
    assert sum(job.split_counts.values()) == 13
    texts = " ".join(str(row) for split in loaded.values() for row in split)
    assert EMAIL not in texts and HARMFUL not in texts and "[HARMFUL]" in texts
