"""REST API: POST /projects/{id}/exports/, GET /exports/{id}/, /cancel/, /download/, /preview/."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ProjectRole
from apps.core.models import JobStatus
from apps.exports.models import ExportJob
from apps.exports.services import export_run, exports_expire
from tests.conftest import api_client_for
from tests.exports.conftest import EMAIL
from tests.factories import ProjectMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def url(project) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/exports/"


@pytest.fixture
def finished(dataset, owner):  # type: ignore[no-untyped-def]
    response = api_client_for(owner).post(url(dataset.project), {"kind": "preference", "format": "jsonl",
                                                                 "options": {"test_fraction": 0.3}}, format="json")
    assert response.status_code == 202, response.content
    export_run(job_id=response.json()["id"])
    return ExportJob.objects.get(pk=response.json()["id"])


def test_it_creates_a_queued_export(dataset, owner):
    response = api_client_for(owner).post(url(dataset.project), {"kind": "kto", "format": "parquet",
                                                                 "options": {"positive_values": ["good"],
                                                                             "sources": "verdict"}}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == f"/api/v1/exports/{body['id']}/"
    assert body["status"] == "queued" and body["kind"] == "kto" and body["format"] == "parquet"
    assert body["options"]["positive_values"] == ["good"] and body["options"]["redact_pii"] is True
    assert body["download_url"] is None


def test_bad_input_gets_a_named_error(dataset, owner):
    client = api_client_for(owner)
    response = client.post(url(dataset.project), {"kind": "preference", "options": {"test_fraction": 2}},
                           format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_export_options"
    assert response.json()["error"]["details"] == {"test_fraction": "must be from 0 to 0.5"}
    response = client.post(url(dataset.project), {"format": "jsonl"}, format="json")
    assert response.status_code == 400 and "kind" in response.json()["error"]["details"]
    assert not ExportJob.objects.exists()


def test_wrong_method_anonymous_and_outsiders(dataset, annotator, reviewer, outsider):
    assert api_client_for(dataset.project.created_by).put(url(dataset.project), {}).status_code == 405
    assert APIClient().post(url(dataset.project), {"kind": "raw"}, format="json").status_code in (401, 403)
    for person in (annotator, reviewer, outsider):
        response = api_client_for(person).post(url(dataset.project), {"kind": "raw"}, format="json")
        assert response.status_code == 404, person
    assert not ExportJob.objects.exists()


def test_status_and_history(finished, owner, outsider, annotator):
    body = api_client_for(owner).get(f"/api/v1/exports/{finished.pk}/").json()
    assert body["status"] == "succeeded" and body["progress"]["percent"] == 100
    assert body["record_count"] == sum(body["split_counts"].values()) == 13
    assert {f["name"] for f in body["files"]} >= {"train.jsonl", "README.md", "manifest.json"}
    assert body["manifest"]["record_count"] == 13
    assert body["download_url"] == f"/api/v1/exports/{finished.pk}/download/"
    listing = api_client_for(owner).get(url(finished.project)).json()
    assert [row["id"] for row in listing["results"]] == [finished.pk]
    for person in (outsider, annotator):
        assert api_client_for(person).get(f"/api/v1/exports/{finished.pk}/").status_code == 404
        assert api_client_for(person).get(url(finished.project)).status_code == 404


def test_download_is_for_managers_only(finished, owner, org_admin, annotator, reviewer, outsider):
    download = f"/api/v1/exports/{finished.pk}/download/"
    manager = UserFactory()
    ProjectMembershipFactory(project=finished.project, user=manager, role=ProjectRole.MANAGER)
    for person in (owner, org_admin, manager):
        response = api_client_for(person).get(download)
        assert response.status_code == 200, person
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        names = archive.namelist()
        assert any(n.endswith("/train.jsonl") for n in names) and any(n.endswith("/manifest.json") for n in names)
        assert EMAIL not in b"".join(archive.read(n) for n in names).decode()
    for person in (annotator, reviewer, outsider):
        assert api_client_for(person).get(download).status_code == 404, person
        assert api_client_for(person).get(download + "?file=train.jsonl").status_code == 404, person
    assert APIClient().get(download).status_code in (401, 403)
    one = api_client_for(owner).get(download + "?file=train.jsonl")
    assert one.status_code == 200 and one["Content-Disposition"].startswith('attachment; filename="train.jsonl"')
    missing = api_client_for(owner).get(download + "?file=../../settings.py")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "file_not_found"
    assert api_client_for(owner).post(download).status_code == 405


def test_download_before_ready_and_after_expiry(finished, dataset, owner):
    queued = ExportJob.objects.create(project=dataset.project, kind="raw", format="jsonl", created_by=owner)
    response = api_client_for(owner).get(f"/api/v1/exports/{queued.pk}/download/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "export_not_ready"
    assert exports_expire(now=timezone.now() + timedelta(days=31)) == 1
    response = api_client_for(owner).get(f"/api/v1/exports/{finished.pk}/download/")
    assert response.status_code == 410 and response.json()["error"]["code"] == "export_expired"


def test_cancel(dataset, owner, outsider):
    queued = ExportJob.objects.create(project=dataset.project, kind="raw", format="jsonl", created_by=owner)
    assert api_client_for(outsider).post(f"/api/v1/exports/{queued.pk}/cancel/").status_code == 404
    response = api_client_for(owner).post(f"/api/v1/exports/{queued.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == JobStatus.CANCELLED
    again = api_client_for(owner).post(f"/api/v1/exports/{queued.pk}/cancel/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "export_finished"
    export_run(job_id=queued.pk)  # a late queue message does nothing
    assert ExportJob.objects.get(pk=queued.pk).status == JobStatus.CANCELLED


def test_preview_returns_the_first_five_records(dataset, owner, annotator):
    preview = f"/api/v1/projects/{dataset.project.pk}/exports/preview/"
    response = api_client_for(owner).post(preview, {"kind": "sft", "format": "jsonl"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert len(body["records"]) == 5 and body["fields"] == ["messages"]
    assert EMAIL not in str(body) and "[EMAIL]" in str(body)
    response = api_client_for(owner).post(preview, {"kind": "sft", "options": {"sources": "magic"}}, format="json")
    assert response.status_code == 400 and "sources" in response.json()["error"]["details"]
    assert api_client_for(annotator).post(preview, {"kind": "sft"}, format="json").status_code == 404
