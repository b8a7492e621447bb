"""GET, POST /api/v1/projects/ · GET, PATCH, DELETE /api/v1/projects/{id}/"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import ProjectRole
from apps.projects.models import GuidelineVersion, Project
from apps.projects.services import project_purge
from tests.conftest import api_client_for
from tests.factories import (
    OrgMembershipFactory,
    ProjectFactory,
    ProjectMembershipFactory,
    UserFactory,
    make_item,
)

LIST = "/api/v1/projects/"


def detail(project) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/"


# --- list ---------------------------------------------------------------------------


def test_list_shows_only_visible_projects(owner, project, other_project, annotator):  # type: ignore[no-untyped-def]
    body = api_client_for(owner).get(LIST).json()
    assert [p["id"] for p in body["results"]] == [project.pk]
    assert body["results"][0]["role"] == "manager"
    assert body["results"][0]["guidelines"]["version"] == 1
    mine = api_client_for(annotator).get(LIST).json()["results"]
    assert [p["id"] for p in mine] == [project.pk] and mine[0]["role"] == "annotator"


def test_list_hides_archived_unless_asked(owner, project):  # type: ignore[no-untyped-def]
    archived = ProjectFactory(organization=project.organization, name="Old")
    Project.objects.filter(pk=archived.pk).update(archived_at="2024-01-01T00:00:00Z")
    client = api_client_for(owner)
    assert [p["id"] for p in client.get(LIST).json()["results"]] == [project.pk]
    ids = {p["id"] for p in client.get(LIST, {"archived": "1"}).json()["results"]}
    assert ids == {project.pk, archived.pk}


def test_list_query_count_is_pinned(owner, project, django_assert_max_num_queries):  # type: ignore[no-untyped-def]
    for n in range(15):
        extra = ProjectFactory(organization=project.organization, name=f"P{n}", created_by=owner)
        make_item(extra, responses=1)
    client = api_client_for(owner)
    with django_assert_max_num_queries(4):
        response = client.get(LIST)
    assert response.json()["count"] == 16


def test_list_requires_authentication(db):  # type: ignore[no-untyped-def]
    assert APIClient().get(LIST).status_code == 401


def test_list_wrong_method(owner):  # type: ignore[no-untyped-def]
    assert api_client_for(owner).put(LIST, {}, format="json").status_code == 405


# --- create ------------------------------------------------------------------------


def test_create_from_template(owner, org):  # type: ignore[no-untyped-def]
    response = api_client_for(owner).post(LIST, {"name": "Prefs", "template": "pairwise_preference"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    project = Project.objects.get(pk=body["id"])
    assert project.organization == org and project.created_by == owner and project.template == "pairwise_preference"
    assert [q["id"] for q in body["questions"]] == ["preference", "both_bad_reasons", "rationale"]
    assert body["guidelines"]["version"] == 1 and "Both bad" in body["guidelines"]["text"]
    assert body["role"] == "manager"


def test_create_with_explicit_questions_and_settings(owner):  # type: ignore[no-untyped-def]
    payload = {
        "name": "Custom",
        "questions": [{"id": "ok", "type": "single_choice", "prompt": "OK?", "options": [{"value": "y", "label": "Yes"}, {"value": "n", "label": "No"}]}],
        "guidelines": "# Be brief",
        "annotations_per_item": 1,
        "min_annotations": 1,
        "max_annotations": 2,
        "blind_mode": False,
    }
    response = api_client_for(owner).post(LIST, payload, format="json")
    assert response.status_code == 201, response.json()
    project = Project.objects.get(pk=response.json()["id"])
    assert project.template == "" and project.annotations_per_item == 1 and not project.blind_mode
    assert project.questions[0]["required"] is True  # normalised
    assert project.current_guidelines().text == "# Be brief"


def test_create_template_settings_apply(owner):  # type: ignore[no-untyped-def]
    body = api_client_for(owner).post(LIST, {"name": "S", "template": "safety_audit"}, format="json").json()
    assert body["allow_harmful_opt_out"] is True and body["content_warning"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"template": "pairwise_preference"}, "name"),
        ({"name": "x"}, "questions"),
        ({"name": "x", "template": "nope"}, "template"),
        ({"name": "x", "template": "truthfulness", "gold_ratio": 2}, "gold_ratio"),
        ({"name": "x", "template": "truthfulness", "min_annotations": 4, "max_annotations": 2}, "min_annotations"),
        ({"name": "x", "template": "truthfulness", "annotations_per_item": 9}, "annotations_per_item"),
        ({"name": "x", "template": "truthfulness", "colour": "red"}, "colour"),
    ],
)
def test_create_bad_input_gets_a_named_error(owner, payload, field):  # type: ignore[no-untyped-def]
    response = api_client_for(owner).post(LIST, payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["details"] and error["message"]
    assert not Project.objects.filter(name="x").exists()


def test_create_bad_schema_names_question_and_field(owner):  # type: ignore[no-untyped-def]
    payload = {"name": "x", "questions": [{"id": "score", "type": "rating", "prompt": "S", "anchors": {"9": "?"}}]}
    response = api_client_for(owner).post(LIST, payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_schema"
    assert error["details"]["questions"][0] == {"question": "score", "field": "anchors.9", "message": "is not a point of the 1-5 scale"}
    assert "score" in error["message"] and "anchors.9" in error["message"]


def test_create_needs_an_org_role(annotator):  # type: ignore[no-untyped-def]
    response = api_client_for(annotator).post(LIST, {"name": "x", "template": "truthfulness"}, format="json")
    assert response.status_code == 403
    assert not Project.objects.filter(name="x").exists()


def test_create_in_another_org_is_refused_without_confirming_it_exists(owner, other_org):  # type: ignore[no-untyped-def]
    client = api_client_for(owner)
    theirs = client.post(LIST, {"name": "x", "template": "truthfulness", "organization": other_org.pk}, format="json")
    missing = client.post(LIST, {"name": "x", "template": "truthfulness", "organization": 999999}, format="json")
    assert theirs.status_code == missing.status_code == 400
    assert theirs.json() == missing.json()
    assert not Project.objects.filter(name="x").exists()


def test_create_asks_which_org_when_several(owner, other_org):  # type: ignore[no-untyped-def]
    OrgMembershipFactory(organization=other_org, user=owner)
    client = api_client_for(owner)
    response = client.post(LIST, {"name": "x", "template": "truthfulness"}, format="json")
    assert response.status_code == 400 and "organization" in response.json()["error"]["details"]
    response = client.post(LIST, {"name": "x", "template": "truthfulness", "organization": other_org.pk}, format="json")
    assert response.status_code == 201 and response.json()["organization"]["id"] == other_org.pk


def test_create_requires_authentication(db):  # type: ignore[no-untyped-def]
    assert APIClient().post(LIST, {"name": "x", "template": "truthfulness"}, format="json").status_code == 401


# --- detail ------------------------------------------------------------------------


def test_get_as_manager_shows_everything(owner, project):  # type: ignore[no-untyped-def]
    body = api_client_for(owner).get(detail(project)).json()
    assert body["name"] == "Project A" and body["gold_ratio"] == 0.0 and body["created_by"] == "owner"
    assert body["guidelines"] == {"version": 1, "text": "Be careful and kind.", "updated_at": body["guidelines"]["updated_at"]}


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_get_as_annotator_or_reviewer_hides_manager_settings(persona, project, request):  # type: ignore[no-untyped-def]
    user = request.getfixturevalue(persona)
    response = api_client_for(user).get(detail(project))
    assert response.status_code == 200
    body = response.json()
    assert body["role"] == persona and body["questions"] and body["guidelines"]["text"]
    for hidden in ("gold_ratio", "confidence_threshold", "annotations_per_item", "per_annotator_cap", "created_by"):
        assert hidden not in body


def test_outsider_gets_404_everywhere(outsider, project):  # type: ignore[no-untyped-def]
    client = api_client_for(outsider)
    for response in (
        client.get(detail(project)),
        client.patch(detail(project), {"name": "Mine"}, format="json"),
        client.delete(detail(project)),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    project.refresh_from_db()
    assert project.name == "Project A"


def test_missing_project_is_404(owner):  # type: ignore[no-untyped-def]
    assert api_client_for(owner).get("/api/v1/projects/999999/").status_code == 404


def test_detail_requires_authentication(project):  # type: ignore[no-untyped-def]
    assert APIClient().get(detail(project)).status_code == 401


def test_detail_wrong_method(owner, project):  # type: ignore[no-untyped-def]
    assert api_client_for(owner).post(detail(project), {}, format="json").status_code == 405


def test_patch_settings(owner, project):  # type: ignore[no-untyped-def]
    response = api_client_for(owner).patch(
        detail(project), {"name": "Renamed", "lease_minutes": 45, "pii_policy": "exclude"}, format="json"
    )
    assert response.status_code == 200, response.json()
    project.refresh_from_db()
    assert (project.name, project.lease_minutes, project.pii_policy) == ("Renamed", 45, "exclude")


def test_patch_guidelines_creates_a_version_only_on_change(owner, project):  # type: ignore[no-untyped-def]
    client = api_client_for(owner)
    body = client.patch(detail(project), {"guidelines": "## New rules"}, format="json").json()
    assert body["guidelines"]["version"] == 2 and body["guidelines"]["text"] == "## New rules"
    body = client.patch(detail(project), {"guidelines": "## New rules"}, format="json").json()
    assert body["guidelines"]["version"] == 2
    assert GuidelineVersion.objects.filter(project=project).count() == 2
    assert GuidelineVersion.objects.get(project=project, version=2).created_by == owner


def test_patch_questions_and_archive(owner, project):  # type: ignore[no-untyped-def]
    client = api_client_for(owner)
    questions = [{"id": "why", "type": "text", "prompt": "Why?"}]
    body = client.patch(detail(project), {"questions": questions, "archived": True}, format="json").json()
    assert body["questions"][0]["max_length"] == 5000 and body["archived"] is True
    body = client.patch(detail(project), {"archived": False}, format="json").json()
    assert body["archived"] is False


def test_patch_is_all_or_nothing(owner, project):  # type: ignore[no-untyped-def]
    response = api_client_for(owner).patch(
        detail(project), {"name": "Renamed", "questions": [{"id": "x", "type": "nope", "prompt": "?"}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["questions"][0]["field"] == "type"
    project.refresh_from_db()
    assert project.name == "Project A"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"lease_minutes": 0}, "lease_minutes"),
        ({"name": ""}, "name"),
        ({"pii_policy": "publish"}, "pii_policy"),
        ({"template": "sft_rewrite"}, "template"),
        ({"organization": 1}, "organization"),
        ({"max_annotations": 1}, "min_annotations"),
        ({"annotations_per_item": 5}, "annotations_per_item"),
    ],
)
def test_patch_bad_input_gets_a_named_error(owner, project, payload, field):  # type: ignore[no-untyped-def]
    response = api_client_for(owner).patch(detail(project), payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_annotator_and_reviewer_cannot_change_or_delete(persona, project, request):  # type: ignore[no-untyped-def]
    client = api_client_for(request.getfixturevalue(persona))
    assert client.patch(detail(project), {"name": "Mine"}, format="json").status_code == 403
    assert client.delete(detail(project)).status_code == 403
    assert Project.objects.get(pk=project.pk).name == "Project A"


def test_delete(owner, project, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    make_item(project, responses=2)
    client = api_client_for(owner)
    with django_capture_on_commit_callbacks() as callbacks:
        assert client.delete(detail(project)).status_code == 204
    assert len(callbacks) == 1
    assert client.get(detail(project)).status_code == 404
    assert client.get(LIST).json()["count"] == 0
    project_purge(project_id=project.pk)
    assert not Project.objects.filter(pk=project.pk).exists()


def test_project_manager_without_org_role_edits_but_cannot_delete(project):  # type: ignore[no-untyped-def]
    manager = UserFactory()
    ProjectMembershipFactory(project=project, user=manager, role=ProjectRole.MANAGER)
    client = api_client_for(manager)
    assert client.patch(detail(project), {"description": "Edited"}, format="json").status_code == 200
    assert client.delete(detail(project)).status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()
