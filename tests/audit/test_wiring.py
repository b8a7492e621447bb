"""The services of every app write their audit events (one test per app area).

Each test performs real actions through the services or the API and reads the log
back, so removing an `audit_record` call from a service fails here.
"""

from __future__ import annotations

import io

import pytest

from apps.accounts.models import ProjectMembership, ProjectRole
from apps.accounts.services.invites import invite_accept, invite_create, invite_revoke
from apps.accounts.services.memberships import membership_remove, membership_set_role
from apps.accounts.services.tokens import api_token_create, api_token_revoke
from apps.audit.models import AuditEvent
from apps.items.services import import_job_create, import_upload_store
from apps.projects import services as project_services
from apps.quality.services import annotator_reinstate, annotator_suspend, review_record
from apps.sampling.services.endpoints import endpoint_archive, endpoint_create, endpoint_update
from tests.conftest import api_client_for
from tests.factories import UserFactory, make_item

pytestmark = pytest.mark.django_db


def _events(**filters):  # type: ignore[no-untyped-def]
    return list(AuditEvent.objects.filter(**filters).order_by("pk"))


def _actions(**filters) -> list[str]:  # type: ignore[no-untyped-def]
    return [event.action for event in _events(**filters)]


def test_accounts_memberships_invites_and_tokens(owner, project, annotator):
    membership = ProjectMembership.objects.get(project=project, user=annotator)
    membership_set_role(membership=membership, actor=owner, role=ProjectRole.REVIEWER)
    invite, token = invite_create(project=project, actor=owner, role=ProjectRole.ANNOTATOR)
    newcomer = UserFactory(username="newcomer")
    invite_accept(invite_id=invite.pk, user=newcomer)
    invite_revoke(invite=invite, actor=owner)
    membership_remove(membership=membership, actor=owner)
    api_token, _ = api_token_create(user=owner, name="script")
    api_token_revoke(token=api_token)

    assert _actions(project=project) == [
        "membership.role_changed", "invite.created", "invite.used", "invite.revoked", "membership.removed",
    ]
    role_change = _events(action="membership.role_changed")[0]
    assert (role_change.actor_id, role_change.subject_user_id) == (owner.pk, annotator.pk)
    assert role_change.detail == {"from": "annotator", "to": "reviewer"}
    used = _events(action="invite.used")[0]
    assert (used.actor_id, used.object_id) == (newcomer.pk, str(invite.pk))
    assert _actions(actor=owner, action__startswith="token.") == ["token.created", "token.revoked"]


def test_projects_lifecycle(owner, org):
    project = project_services.project_create(user=owner, organization=org, name="Audited", template="pairwise_preference")
    project_services.project_update(project=project, user=owner, changes={"name": "Audited 2"})
    project_services.project_questions_set(project=project, user=owner, questions=project.questions)
    project_services.guidelines_update(project=project, user=owner, text="Be careful.")
    project_services.project_archive(project=project, user=owner)
    project_services.project_unarchive(project=project, user=owner)
    project_services.project_delete(project=project, user=owner, confirm_name="Audited 2")

    assert _actions(organization=org) == [
        "project.created", "project.settings_changed", "project.schema_changed", "project.guidelines_changed",
        "project.archived", "project.unarchived", "project.deleted",
    ]
    assert _events(action="project.settings_changed")[0].detail == {"fields": ["name"]}
    assert all(event.actor_id == owner.pk for event in _events(organization=org))


def test_exports_created_over_the_api_record_the_callers_address(owner, project):
    client = api_client_for(owner)
    response = client.post(
        f"/api/v1/projects/{project.pk}/exports/", {"kind": "labels", "format": "jsonl"}, format="json",
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 202, response.content
    (event,) = _events(action="export.created")
    assert (event.actor_id, event.project_id, event.ip_address) == (owner.pk, project.pk, "198.51.100.7")
    assert event.object_id == str(response.json()["id"])


def test_items_import_created(owner, project):
    upload = import_upload_store(project=project, user=owner, fileobj=io.BytesIO(b"prompt,model,response\nhi,m,yo\n"),
                                 name="batch.csv")
    job = import_job_create(project=project, user=owner, upload=upload,
                            mapping={"shape": "rows", "prompt": "prompt", "model": "model", "response": "response"}, queue=False)
    (event,) = _events(action="import.created")
    assert (event.actor_id, event.object_id, event.detail) == (owner.pk, str(job.pk), {"file": "batch.csv"})


def test_sampling_endpoints(owner, org, settings):
    settings.MODEL_ENDPOINT_ALLOW = ["127.0.0.0/8"]
    endpoint = endpoint_create(
        organization=org, user=owner,
        data={"name": "local", "base_url": "http://127.0.0.1:9/v1", "model_name": "m", "max_concurrency": 1},
    )
    endpoint_update(endpoint=endpoint, data={"name": "local 2"}, actor=owner)
    endpoint_archive(endpoint=endpoint, actor=owner)
    assert _actions(organization=org) == [
        "model_endpoint.created", "model_endpoint.changed", "model_endpoint.deleted",
    ]
    assert all(event.actor_id == owner.pk for event in _events(organization=org))


def test_quality_suspension_and_review(owner, reviewer, annotator, project):
    assert annotator_suspend(project=project, annotator_id=annotator.pk, reason="too fast", by=owner,
                             schedule=False)
    assert annotator_reinstate(project=project, annotator_id=annotator.pk, by=owner, note="checked")
    item = make_item(project, responses=1)
    review_record(project=project, item=item, reviewer=reviewer, decision="correct", answers={"overall": 4})

    suspended, reinstated, reviewed = _events(project=project)
    assert (suspended.action, suspended.subject_user_id, suspended.detail["reason"]) == (
        "membership.suspended", annotator.pk, "too fast")
    assert (reinstated.action, reinstated.actor_id) == ("membership.reinstated", owner.pk)
    assert (reviewed.action, reviewed.actor_id, reviewed.detail["decision"]) == (
        "review.recorded", reviewer.pk, "correct")
