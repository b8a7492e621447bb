"""Fixtures for the security tests: a project with an item, and URL values for every route."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import OrganizationMembership, ProjectMembership, ProjectRole
from apps.accounts.services.invites import invite_create
from apps.accounts.services.tokens import api_token_create
from apps.annotations.models import Annotation, Assignment, AssignmentStatus
from apps.exports.models import ExportJob
from apps.items.models import ImportJob
from apps.items.services import import_upload_store
from apps.quality.models import QualitySettings
from apps.sampling.models import GenerationRun, ModelEndpoint, SamplingPlan, SamplingStrategy
from tests.factories import ProjectMembershipFactory, UserFactory, make_item


@pytest.fixture(autouse=True)
def _fast_passwords(settings):  # type: ignore[no-untyped-def]
    # Seven personas per test: a slow password hash would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def annotator_b(other_project):  # type: ignore[no-untyped-def]
    """An annotator of the other tenant's project (project B, organization Y)."""
    user = UserFactory(username="annotator_b")
    ProjectMembershipFactory(project=other_project, user=user, role=ProjectRole.ANNOTATOR)
    return user


@pytest.fixture
def url_values(org, project, annotator, owner):  # type: ignore[no-untyped-def]
    """Values for the URL parameters of project A in organization X (ids that exist).

    Every object a route names exists, so a route that leaks another tenant's object
    answers 200 in the table instead of hiding behind a 404 for a missing id.
    """
    item = make_item(project, responses=2)
    membership = ProjectMembership.objects.get(project=project, user=annotator)
    now = timezone.now()
    assignment = Assignment.objects.create(
        project=project, item=item, annotator=annotator, leased_at=now, expires_at=now + timedelta(hours=1)
    )
    # A submitted answer on a gold item in training mode: its feedback page is the annotator's own.
    gold = make_item(project, responses=2, is_gold=True, gold_answers={"overall": 4})
    QualitySettings.objects.update_or_create(project=project, defaults={"training_feedback": True})
    gold_assignment = Assignment.objects.create(
        project=project, item=gold, annotator=annotator, leased_at=now, expires_at=now + timedelta(hours=1),
        status=AssignmentStatus.SUBMITTED, is_gold=True,
    )
    annotation = Annotation.objects.create(
        project=project, item=gold, annotator=annotator, assignment=gold_assignment, answers={"overall": 2}
    )
    upload = import_upload_store(project=project, user=owner, fileobj=io.BytesIO(b"prompt,response\nhi,there\n"),
                                 name="a.csv")
    job = ImportJob.objects.create(project=project, upload=upload, created_by=owner, mapping={})
    export = ExportJob.objects.create(project=project, created_by=owner, kind="labels", format="jsonl")
    endpoint = ModelEndpoint.objects.create(
        organization=org, name="ep", base_url="https://models.invalid/v1", model_name="m", created_by=owner
    )
    run = GenerationRun.objects.create(project=project, created_by=owner)
    run.endpoints.add(endpoint)
    plan = SamplingPlan.objects.create(project=project, name="plan", strategy=SamplingStrategy.choices[0][0])
    invite, join_token = invite_create(project=project, actor=owner, role="annotator")
    token, _ = api_token_create(user=owner, name="t")
    return {
        "project_id": project.pk,
        "organization_id": org.pk,
        "org_id": org.pk,
        "item_id": item.pk,
        "membership_id": membership.pk,
        "user_id": annotator.pk,
        "version": 1,
        "assignment_id": assignment.pk,
        "annotation_id": annotation.pk,
        "upload_id": upload.pk,
        "job_id": job.pk,
        "export_id": export.pk,
        "endpoint_id": endpoint.pk,
        "run_id": run.pk,
        "plan_id": plan.pk,
        "invite_id": invite.pk,
        "token": join_token,
        "token_id": token.pk,
        # Under organizations/, membership_id is the researcher's organization membership.
        "by_prefix": {
            "organizations/": {"membership_id": OrganizationMembership.objects.get(organization=org, user=owner).pk},
        },
    }
