"""Deleting items: the service (cascade, counts, audit), the API and the item browser.

DELETE /api/v1/projects/{id}/items/{item_id}/ · POST /api/v1/projects/{id}/items/delete/ ·
POST /projects/{id}/items/delete/ (browser, htmx) · POST /items/{id}/delete/ (item page).
"""

from __future__ import annotations

import pytest

from apps.annotations.models import Annotation, Assignment, Draft, Flag, Review
from apps.annotations.services import annotation_submit, draft_save, lease_next_item
from apps.audit.models import AuditEvent
from apps.items.models import (
    Generation,
    GenerationSearch,
    Item,
    ItemGeneration,
    Prompt,
    PromptSearch,
)
from apps.items.search import search_index_pending
from apps.items.services import MAX_ITEMS_PER_DELETE, ItemsNotFound, items_delete
from apps.privacy.models import PiiSpan
from apps.quality.models import QualitySnapshot
from tests.conftest import api_client_for, client_for
from tests.factories import make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def annotated(project, annotator, reviewer):  # type: ignore[no-untyped-def]
    """Three pair items: the first answered (with a flag and a review), the second leased with a
    draft, the third untouched. Search vectors and a personal-data span exist."""
    first, second, third = (make_item(project, responses=2) for _ in range(3))
    Item.objects.filter(pk__in=[first.pk, second.pk]).update(priority=10)  # leased before the third
    assignment = lease_next_item(annotator, project)
    assert assignment.item_id == first.pk
    annotation = annotation_submit(assignment=assignment, answers={"overall": 4}).annotation
    Flag.objects.create(project=project, item=first, annotator=annotator, reason="odd")
    Review.objects.create(project=project, item=first, reviewer=reviewer, annotation=annotation, decision="accept")
    live = lease_next_item(annotator, project)
    assert live.item_id == second.pk
    draft_save(assignment=live, answers={"overall": 2})
    PiiSpan.objects.create(project=project, prompt=first.prompt, start=0, end=3, type="EMAIL", score=0.9)
    search_index_pending(project_id=project.pk)
    return first, second, third


def _deletions(project):  # type: ignore[no-untyped-def]
    return list(AuditEvent.objects.filter(action="item.deleted", project_id=project.pk).order_by("pk"))


# --- the service ---------------------------------------------------------------------


def test_it_deletes_the_items_with_everything_on_them_and_keeps_the_rest(project, owner, annotated):
    first, second, third = annotated
    prompts, generations = Prompt.objects.count(), Generation.objects.count()
    third_assignment = Assignment.objects.create(
        project=project, item=third, annotator=owner, leased_at=first.created_at, expires_at=first.created_at
    )

    deleted = items_delete(project=project, item_ids=[second.pk, first.pk, first.pk], by=owner)

    assert (deleted.ids, deleted.assignments, deleted.annotations) == (sorted([first.pk, second.pk]), 2, 1)
    assert list(Item.objects.filter(project=project)) == [third]
    assert list(Assignment.objects.all()) == [third_assignment]
    for model in (Annotation, Draft, Flag, Review):
        assert not model.objects.exists(), model
    assert not ItemGeneration.objects.filter(item_id__in=deleted.ids).exists()
    # Source texts stay (other items may share them), with their search entries and spans.
    assert (Prompt.objects.count(), Generation.objects.count()) == (prompts, generations)
    assert PromptSearch.objects.count() == prompts and GenerationSearch.objects.count() == generations
    assert PiiSpan.objects.filter(prompt=first.prompt).exists()
    # The project's quality figures are recomputed (debounced) without the deleted answers.
    assert QualitySnapshot.objects.get(project=project).status == "queued"


