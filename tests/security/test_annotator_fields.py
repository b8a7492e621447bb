"""Fields an annotator must not set (`role`, `is_gold`, `project`, `annotator`) are ignored
or refused on every API an annotator reaches: whatever the body says, the stored rows
keep the server's values."""

from __future__ import annotations

import pytest

from apps.accounts.models import ProjectMembership, ProjectRole
from apps.annotations.models import Annotation, Assignment
from apps.items.models import Item
from tests.conftest import api_client_for
from tests.factories import make_item

pytestmark = pytest.mark.django_db


def _smuggled(owner, other_project) -> dict:  # type: ignore[no-untyped-def]
    return {
        "role": ProjectRole.MANAGER,
        "is_gold": True,
        "gold_answers": {"overall": 1},
        "project": other_project.pk,
        "project_id": other_project.pk,
        "annotator": owner.pk,
        "annotator_id": owner.pk,
        "user": owner.pk,
    }


def test_annotator_cannot_set_protected_fields(annotator, owner, project, other_project):
    item = make_item(project, responses=1)
    client = api_client_for(annotator)
    smuggled = _smuggled(owner, other_project)

    leased = client.post(f"/api/v1/projects/{project.pk}/next/", smuggled, format="json")
    assert leased.status_code == 200, leased.content
    assignment = Assignment.objects.get(pk=leased.json()["assignment"]["id"])
    assert (assignment.annotator_id, assignment.project_id, assignment.item_id) == (annotator.pk, project.pk, item.pk)

    draft = client.put(f"/api/v1/assignments/{assignment.pk}/draft/",
                       {"answers": {"overall": 3}, **smuggled}, format="json")
    assert draft.status_code == 200, draft.content

    submitted = client.post(f"/api/v1/assignments/{assignment.pk}/submit/",
                            {"answers": {"overall": 4}, **smuggled}, format="json")
    assert submitted.status_code == 201, submitted.content
    annotation = Annotation.objects.get(assignment=assignment)
    assert (annotation.annotator_id, annotation.project_id, annotation.item_id) == (annotator.pk, project.pk, item.pk)
    assert annotation.answers == {"overall": 4}

    membership = ProjectMembership.objects.get(project=project, user=annotator)
    patched = client.patch(f"/api/v1/projects/{project.pk}/members/{membership.pk}/",
                           {"role": ProjectRole.MANAGER}, format="json")
    assert patched.status_code == 403
    patched_item = client.patch(f"/api/v1/items/{item.pk}/", {"is_gold": True, "project": other_project.pk},
                                format="json")
    assert patched_item.status_code == 403

    membership.refresh_from_db()
    assert membership.role == ProjectRole.ANNOTATOR
    item = Item.objects.get(pk=item.pk)
    assert (item.is_gold, item.gold_answers, item.project_id) == (False, None, project.pk)
    assert not Item.objects.filter(project=other_project).exists()
    assert not Annotation.objects.filter(project=other_project).exists()
    assert not Annotation.objects.filter(annotator=owner).exists()
