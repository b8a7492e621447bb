"""Gold answers never reach an annotator: crawl every page, fragment and API response they can
reach (quality, review, the workspace, the item APIs) and look for them."""

from __future__ import annotations

import pytest

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Assignment
from tests.conftest import api_client_for, client_for
from tests.quality.conftest import GOLD_MARKER

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _check(response, where: str, seen: list[str]) -> None:  # type: ignore[no-untyped-def]
    body = response.content.decode(errors="replace")
    assert GOLD_MARKER not in body, f"gold answer leaked at {where}"
    assert "Explained:" not in body, f"gold explanation leaked at {where}"
    if response.status_code < 300:
        assert "gold_answers" not in body, f"gold_answers field at {where}"
    seen.append(f"{response.status_code} {where}")


def test_gold_answers_never_reach_an_annotator(computed, annotator):  # type: ignore[no-untyped-def]
    ProjectMembership.objects.filter(project=computed, user=annotator).update(guidelines_seen_version=1)
    computed.gold_ratio = 1.0  # the queue hands out the gold item next
    computed.save()
    pid, gold = computed.pk, computed.items_by_name["gold"]
    pages, api = client_for(annotator), api_client_for(annotator)
    seen: list[str] = []
    page_urls = [
        f"/projects/{pid}/", f"/projects/{pid}/annotate/", f"/projects/{pid}/guidelines/",
        f"/projects/{pid}/quality/", f"/projects/{pid}/quality/status/", f"/projects/{pid}/quality/annotators/",
        f"/projects/{pid}/quality/gold/", f"/projects/{pid}/review/", f"/projects/{pid}/review/?queue=flags",
        f"/projects/{pid}/review/items/{gold.pk}/", f"/projects/{pid}/items/", f"/items/{gold.pk}/",
        f"/projects/{pid}/exports/",
    ]
    for url in page_urls:
        _check(pages.get(url), url, seen)
        _check(pages.get(url, **HX), f"{url} (htmx)", seen)
    for url in (f"/projects/{pid}/review/items/{gold.pk}/gold/", f"/projects/{pid}/quality/recompute/"):
        _check(pages.post(url, {"q__label": "safe"}), f"POST {url}", seen)
    api_urls = [
        "/api/v1/projects/", f"/api/v1/projects/{pid}/", f"/api/v1/projects/{pid}/quality/",
        f"/api/v1/projects/{pid}/quality/settings/", f"/api/v1/projects/{pid}/qualification/",
        f"/api/v1/projects/{pid}/annotators/", f"/api/v1/projects/{pid}/review/", f"/api/v1/projects/{pid}/items/",
        f"/api/v1/items/{gold.pk}/", f"/api/v1/items/{gold.pk}/reviews/", f"/api/v1/items/{gold.pk}/aggregate/",
        f"/api/v1/items/{gold.pk}/gold/",
    ]
    for url in api_urls:
        _check(api.get(url), url, seen)
    _check(api.patch(f"/api/v1/items/{gold.pk}/gold/", {"is_gold": False}, format="json"), "PATCH gold", seen)
    # Take whatever the queue hands out (the gold item is the only one left for this annotator).
    for _ in range(3):
        response = api.post(f"/api/v1/projects/{pid}/next/")
        _check(response, "POST next", seen)
        if response.status_code != 200:
            break
        assignment_id = response.json()["assignment"]["id"]
        _check(api.get(f"/api/v1/assignments/{assignment_id}/"), "GET assignment", seen)
        _check(pages.get(f"/projects/{pid}/annotate/"), "workspace with a lease", seen)
        _check(pages.get(f"/projects/{pid}/annotate/next/", **HX), "workspace next (htmx)", seen)
    # Every quality and review endpoint refused the annotator outright.
    refused = [line for line in seen if line.split()[0] in ("403", "404")]
    assert any("/quality/" in line for line in refused) and any("/reviews/" in line for line in refused)
    assert not any(line.startswith("200") and ("/quality/" in line or "/review" in line or "/gold/" in line)
                   for line in seen if "/qualification/" not in line)
    assert Assignment.objects.filter(annotator=annotator, item=gold).exists(), "the crawl never saw the gold item"


def test_reviewers_do_not_see_gold_answers_either(computed, reviewer, owner):  # type: ignore[no-untyped-def]
    # Reviewers annotate too, so a gold item's aggregate (its gold answer) stays with the managers.
    gold = computed.items_by_name["gold"]
    seen: list[str] = []
    pages, api = client_for(reviewer), api_client_for(reviewer)
    _check(pages.get(f"/projects/{computed.pk}/review/items/{gold.pk}/"), "review page", seen)
    _check(pages.get(f"/projects/{computed.pk}/quality/"), "dashboard", seen)
    detail = api.get(f"/api/v1/items/{gold.pk}/reviews/")
    _check(detail, "reviews API", seen)
    assert detail.json()["aggregate"] is None
    hidden = api.get(f"/api/v1/items/{gold.pk}/aggregate/")
    assert hidden.status_code == 403 and hidden.json()["error"]["code"] == "gold_hidden"
    refused = api.post(f"/api/v1/items/{gold.pk}/reviews/", {"decision": "accept"}, format="json")
    assert refused.json()["error"]["code"] == "gold_item"
    # The manager does see them.
    assert GOLD_MARKER in client_for(owner).get(f"/projects/{computed.pk}/review/items/{gold.pk}/").content.decode()