def test_one_audit_event_per_call_names_the_actor_and_the_items(project, owner, annotated, rf):
    first, second, _ = annotated
    request = rf.post("/", REMOTE_ADDR="198.51.100.4")
    items_delete(project=project, item_ids=[first.pk, second.pk], by=owner, request=request)
    items_delete(project=project, item_ids=[annotated[2].pk], by=owner)

    bulk, single = _deletions(project)
    assert (bulk.actor_id, bulk.actor_label, bulk.organization_id) == (owner.pk, "owner", project.organization_id)
    assert bulk.detail == {"count": 2, "ids": sorted([first.pk, second.pk]), "assignments": 2, "annotations": 1}
    assert bulk.ip_address == "198.51.100.4" and bulk.object_type == ""
    assert (single.object_type, single.object_id, single.detail["ids"]) == (
        "items.item", str(annotated[2].pk), [annotated[2].pk]
    )


def test_all_or_nothing_when_an_id_is_not_an_item_of_the_project(project, owner, other_project, annotated):
    theirs = make_item(other_project)
    with pytest.raises(ItemsNotFound) as caught:
        items_delete(project=project, item_ids=[annotated[0].pk, theirs.pk], by=owner)
    assert caught.value.missing == [theirs.pk]
    assert Item.objects.count() == 4 and Annotation.objects.count() == 1
    assert not _deletions(project)


def test_a_call_is_bounded(project, owner):
    with pytest.raises(ValueError, match=f"At most {MAX_ITEMS_PER_DELETE}"):
        items_delete(project=project, item_ids=range(1, MAX_ITEMS_PER_DELETE + 2), by=owner)


def test_a_deleted_item_leaves_no_count_behind_for_the_next_lease(project, owner, annotator, annotated):
    """The live lease on the second item is gone with it: the annotator's next lease is the third item."""
    first, second, third = annotated
    items_delete(project=project, item_ids=[second.pk], by=owner)
    assert lease_next_item(annotator, project).item_id == third.pk


# --- the API -------------------------------------------------------------------------


def one(project, item) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/items/{item.pk}/"


def bulk(project) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/items/delete/"


def test_api_a_researcher_deletes_one_item(project, owner, annotated):
    first = annotated[0]
    response = api_client_for(owner).delete(one(project, first))
    assert response.status_code == 204
    assert not Item.objects.filter(pk=first.pk).exists()
    assert _deletions(project)[0].detail["ids"] == [first.pk]
    assert api_client_for(owner).delete(one(project, first)).status_code == 404  # gone now


def test_api_annotators_reviewers_and_other_tenants_are_refused(project, annotator, reviewer, outsider, annotated):
    first = annotated[0]
    assert api_client_for(annotator).delete(one(project, first)).status_code == 403
    assert api_client_for(reviewer).delete(one(project, first)).status_code == 403
    assert api_client_for(outsider).delete(one(project, first)).status_code == 404
    assert api_client_for(annotator).post(bulk(project), {"ids": [first.pk]}, format="json").status_code == 403
    assert api_client_for(outsider).post(bulk(project), {"ids": [first.pk]}, format="json").status_code == 404
    assert Item.objects.filter(pk=first.pk).exists() and not _deletions(project)


