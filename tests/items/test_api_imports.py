"""POST /api/v1/projects/{id}/imports/ · GET /api/v1/imports/{id}/ · cancel · error report."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.items.models import ImportJob, ImportUpload
from apps.items.services import import_job_run
from tests.conftest import api_client_for
from tests.items.conftest import ALPACA_MAPPING, jsonl_bytes

URL = "/api/v1/projects/{}/imports/"


def _file(rows: list[dict] | None = None, name: str = "outputs.jsonl") -> SimpleUploadedFile:
    rows = rows or [{"prompt_id": "p1", "prompt": "Q?", "model": "m1", "response": "A."},
                    {"prompt_id": "p1", "prompt": "Q?", "model": "m2", "response": "B."}]
    return SimpleUploadedFile(name, jsonl_bytes(rows), content_type="application/octet-stream")


def _post(client, project, **data):  # type: ignore[no-untyped-def]
    return client.post(URL.format(project.pk), data, format="multipart")


def test_it_stores_the_upload_and_queues_a_job(project, owner, django_capture_on_commit_callbacks, settings):
    client = api_client_for(owner)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(client, project, file=_file(), mapping=json.dumps({**ALPACA_MAPPING, "item_mode": "all_pairs"}))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["file_name"] == "outputs.jsonl" and body["mapping"]["item_mode"] == "all_pairs"
    assert len(callbacks) == 1  # the Celery task is queued once the transaction commits
    job = ImportJob.objects.get(pk=body["id"])
    assert job.upload.file.path.startswith(str(settings.MEDIA_ROOT))
    import_job_run(job_id=job.pk, search_inline=True)
    detail = client.get(f"/api/v1/imports/{job.pk}/").json()
    assert (detail["status"], detail["items_created"], detail["progress_percent"]) == ("succeeded", 1, 100)


def test_mapping_is_guessed_when_left_out(project, owner):
    response = _post(api_client_for(owner), project, file=_file())
    assert response.status_code == 201
    assert response.json()["mapping"]["prompt_id"] == "prompt_id"


def test_it_only_allows_get_and_post(project, owner):
    assert api_client_for(owner).put(URL.format(project.pk), {}).status_code == 405
    assert api_client_for(owner).delete(URL.format(project.pk)).status_code == 405


def test_anonymous_is_refused(project, client):
    assert client.post(URL.format(project.pk), {"file": _file()}).status_code in (401, 403)


def test_outsider_cannot_start_or_see_another_tenants_import(project, owner, outsider, other_project):
    response = _post(api_client_for(outsider), project, file=_file())
    assert response.status_code == 404
    assert not ImportUpload.objects.filter(project=project).exists()  # nothing stored for them
    job_id = _post(api_client_for(owner), project, file=_file()).json()["id"]
    outsider_client = api_client_for(outsider)
    assert outsider_client.get(f"/api/v1/imports/{job_id}/").status_code == 404
    assert outsider_client.post(f"/api/v1/imports/{job_id}/cancel/").status_code == 404
    assert outsider_client.get(f"/api/v1/imports/{job_id}/errors/").status_code == 404
    assert outsider_client.get(URL.format(project.pk)).status_code == 404


def test_annotators_and_reviewers_cannot_import(project, annotator, reviewer):
    for user in (annotator, reviewer):
        assert _post(api_client_for(user), project, file=_file()).status_code == 403


def test_bad_mapping_is_a_named_error(project, owner):
    response = _post(api_client_for(owner), project, file=_file(), mapping=json.dumps({"shape": "rows", "prompt": "p"}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_mapping" and error["message"] == "mapping.response: is required for the 'rows' shape"
    response = _post(api_client_for(owner), project, file=_file(), mapping="{not json")
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("mapping:")
    response = _post(api_client_for(owner), project, file=_file(), mapping="[1, 2]")
    assert response.json()["error"]["message"] == "mapping: must be a JSON object"


def test_missing_csv_column_is_rejected_at_once_and_the_file_removed(project, owner):
    upload = SimpleUploadedFile("data.csv", b"id,question,model,answer\n1,Q,m,A\n")
    response = _post(api_client_for(owner), project, file=upload, mapping=json.dumps(ALPACA_MAPPING))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_file" and "'prompt'" in error["message"] and "id, question, model, answer" in error["message"]
    assert not ImportJob.objects.filter(project=project).exists()
    assert ImportUpload.objects.get(project=project).deleted_at is not None


def test_empty_file_is_rejected(project, owner):
    response = _post(api_client_for(owner), project, file=SimpleUploadedFile("empty.jsonl", b""))
    assert response.status_code == 400
    assert response.json()["error"]["message"] in ("file: The submitted file is empty.", "The file is empty.")


def test_missing_file_is_a_named_error(project, owner):
    response = _post(api_client_for(owner), project, mapping="{}")
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("file:")


def test_upload_over_the_limit_is_answered_413_without_reading_it(project, owner, settings):
    settings.MAX_UPLOAD_BYTES = 4096
    client = api_client_for(owner)
    # The declared length alone decides: the (small) body is never read.
    response = client.post(URL.format(project.pk), {"file": _file()}, format="multipart", CONTENT_LENGTH="50000000000")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    big = SimpleUploadedFile("big.jsonl", b"x" * 10_000)
    assert client.post(URL.format(project.pk), {"file": big}, format="multipart").status_code == 413
    assert not ImportUpload.objects.exists()


def test_cancel_and_error_report(project, owner):
    client = api_client_for(owner)
    rows = [{"prompt_id": "p1", "prompt": "Q?", "model": "m1", "response": "A."},
            {"prompt_id": "p2", "prompt": "=HYPERLINK(1)", "model": "m1"}]
    job_id = _post(client, project, file=_file(rows), mapping=json.dumps(ALPACA_MAPPING)).json()["id"]
    import_job_run(job_id=job_id)
    detail = client.get(f"/api/v1/imports/{job_id}/").json()
    assert detail["rows_rejected"] == 1
    assert detail["errors"] == [{"line": 2, "field": "response", "reason": "missing column 'response'"}]
    csv_body = b"".join(client.get(detail["errors_url"]).streaming_content).decode()
    assert csv_body.splitlines() == ["line,field,reason", "2,response,missing column 'response'"]
    jsonl = b"".join(client.get(f"/api/v1/imports/{job_id}/errors/?kind=jsonl").streaming_content)
    assert json.loads(jsonl) == {"line": 2, "field": "response", "reason": "missing column 'response'"}
    assert client.get(f"/api/v1/imports/{job_id}/errors/?kind=xml").status_code == 400
    # A finished job cannot be cancelled; a queued one can.
    response = client.post(f"/api/v1/imports/{job_id}/cancel/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_cancellable"
    queued = _post(client, project, file=_file()).json()["id"]
    response = client.post(f"/api/v1/imports/{queued}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert import_job_run(job_id=queued) == "cancelled"  # the worker leaves it alone
    listing = client.get(URL.format(project.pk)).json()["results"]
    assert [j["id"] for j in listing] == [queued, job_id]


@pytest.mark.parametrize("name,body", [("data.csv", b"a,b\n1,2\n"), ("x.parquet", b"PAR1 nonsense")])
def test_unreadable_files_are_named_errors(project, owner, name, body):
    response = _post(api_client_for(owner), project, file=SimpleUploadedFile(name, body), mapping=json.dumps(ALPACA_MAPPING))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_file"


def test_csv_formula_cells_are_neutralised_in_the_report(project, owner):
    client = api_client_for(owner)
    mapping = {**ALPACA_MAPPING, "response": "=cmd|' /C calc'!A0"}
    job_id = _post(client, project, file=_file(), mapping=json.dumps(mapping)).json()["id"]
    import_job_run(job_id=job_id)
    report = b"".join(client.get(f"/api/v1/imports/{job_id}/errors/").streaming_content).decode()
    assert report.splitlines()[1].startswith("1,'=cmd|")  # a spreadsheet shows it as text
