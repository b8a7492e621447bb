from __future__ import annotations

from rest_framework.test import APIClient

from apps.projects.builtin_templates import TEMPLATE_KEYS
from tests.conftest import api_client_for

URL = "/api/v1/templates/"


def test_it_lists_the_builtin_templates(annotator):  # type: ignore[no-untyped-def]
    response = api_client_for(annotator).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(TEMPLATE_KEYS)
    first = body["results"][0]
    assert first["key"] == "pairwise_preference"
    assert {"name", "description", "item_kind", "questions", "guidelines", "settings"} <= set(first)
    assert first["guidelines"].startswith("## ")


def test_it_only_allows_get(owner):  # type: ignore[no-untyped-def]
    response = api_client_for(owner).post(URL, {"key": "x"}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_it_requires_authentication(db):  # type: ignore[no-untyped-def]
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert "error" in response.json()
