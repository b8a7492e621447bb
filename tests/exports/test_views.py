"""The export page: form, htmx preview and history, detail, download, cancel."""

from __future__ import annotations

import pytest

from apps.core.models import JobStatus
from apps.exports.models import ExportJob
from apps.exports.services import export_run
from tests.conftest import client_for
from tests.exports.conftest import EMAIL

pytestmark = pytest.mark.django_db

FORM = {"kind": "preference", "format": "hf", "redact_pii": ["0", "1"], "exclude_gold": ["0", "1"],
        "margin": ["0", "1"], "test_fraction": "0.25", "seed": "4", "harmful_spans": "mask",
        "sft_sources": "rated", "preference_sources": "pairwise"}


def page(project) -> str:  # type: ignore[no-untyped-def]
    return f"/projects/{project.pk}/exports/"


def test_page_renders_for_managers_and_hides_from_others(dataset, owner, annotator, reviewer, outsider):
    response = client_for(owner).get(page(dataset.project))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="export-form"' in html and "No exports yet" in html and "js/exports.js" in html
    assert 'value="preference"' in html and "Rewrite question" in html and "<script>" not in html
    for person in (annotator, reviewer, outsider):
        assert client_for(person).get(page(dataset.project)).status_code == 404
    from django.test import Client

    assert Client().get(page(dataset.project)).status_code == 302
    assert client_for(owner).delete(page(dataset.project)).status_code == 405


def test_form_starts_an_export_with_the_chosen_options(dataset, owner):
    response = client_for(owner).post(page(dataset.project), FORM)
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert (job.kind, job.format, job.created_by) == ("preference", "hf", owner)
    assert job.options["sources"] == ["pairwise"] and job.options["margin"] is True
    assert job.options["test_fraction"] == 0.25 and job.options["harmful_spans"] == "mask"
    assert job.options["redact_pii"] is True
    unchecked = {**FORM, "redact_pii": "0"}
    client_for(owner).post(page(dataset.project), unchecked)
    assert ExportJob.objects.order_by("-id").first().options["redact_pii"] is False


def test_bad_form_shows_named_errors(dataset, owner):
    response = client_for(owner).post(page(dataset.project), {**FORM, "test_fraction": "3"})
    assert response.status_code == 400
    assert "must be from 0 to 0.5" in response.content.decode()
    response = client_for(owner).post(page(dataset.project), {**FORM, "min_agreement": "x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Retarget"] == "#export-form"
    assert "min_agreement" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_htmx_preview_shows_records_as_written(dataset, owner):
    response = client_for(owner).post(f"{page(dataset.project)}preview/", {**FORM, "format": "csv"},
                                      HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "First 5 records as written" in html and "prompt,chosen,rejected,margin" in html
    assert EMAIL not in html
    empty = client_for(owner).post(f"{page(dataset.project)}preview/", {**FORM, "min_agreement": "1"},
                                   HTTP_HX_REQUEST="true")
    assert "No record matches these options yet" in empty.content.decode()


def test_history_polls_while_running_then_links_the_download(dataset, owner, annotator):
    client_for(owner).post(page(dataset.project), FORM)
    job = ExportJob.objects.get()
    history = client_for(owner).get(page(dataset.project), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="export-history")
    html = history.content.decode()
    assert 'hx-trigger="every 2s"' in html and "<html" not in html and "Cancel" in html
    export_run(job_id=job.pk)
    html = client_for(owner).get(page(dataset.project)).content.decode()
    assert f"/exports/{job.pk}/download/" in html and 'hx-trigger="every 2s"' not in html
    detail = client_for(owner).get(f"{page(dataset.project)}{job.pk}/").content.decode()
    assert "Dataset card" in detail and "data/train-00000-of-00001.parquet" in detail
    download = client_for(owner).get(f"{page(dataset.project)}{job.pk}/download/")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert client_for(annotator).get(f"{page(dataset.project)}{job.pk}/download/").status_code == 404
    assert client_for(annotator).get(f"{page(dataset.project)}{job.pk}/").status_code == 404


def test_cancel_from_the_page(dataset, owner, outsider):
    client_for(owner).post(page(dataset.project), FORM)
    job = ExportJob.objects.get()
    assert client_for(outsider).post(f"{page(dataset.project)}{job.pk}/cancel/").status_code == 404
    response = client_for(owner).post(f"{page(dataset.project)}{job.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Cancelled" in response.content.decode()
    assert ExportJob.objects.get().status == JobStatus.CANCELLED
