"""The pages: import upload → mapping with preview → progress; the item browser and item detail."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.items.models import ImportJob, ImportUpload
from apps.items.search import search_index_pending
from apps.items.services import import_job_run
from tests.conftest import client_for
from tests.factories import make_item
from tests.items.conftest import jsonl_bytes, run_import

ROWS = [{"prompt_id": f"p{n}", "prompt": f"Question {n}", "model": m, "response": f"{m} says {n}", "source": "demo"}
        for n in range(3) for m in ("alpha", "beta")]


def _upload(client, project, body: bytes = b"", name: str = "outputs.jsonl"):  # type: ignore[no-untyped-def]
    data = body or jsonl_bytes([*ROWS, {"prompt_id": "p9", "prompt": "No answer", "model": "alpha"}])
    return client.post(f"/projects/{project.pk}/imports/new/", {"file": SimpleUploadedFile(name, data)})


def test_upload_then_mapping_with_preview_then_start(project, owner, django_capture_on_commit_callbacks):
    client = client_for(owner)
    page = client.get(f"/projects/{project.pk}/imports/new/")
    assert page.status_code == 200 and b"No imports yet" in page.content
    response = _upload(client, project)
    upload = ImportUpload.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/uploads/{upload.pk}/mapping/"
    mapping_page = client.get(response["Location"])
    html = mapping_page.content.decode()
    assert mapping_page.status_code == 200
    assert 'value="prompt_id" selected' in html  # the guessed mapping is pre-filled
    assert "Question 0" in html and "alpha says 0" in html  # the preview shows parsed rows
    # htmx: the preview re-renders for the mapping as filled in, as a partial.
    preview = client.get(f"/projects/{project.pk}/uploads/{upload.pk}/preview/",
                         {"shape": "rows", "prompt": "prompt", "model_name": "x", "response": "source", "item_mode": "each"},
                         HTTP_HX_REQUEST="true")
    assert preview.status_code == 200 and b"<html" not in preview.content
    assert b"<span class=\"badge\">x</span> demo" in preview.content  # the response now comes from `source`
    assert b"Rejected: missing column &#x27;source&#x27;" in preview.content  # line 7 has no such column
    invalid = client.get(f"/projects/{project.pk}/uploads/{upload.pk}/preview/",
                         {"shape": "rows", "prompt": "nope", "item_mode": "each"}, HTTP_HX_REQUEST="true")
    assert b"prompt: Select a valid choice" in invalid.content
    with django_capture_on_commit_callbacks(execute=False):
        started = client.post(response["Location"], {"shape": "rows", "prompt": "prompt", "prompt_id": "prompt_id",
                                                      "model": "model", "response": "response", "item_mode": "all_pairs",
                                                      "k": "2", "seed": "0", "encoding": "auto"})
    job = ImportJob.objects.get(project=project)
    assert started.status_code == 302 and started["Location"] == f"/imports/{job.pk}/"
    assert job.mapping["item_mode"] == "all_pairs" and job.status == "queued"
    status = client.get(f"/imports/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in status and "Queued" in status  # polls while running
    import_job_run(job_id=job.pk)
    done = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Succeeded" in done and "every 1s" not in done and "Browse items" in done


def test_mapping_errors_are_shown_on_the_form(project, owner):
    client = client_for(owner)
    location = _upload(client, project)["Location"]
    response = client.post(location, {"shape": "rows", "prompt": "prompt", "item_mode": "each"})
    assert response.status_code == 422
    assert b"is required for the &#x27;rows&#x27; shape" in response.content
    assert not ImportJob.objects.exists()


def test_import_page_lists_rejected_rows_with_download(project, owner):
    body = jsonl_bytes(ROWS) + b"{broken\n"
    job = run_import(project, body, {"shape": "rows", "prompt": "prompt", "model": "model", "response": "response"})
    page = client_for(owner).get(f"/imports/{job.pk}/").content.decode()
    assert "Rows rejected" in page and "invalid JSON" in page and f"/imports/{job.pk}/errors/?kind=csv" in page
    report = client_for(owner).get(f"/imports/{job.pk}/errors/?kind=csv")
    assert b"7,,\"invalid JSON: " in b"".join(report.streaming_content)


def test_cancel_from_the_page(project, owner):
    client = client_for(owner)
    location = _upload(client, project)["Location"]
    client.post(location, {"shape": "rows", "prompt": "prompt", "model": "model", "response": "response",
                           "item_mode": "each"})
    job = ImportJob.objects.get()
    response = client.post(f"/imports/{job.pk}/cancel/", follow=True)
    assert b"Import cancelled" in response.content
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert client.get(f"/imports/{job.pk}/cancel/").status_code == 405


def test_import_pages_are_for_managers_of_the_project(project, owner, reviewer, outsider):
    location = _upload(client_for(owner), project)["Location"]
    assert client_for(reviewer).get(f"/projects/{project.pk}/imports/new/").status_code == 403
    assert client_for(outsider).get(f"/projects/{project.pk}/imports/new/").status_code == 404
    assert client_for(outsider).get(location).status_code == 404
    assert _upload(client_for(outsider), project).status_code == 404
    job = run_import(project, jsonl_bytes(ROWS), {"shape": "rows", "prompt": "prompt", "model": "model",
                                                  "response": "response"})
    assert client_for(outsider).get(f"/imports/{job.pk}/").status_code == 404
    assert client_for(outsider).post(f"/imports/{job.pk}/cancel/").status_code == 404
    assert client_for(outsider).get(f"/imports/{job.pk}/errors/").status_code == 404


def test_browser_filters_search_and_pages(project, owner):
    job = run_import(project, jsonl_bytes(ROWS), {"shape": "rows", "prompt": "prompt", "prompt_id": "prompt_id",
                                                  "model": "model", "response": "response"})
    assert job.items_created == 6
    client = client_for(owner)
    page = client.get(f"/projects/{project.pk}/items/").content.decode()
    assert page.count('href="/items/') == 6 and "6 items" in page
    assert '<option value="alpha"' in page and '<option value="beta"' in page
    beta = client.get(f"/projects/{project.pk}/items/", {"model": "beta"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in beta and beta.count('href="/items/') == 3 and "3 items match" in beta
    found = client.get(f"/projects/{project.pk}/items/", {"q": "says 2"}).content.decode()
    assert found.count('href="/items/') == 2
    meta = client.get(f"/projects/{project.pk}/items/", {"meta_key": "source", "meta_value": "demo"}).content.decode()
    assert meta.count('href="/items/') == 6
    none = client.get(f"/projects/{project.pk}/items/", {"gold": "1"}).content.decode()
    assert "No item matches these filters" in none
    bad = client.get(f"/projects/{project.pk}/items/", {"state": "weird"}).content.decode()
    assert "state: must be one of" in bad


def test_browser_pages_with_keyset_links_and_bounded_queries(project, owner, settings):
    for _ in range(60):
        make_item(project, responses=2)
    client = client_for(owner)
    with CaptureQueriesContext(connection) as queries:
        first = client.get(f"/projects/{project.pk}/items/").content.decode()
    assert first.count('href="/items/') == 50 and "Next →" in first
    assert len(queries) <= 14, [q["sql"][:120] for q in queries]
    sql = " ".join(q["sql"] for q in queries).upper()
    assert "OFFSET" not in sql and "DISTINCT" not in sql
    next_after = first.split("after=")[1].split('"')[0]
    second = client.get(f"/projects/{project.pk}/items/?after={next_after}").content.decode()
    assert second.count('href="/items/') == 10 and "← Previous" in second and "Next →" not in second


def test_count_is_capped_on_large_projects(project, owner, monkeypatch):
    from apps.items import selectors

    for _ in range(4):
        make_item(project)
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    monkeypatch.setattr(selectors.item_count_capped, "__kwdefaults__", {"cap": 3})
    page = client_for(owner).get(f"/projects/{project.pk}/items/").content.decode()
    assert "More than 3 items" in page


def test_browser_empty_state_and_access(project, owner, reviewer, annotator, outsider):
    empty = client_for(owner).get(f"/projects/{project.pk}/items/").content.decode()
    assert "No items yet" in empty and f"/projects/{project.pk}/imports/new/" in empty
    assert client_for(reviewer).get(f"/projects/{project.pk}/items/").status_code == 200
    assert client_for(annotator).get(f"/projects/{project.pk}/items/").status_code == 403
    assert client_for(outsider).get(f"/projects/{project.pk}/items/").status_code == 404
    item = make_item(project)
    assert client_for(outsider).get(f"/items/{item.pk}/").status_code == 404
    assert client_for(annotator).get(f"/items/{item.pk}/").status_code == 403


def test_item_detail_renders_markdown_sanitised(project, owner):
    item = make_item(project, responses=2, prompt_text="**Bold** question <script>alert(1)</script>")
    response = item.ordered_generations()[0]
    response.text = "# Title\n\n<img src=x onerror=alert(1)>\n\n```python\nprint('hi')\n```"
    response.save()
    html = client_for(owner).get(f"/items/{item.pk}/").content.decode()
    assert "<strong>Bold</strong>" in html and "<h1>Title</h1>" in html and "<pre><code" in html
    assert "<script>alert(1)</script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_manager_marks_gold_on_the_detail_page(project, owner, reviewer):
    project.questions = [{"id": "overall", "type": "rating", "prompt": "Overall", "applies_to": "item", "min": 1, "max": 5}]
    project.save()
    item = make_item(project)
    client = client_for(owner)
    response = client.post(f"/items/{item.pk}/gold/", {"is_gold": "1", "gold_answers": json.dumps({"overall": 3})},
                           follow=True)
    assert b"Gold marking saved" in response.content
    item.refresh_from_db()
    assert item.is_gold and item.gold_answers == {"overall": 3}
    bad = client.post(f"/items/{item.pk}/gold/", {"is_gold": "1", "gold_answers": "{oops"}, follow=True)
    assert b"must be a JSON object" in bad.content
    assert client_for(reviewer).post(f"/items/{item.pk}/gold/", {"is_gold": "1"}).status_code == 403
    assert b"Save gold marking" not in client_for(reviewer).get(f"/items/{item.pk}/").content


def test_search_waits_for_indexing_and_says_so(project, owner, django_capture_on_commit_callbacks):
    make_item(project, prompt_text="Zebras are striped")
    page = client_for(owner).get(f"/projects/{project.pk}/items/", {"q": "zebra"}).content.decode()
    assert "No item matches" in page
    search_index_pending(project_id=project.pk)
    page = client_for(owner).get(f"/projects/{project.pk}/items/", {"q": "zebra"}).content.decode()
    assert page.count('href="/items/') == 1
