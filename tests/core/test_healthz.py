import pytest
from django.test import Client

from config.celery import app


@pytest.mark.django_db
def test_it_reports_down_without_a_worker(monkeypatch):
    monkeypatch.setattr(app.control, "ping", lambda timeout=1.0: [])
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["redis"]["ok"] is True
    assert body["workers"] == {"ok": False, "workers": 0}
    assert body["ok"] is False


@pytest.mark.worker
def test_it_reports_all_up_with_a_real_worker(celery_worker):
    response = Client().get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert body["workers"]["workers"] >= 1


@pytest.mark.django_db
def test_it_only_allows_get():
    assert Client().post("/healthz").status_code == 405
