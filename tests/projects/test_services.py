"""Service rules not covered through the pages and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from apps.annotations.models import Annotation, Assignment
from apps.items.models import Item
from apps.projects.access import project_for_user, projects_visible_to
from apps.projects.models import GuidelineVersion, Project
from apps.projects.schema import SchemaError
from apps.projects.services import (
    guidelines_update,
    project_archive,
    project_create,
    project_delete,
    project_purge,
    project_purges_resume,
    project_unarchive,
    project_update,
)
from tests.factories import ProjectFactory, make_item


def test_create_from_template_copies_questions_guidelines_and_settings(owner, org):  # type: ignore[no-untyped-def]
    project = project_create(user=owner, organization=org, name=" SFT ", template="sft_rewrite")
    assert project.name == "SFT" and project.annotations_per_item == 1
    assert [q["id"] for q in project.questions] == ["rewrite", "edit_size", "reason"]
    version = project.current_guidelines()
    assert version.version == 1 and version.created_by == owner and "ideal response" in version.text


def test_create_explicit_questions_override_the_template(owner, org):  # type: ignore[no-untyped-def]
    questions = [{"id": "only", "type": "text", "prompt": "Only one"}]
    project = project_create(user=owner, organization=org, name="X", template="truthfulness", questions=questions)
    assert [q["id"] for q in project.questions] == ["only"]
    assert "Evidence note" in project.current_guidelines().text


def test_create_rejects_bad_schema_and_stores_nothing(owner, org):  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaError):
        project_create(user=owner, organization=org, name="X", questions=[{"id": "x", "type": "nope", "prompt": "?"}])
    assert not org.projects.filter(name="X").exists()


def test_update_rejects_fields_that_are_not_settings(project, owner):  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        project_update(project=project, user=owner, changes={"organization_id": 5})
    assert "organization_id" in caught.value.message_dict


def test_per_annotator_cap_of_zero_is_explained(project, owner):  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        project_update(project=project, user=owner, changes={"per_annotator_cap": 0})
    assert "no cap" in caught.value.message_dict["per_annotator_cap"][0]


def test_guideline_versions_are_consecutive_and_skip_unchanged_text(project, owner):  # type: ignore[no-untyped-def]
    assert guidelines_update(project=project, user=owner, text="Be careful and kind.") is None
    assert guidelines_update(project=project, user=owner, text="v2").version == 2
    assert guidelines_update(project=project, user=owner, text="v3").version == 3
    assert guidelines_update(project=project, user=owner, text="v3") is None
    assert list(GuidelineVersion.objects.filter(project=project).values_list("version", flat=True)) == [3, 2, 1]


def test_archive_is_idempotent(project, owner):  # type: ignore[no-untyped-def]
    first = project_archive(project=project, user=owner).archived_at
    assert project_archive(project=project, user=owner).archived_at == first
    assert project_unarchive(project=project, user=owner).archived_at is None


def test_delete_requires_the_exact_name_then_hides_and_queues_the_purge(
    project, owner, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        project_delete(project=project, user=owner, confirm_name="Project")
    assert Project.objects.get(pk=project.pk).deletion_requested_at is None
    with django_capture_on_commit_callbacks() as callbacks:
        project_delete(project=project, user=owner, confirm_name="Project A")
    assert len(callbacks) == 1  # the purge task, queued once the request commits
    hidden = Project.objects.get(pk=project.pk)
    assert hidden.deletion_requested_at is not None and hidden.archived_at is not None
    assert not projects_visible_to(owner).filter(pk=project.pk).exists()
    with pytest.raises(Http404):
        project_for_user(owner, project.pk)


def test_purge_removes_everything_in_batches_and_is_idempotent(project, owner, annotator):  # type: ignore[no-untyped-def]
    items = [make_item(project, responses=2) for _ in range(3)]
    now = timezone.now()
    assignment = Assignment.objects.create(
        project=project, item=items[0], annotator=annotator, leased_at=now, expires_at=now, status="submitted"
    )
    Annotation.objects.create(project=project, item=items[0], annotator=annotator, assignment=assignment, answers={})
    other = ProjectFactory(organization=project.organization)
    make_item(other, responses=1)
    assert project_purge(project_id=project.pk) is False  # deletion was never requested
    project_delete(project=project, user=owner, confirm_name="Project A")
    assert project_purge(project_id=project.pk, batch=2) is True
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Item.objects.filter(project_id=project.pk).exists() and not Annotation.objects.exists()
    assert Item.objects.filter(project=other).count() == 1
    assert project_purge(project_id=project.pk) is False


def test_stalled_purges_are_found(project, owner):  # type: ignore[no-untyped-def]
    project_delete(project=project, user=owner, confirm_name="Project A")
    assert project_purges_resume() == []
    Project.objects.filter(pk=project.pk).update(deletion_requested_at=timezone.now() - timedelta(hours=1))
    assert project_purges_resume() == [project.pk]
