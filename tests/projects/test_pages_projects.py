"""Project pages: list, new, detail, settings, archive/unarchive, delete."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import ProjectRole
from apps.projects.models import GuidelineVersion, Project
from apps.projects.services import project_purge
from tests.conftest import client_for
from tests.factories import ProjectFactory, ProjectMembershipFactory, UserFactory, make_item

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(project, suffix: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/projects/{project.pk}/{suffix}"


# --- list -----------------------------------------------------------------------------


def test_list_links_to_detail_pages_and_offers_new_project(owner, project, other_project):  # type: ignore[no-untyped-def]
    response = client_for(owner).get("/projects/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="/projects/{project.pk}/"' in html and "Project of Y" not in html
    assert 'href="/projects/new/"' in html
    assert "HX-Request" in response["Vary"]


def test_list_has_no_new_button_for_annotators(annotator, project):  # type: ignore[no-untyped-def]
    html = client_for(annotator).get("/projects/").content.decode()
    assert "Project A" in html and "New project" not in html


def test_list_hides_archived_by_default_and_htmx_toggle_returns_the_table(owner, project):  # type: ignore[no-untyped-def]
    ProjectFactory(organization=project.organization, name="Old project", archived_at="2024-01-01T00:00:00Z")
    client = client_for(owner)
    assert "Old project" not in client.get("/projects/").content.decode()
    full = client.get("/projects/?archived=1").content.decode()
    assert "Old project" in full and "<html" in full
    partial = client.get("/projects/?archived=1", **HTMX).content.decode()
    assert "Old project" in partial and "<html" not in partial and 'id="project-table"' in partial
    assert 'href="/projects/"' in partial  # the toggle keeps a real href


def test_list_query_count_is_pinned(owner, project, django_assert_max_num_queries):  # type: ignore[no-untyped-def]
    for n in range(15):
        make_item(ProjectFactory(organization=project.organization, name=f"P{n}", created_by=owner), responses=1)
    client = client_for(owner)
    with django_assert_max_num_queries(7):
        response = client.get("/projects/")
    assert response.content.decode().count('href="/projects/') >= 16


def test_list_anonymous_redirects_to_login(db):  # type: ignore[no-untyped-def]
    response = Client().get("/projects/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_list_wrong_method(owner):  # type: ignore[no-untyped-def]
    assert client_for(owner).post("/projects/").status_code == 405


# --- new ------------------------------------------------------------------------------


def test_new_page_offers_every_template(owner):  # type: ignore[no-untyped-def]
    html = client_for(owner).get("/projects/new/").content.decode()
    for key in ("pairwise_preference", "response_quality", "safety_audit", "truthfulness", "sft_rewrite", "blank"):
        assert f'value="{key}"' in html


def test_new_from_template(owner, org):  # type: ignore[no-untyped-def]
    response = client_for(owner).post(
        "/projects/new/", {"organization": org.pk, "name": "Truth", "template": "truthfulness", "description": "d"}
    )
    project = Project.objects.get(name="Truth")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/"
    assert project.template == "truthfulness" and project.created_by == owner
    assert project.current_guidelines().version == 1


def test_new_blank_with_questions_goes_to_the_editor(owner, org):  # type: ignore[no-untyped-def]
    questions = '[{"id": "ok", "type": "rating", "prompt": "OK?"}]'
    response = client_for(owner).post(
        "/projects/new/", {"organization": org.pk, "name": "Blank", "template": "blank", "questions": questions}
    )
    project = Project.objects.get(name="Blank")
    assert response["Location"] == f"/projects/{project.pk}/questions/"
    assert project.questions[0]["max"] == 5


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "", "template": "truthfulness"}, "This field is required"),
        ({"name": "x", "template": "blank", "questions": "[{"}, "line 1, column 3"),
        ({"name": "x", "template": "blank", "questions": '[{"id": "q", "type": "rating", "prompt": "?", "max": 50}]'}, "Question q, field max"),
        ({"name": "x", "template": "other"}, "Select a valid choice"),
    ],
)
def test_new_bad_input_named_errors(owner, org, data, expected):  # type: ignore[no-untyped-def]
    response = client_for(owner).post("/projects/new/", {"organization": org.pk, **data})
    assert response.status_code == 422
    assert expected in response.content.decode()
    assert not Project.objects.filter(name="x").exists()


def test_new_in_another_org_is_refused(owner, other_org):  # type: ignore[no-untyped-def]
    response = client_for(owner).post("/projects/new/", {"organization": other_org.pk, "name": "x", "template": "truthfulness"})
    assert response.status_code == 422
    assert not Project.objects.filter(name="x").exists()


def test_new_is_forbidden_without_an_org_role(annotator):  # type: ignore[no-untyped-def]
    assert client_for(annotator).get("/projects/new/").status_code == 403
    assert client_for(annotator).post("/projects/new/", {"name": "x", "template": "truthfulness"}).status_code == 403


def test_new_anonymous_and_wrong_method(owner):  # type: ignore[no-untyped-def]
    assert Client().get("/projects/new/").status_code == 302
    assert client_for(owner).put("/projects/new/").status_code == 405


# --- detail ---------------------------------------------------------------------------


def test_detail_for_manager_shows_counts_and_nav(owner, project, annotator):  # type: ignore[no-untyped-def]
    make_item(project, responses=2)
    response = client_for(owner).get(url(project))
    html = response.content.decode()
    assert response.status_code == 200
    assert "0</strong> of 1 complete" in html
    assert "1 annotator " in html
    for path in ("items/", "imports/new/", "quality/", "review/", "exports/", "members/", "questions/", "guidelines/", "settings/"):
        assert f'href="/projects/{project.pk}/{path}"' in html


def test_detail_for_annotator_has_start_link_and_no_manager_nav(annotator, project):  # type: ignore[no-untyped-def]
    html = client_for(annotator).get(url(project)).content.decode()
    assert f'href="/projects/{project.pk}/annotate/"' in html and "Start annotating" in html
    assert f'/projects/{project.pk}/settings/' not in html and f"/projects/{project.pk}/exports/" not in html
    assert "gold" not in html


def test_detail_escapes_untrusted_text(owner, project):  # type: ignore[no-untyped-def]
    Project.objects.filter(pk=project.pk).update(description="<script>alert(1)</script>")
    html = client_for(owner).get(url(project)).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_detail_outsider_404_anonymous_wrong_method(outsider, owner, project):  # type: ignore[no-untyped-def]
    assert client_for(outsider).get(url(project)).status_code == 404
    assert Client().get(url(project)).status_code == 302
    assert client_for(owner).post(url(project)).status_code == 405
    assert client_for(owner).get("/projects/999999/").status_code == 404


# --- settings -------------------------------------------------------------------------


def settings_data(project, **changes):  # type: ignore[no-untyped-def]
    from apps.projects.forms import ProjectSettingsForm

    form = ProjectSettingsForm(instance=project)
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items() if v is not False}
    data.update(changes)
    return data


def test_settings_save(owner, project):  # type: ignore[no-untyped-def]
    response = client_for(owner).post(
        url(project, "settings/"),
        settings_data(project, name="Renamed", gold_ratio="0.1", per_annotator_cap="50", dataset_license="cc-by-4.0"),
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.gold_ratio, project.per_annotator_cap, project.dataset_license) == ("Renamed", 0.1, 50, "cc-by-4.0")
    assert project.blind_mode is True  # a checked box stays checked


def test_settings_htmx_returns_the_form_partial(owner, project):  # type: ignore[no-untyped-def]
    response = client_for(owner).post(url(project, "settings/"), settings_data(project, lease_minutes="15"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and "Settings saved." in html
    assert "HX-Request" in response["Vary"]
    assert Project.objects.get(pk=project.pk).lease_minutes == 15


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"gold_ratio": "1.5"}, "gold_ratio", "less than or equal to 1"),
        ({"min_annotations": "5", "max_annotations": "4"}, "min_annotations", "larger than the maximum"),
        ({"annotations_per_item": "9"}, "annotations_per_item", "must lie between"),
        ({"lease_minutes": "abc"}, "lease_minutes", "Enter a whole number"),
        ({"name": "  "}, "name", "required"),
    ],
)
def test_settings_bad_input_named_errors(owner, project, changes, field, message):  # type: ignore[no-untyped-def]
    response = client_for(owner).post(url(project, "settings/"), settings_data(project, **changes), **HTMX)
    html = response.content.decode()
    assert response.status_code == 422
    assert f'id="id_{field}-error"' in html and message in html
    assert Project.objects.get(pk=project.pk).name == "Project A"


def test_settings_annotator_403_outsider_404_anonymous(annotator, outsider, project):  # type: ignore[no-untyped-def]
    for user, status in ((annotator, 403), (outsider, 404)):
        assert client_for(user).get(url(project, "settings/")).status_code == status
        assert client_for(user).post(url(project, "settings/"), settings_data(project, name="Mine")).status_code == status
    assert Client().get(url(project, "settings/")).status_code == 302
    assert Project.objects.get(pk=project.pk).name == "Project A"


def test_settings_wrong_method(owner, project):  # type: ignore[no-untyped-def]
    assert client_for(owner).delete(url(project, "settings/")).status_code == 405


# --- archive ----------------------------------------------------------------------------


def test_archive_and_unarchive(owner, project):  # type: ignore[no-untyped-def]
    client = client_for(owner)
    response = client.post(url(project, "archive/"))
    assert response.status_code == 302
    assert Project.objects.get(pk=project.pk).archived_at is not None
    assert "Project A" not in client.get("/projects/").content.decode()
    response = client.post(url(project, "unarchive/"), **HTMX)
    assert response.status_code == 200 and 'id="archive-status"' in response.content.decode()
    assert Project.objects.get(pk=project.pk).archived_at is None


def test_archive_permissions(annotator, outsider, project):  # type: ignore[no-untyped-def]
    assert client_for(annotator).post(url(project, "archive/")).status_code == 403
    assert client_for(outsider).post(url(project, "archive/")).status_code == 404
    assert Client().post(url(project, "archive/")).status_code == 302
    assert client_for(annotator).get(url(project, "archive/")).status_code == 405
    assert Project.objects.get(pk=project.pk).archived_at is None


# --- delete -----------------------------------------------------------------------------


def test_delete_asks_for_the_name(owner, project):  # type: ignore[no-untyped-def]
    make_item(project, responses=1)
    client = client_for(owner)
    page = client.get(url(project, "delete/")).content.decode()
    assert "Type" in page and "1 item" in page
    response = client.post(url(project, "delete/"), {"confirm_name": "project a"})
    assert response.status_code == 422 and "Type the project name exactly" in response.content.decode()
    assert Project.objects.filter(pk=project.pk).exists()
    response = client.post(url(project, "delete/"), {"confirm_name": "Project A"})
    assert response.status_code == 302 and response["Location"] == "/projects/"
    listing = client.get("/projects/?archived=1").content.decode()
    assert "being removed in the background" in listing and f'href="/projects/{project.pk}/"' not in listing
    assert client.get(url(project)).status_code == 404
    project_purge(project_id=project.pk)
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not GuidelineVersion.objects.filter(project_id=project.pk).exists()


def test_delete_permissions(annotator, outsider, project):  # type: ignore[no-untyped-def]
    manager = UserFactory()
    ProjectMembershipFactory(project=project, user=manager, role=ProjectRole.MANAGER)
    for user, status in ((annotator, 403), (outsider, 404), (manager, 403)):
        assert client_for(user).get(url(project, "delete/")).status_code == status
        assert client_for(user).post(url(project, "delete/"), {"confirm_name": "Project A"}).status_code == status
    assert Client().post(url(project, "delete/"), {"confirm_name": "Project A"}).status_code == 302
    assert Project.objects.filter(pk=project.pk).exists()


def test_delete_wrong_method(owner, project):  # type: ignore[no-untyped-def]
    assert client_for(owner).put(url(project, "delete/")).status_code == 405


def test_list_is_paginated(owner, project, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("apps.projects.views.PROJECTS_PER_PAGE", 2)
    for n in range(3):
        ProjectFactory(organization=project.organization, name=f"Paged {n}")
    client = client_for(owner)
    first = client.get("/projects/").content.decode()
    assert "Page 1 of 2" in first and 'href="?page=2"' in first
    second = client.get("/projects/?page=2", **HTMX).content.decode()
    assert "Page 2 of 2" in second and 'href="?page=1"' in second and "<html" not in second
    assert client.get("/projects/?page=99").status_code == 200  # out of range shows the last page