def test_api_another_tenants_item_ids_answer_404_and_stay(project, owner, other_project, annotated):
    theirs = make_item(other_project)
    client = api_client_for(owner)
    assert client.delete(one(project, theirs)).status_code == 404
    response = client.post(bulk(project), {"ids": [annotated[0].pk, theirs.pk]}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert Item.objects.filter(pk__in=[theirs.pk, annotated[0].pk]).count() == 2
    assert not _deletions(project)


def test_api_bulk_deletion(project, owner, annotated):
    first, second, third = annotated
    response = api_client_for(owner).post(bulk(project), {"ids": [first.pk, second.pk]}, format="json")
    assert response.status_code == 200
    assert response.json() == {"deleted": 2, "ids": sorted([first.pk, second.pk]), "assignments": 2, "annotations": 1}
    assert list(Item.objects.filter(project=project)) == [third]


def test_api_bad_input_and_wrong_methods(project, owner, annotated):
    client = api_client_for(owner)
    for body, field in (({}, "ids"), ({"ids": []}, "ids"), ({"ids": ["x"]}, "ids"),
                        ({"ids": list(range(1, MAX_ITEMS_PER_DELETE + 2))}, "ids")):
        response = client.post(bulk(project), body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["error"]["details"], body
    assert client.get(one(project, annotated[0])).status_code == 405
    assert client.get(bulk(project)).status_code == 405
    assert Item.objects.count() == 3


# --- pages ---------------------------------------------------------------------------


def test_the_browser_offers_deletion_to_researchers_only(project, owner, reviewer, annotated):
    page = f"/projects/{project.pk}/items/"
    owners = client_for(owner).get(page).content.decode()
    assert 'id="item-delete-form"' in owners and f'name="item" value="{annotated[0].pk}"' in owners
    assert "data-confirm=" in owners
    reviewers = client_for(reviewer).get(page).content.decode()
    assert 'id="item-delete-form"' not in reviewers and 'name="item"' not in reviewers
    assert client_for(reviewer).post(f"{page}delete/", {"item": [annotated[0].pk]}).status_code == 403
    assert Item.objects.count() == 3


def test_the_browser_deletes_the_selected_items_and_swaps_the_list_in(project, owner, annotated):
    first, second, third = annotated
    response = client_for(owner).post(
        f"/projects/{project.pk}/items/delete/", {"item": [first.pk, second.pk], "state": "open"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="item-results">')  # the partial only
    assert "Deleted 2 items and 1 annotation of them." in html
    assert f"#{third.pk}" in html and f"#{first.pk}<" not in html
    assert '<input type="hidden" name="state" value="open">' in html  # the filters stay
    assert list(Item.objects.filter(project=project)) == [third]
    assert _deletions(project)[0].actor_id == owner.pk


def test_the_browser_without_htmx_and_without_a_selection(project, owner, annotated):
    client = client_for(owner)
    url = f"/projects/{project.pk}/items/delete/"
    response = client.post(url, {"state": "open"})
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/items/?state=open"
    assert "Select the items to delete first" in client.get(response["Location"]).content.decode()
    response = client.post(url, {"item": [annotated[0].pk]})
    assert response.status_code == 302
    assert "Deleted 1 item and 1 annotation of them." in client.get(response["Location"]).content.decode()
    assert Item.objects.count() == 2


def test_the_item_page_deletes_its_item(project, owner, reviewer, annotated):
    first = annotated[0]
    assert "Delete item" not in client_for(reviewer).get(f"/items/{first.pk}/").content.decode()
    assert client_for(reviewer).post(f"/items/{first.pk}/delete/").status_code == 403
    client = client_for(owner)
    assert f'action="/items/{first.pk}/delete/"' in client.get(f"/items/{first.pk}/").content.decode()
    response = client.post(f"/items/{first.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/items/"
    assert not Item.objects.filter(pk=first.pk).exists()
    assert client.post(f"/items/{first.pk}/delete/").status_code == 404


# --- the audit log shows it ------------------------------------------------------------


def test_the_audit_page_and_api_show_the_deletion(org, project, owner, org_admin, annotated):
    api_client_for(owner).post(bulk(project), {"ids": [annotated[0].pk, annotated[1].pk]}, format="json")
    rows = api_client_for(org_admin).get(f"/api/v1/organizations/{org.pk}/audit/?action=item.deleted").json()
    (row,) = rows["results"]
    assert row["action_label"] == "Items deleted" and row["actor"] == {"id": owner.pk, "username": "owner"}
    assert row["detail"]["ids"] == sorted([annotated[0].pk, annotated[1].pk])
    page = client_for(org_admin).get(f"/organizations/{org.pk}/audit/?action=item.deleted").content.decode()
    assert "Items deleted" in page.split('id="audit-results"', 1)[1]


def test_a_submit_on_a_deleted_item_is_told_so_not_a_server_error(project, owner, annotator, annotated):
    """The annotator had the second item open when a researcher deleted it."""
    from apps.annotations.errors import AssignmentClosed

    first, second, third = annotated
    live = Assignment.objects.get(item=second, annotator=annotator)
    items_delete(project=project, item_ids=[second.pk], by=owner)
    with pytest.raises(AssignmentClosed) as caught:
        annotation_submit(assignment=live, answers={"overall": 3})
    assert caught.value.details == {"status": "deleted"} and "removed from the project" in caught.value.message
