"""GET /api/v1/projects/{id}/items/ (filters, keyset pages) · GET, PATCH /api/v1/items/{id}/ (gold is staff-only)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.annotations.models import Assignment
from apps.items.search import search_index_pending
from tests.conftest import api_client_for
from tests.factories import make_item

URL = "/api/v1/projects/{}/items/"
QUESTIONS = [{"id": "overall", "type": "rating", "prompt": "Overall", "applies_to": "item", "min": 1, "max": 5}]


def _gold_item(project):  # type: ignore[no-untyped-def]
    return make_item(project, responses=2, is_gold=True, gold_answers={"overall": 5}, metadata={"split": "dev"})


def test_list_filters_and_keyset_pages(project, owner):
    items = [make_item(project, responses=1) for _ in range(5)]
    gold = _gold_item(project)
    items[0].state = "archived"
    items[0].save()
    client = api_client_for(owner)
    page = client.get(URL.format(project.pk), {"page_size": 2}).json()
    assert [i["id"] for i in page["results"]] == [items[0].pk, items[1].pk]
    assert "count" not in page and page["next"]  # no COUNT(*): a cursor instead
    second = client.get(page["next"]).json()
    assert [i["id"] for i in second["results"]] == [items[2].pk, items[3].pk]
    assert [i["id"] for i in client.get(URL.format(project.pk), {"gold": "1"}).json()["results"]] == [gold.pk]
    assert [i["id"] for i in client.get(URL.format(project.pk), {"state": "archived"}).json()["results"]] == [items[0].pk]
    assert [i["id"] for i in client.get(URL.format(project.pk), {"meta_key": "split", "meta_value": "dev"}).json()["results"]] == [gold.pk]
    assert [i["id"] for i in client.get(URL.format(project.pk), {"model": "model-b"}).json()["results"]] == [gold.pk]
    assert client.get(URL.format(project.pk), {"source": "generated"}).json()["results"] == []
    first = client.get(URL.format(project.pk), {"gold": "1"}).json()["results"][0]
    assert first["gold_answers"] == {"overall": 5} and [r["model"] for r in first["responses"]] == ["model-a", "model-b"]


def test_list_query_count_does_not_grow_with_the_page(project, owner, django_assert_max_num_queries):
    for _ in range(30):
        make_item(project, responses=2)
    with django_assert_max_num_queries(8):
        body = api_client_for(owner).get(URL.format(project.pk), {"page_size": 30}).json()
    assert len(body["results"]) == 30 and all(len(i["responses"]) == 2 for i in body["results"])


def test_full_text_search(project, owner):
    make_item(project, prompt_text="How do volcanoes erupt?")
    other = make_item(project, prompt_text="Something else")
    target = make_item(project, prompt_text="A third prompt")
    response = target.ordered_generations()[0]
    response.text = "Magma chambers build pressure until the crust gives way."
    response.save()
    search_index_pending(project_id=project.pk)
    client = api_client_for(owner)
    found = [i["id"] for i in client.get(URL.format(project.pk), {"q": "volcano"}).json()["results"]]
    assert len(found) == 1 and found[0] != other.pk
    assert [i["id"] for i in client.get(URL.format(project.pk), {"q": "chamber pressure"}).json()["results"]] == [target.pk]
    assert client.get(URL.format(project.pk), {"q": "volcano -erupt"}).json()["results"] == []


def test_bad_filters_are_named(project, owner):
    response = api_client_for(owner).get(URL.format(project.pk), {"state": "done", "gold": "perhaps"})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "state": "must be one of open, completed, archived", "gold": "must be 1 or 0"}


def test_list_is_for_staff_only(project, annotator, reviewer, outsider, client):
    _gold_item(project)
    assert api_client_for(annotator).get(URL.format(project.pk)).status_code == 403
    reviewer_view = api_client_for(reviewer).get(URL.format(project.pk)).json()["results"][0]
    assert reviewer_view["gold_answers"] == {"overall": 5}
    assert api_client_for(outsider).get(URL.format(project.pk)).status_code == 404
    assert client.get(URL.format(project.pk)).status_code in (401, 403)
    assert api_client_for(reviewer).post(URL.format(project.pk), {}).status_code == 405


def test_annotator_sees_only_assigned_items_and_never_gold(project, annotator, owner):
    item = _gold_item(project)
    url = f"/api/v1/items/{item.pk}/"
    assert api_client_for(annotator).get(url).status_code == 404
    now = timezone.now()
    Assignment.objects.create(project=project, item=item, annotator=annotator, leased_at=now,
                              expires_at=now + timedelta(minutes=30))
    body = api_client_for(annotator).get(url).json()
    assert set(body) == {"id", "project", "kind", "prompt", "responses"}
    assert all(set(r) == {"id", "position", "label", "text"} for r in body["responses"])
    assert "gold" not in str(body)
    staff = api_client_for(owner).get(url).json()
    assert staff["is_gold"] and staff["gold_answers"] == {"overall": 5} and staff["metadata"] == {"split": "dev"}


def test_outsider_gets_404_for_items(project, outsider):
    item = make_item(project)
    client = api_client_for(outsider)
    assert client.get(f"/api/v1/items/{item.pk}/").status_code == 404
    assert client.patch(f"/api/v1/items/{item.pk}/", {"is_gold": False}, format="json").status_code == 404
    assert client.get("/api/v1/items/999999/").status_code == 404


def test_manager_marks_gold_with_validated_answers(project, owner, reviewer):
    project.questions = QUESTIONS
    project.save()
    item = make_item(project)
    url = f"/api/v1/items/{item.pk}/"
    client = api_client_for(owner)
    response = client.patch(url, {"is_gold": True}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_gold_answers"
    response = client.patch(url, {"is_gold": True, "gold_answers": {"overall": 9}}, format="json")
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("gold_answers.overall:")
    response = client.patch(url, {"is_gold": True, "gold_answers": {"overall": 4}, "priority": 3}, format="json")
    assert response.status_code == 200, response.json()
    item.refresh_from_db()
    assert item.is_gold and item.gold_answers == {"overall": 4} and item.priority == 3
    assert client.patch(url, {"colour": "red"}, format="json").status_code == 400
    assert client.patch(url, {"state": "completed"}, format="json").status_code == 400
    assert api_client_for(reviewer).patch(url, {"is_gold": False}, format="json").status_code == 403
    assert client.put(url, {}, format="json").status_code == 405
    response = client.patch(url, {"is_gold": False, "gold_answers": None}, format="json")
    assert response.json()["is_gold"] is False and response.json()["gold_answers"] is None
