"""The audit log is append-only, cannot be forged, and records sign-ins and refusals."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client

from apps.audit.models import AuditEvent, AuditLogIsAppendOnly
from apps.audit.services import audit_record, audit_record_many, clean_text
from tests.conftest import api_client_for, client_for
from tests.factories import make_item

pytestmark = pytest.mark.django_db


def test_it_records_who_did_what_to_which_object(owner, project, rf):
    request = rf.post("/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="pytest-agent")
    event = audit_record(
        actor=owner, action="project.schema_changed", target=project, project=project, request=request,
        detail={"questions": 3},
    )
    event.refresh_from_db()
    assert event.action == "project.schema_changed"
    assert (event.actor_id, event.actor_label) == (owner.pk, "owner")
    assert (event.object_type, event.object_id, event.object_repr) == ("projects.project", str(project.pk), "Project A")
    assert (event.project_id, event.organization_id) == (project.pk, project.organization_id)
    assert (event.ip_address, event.user_agent) == ("203.0.113.9", "pytest-agent")
    assert event.detail == {"questions": 3}


def test_unknown_actions_are_refused():
    with pytest.raises(ValueError, match="unknown audit action"):
        audit_record(actor=None, action="project.renamed_by_magic")


def test_control_characters_cannot_forge_entries(owner, project, rf):
    forged = "eve\r\n2026-01-01 00:00:00 auth.login by admin\x1b[31m\u202egnp.exe\x00"
    project.name = forged
    request = rf.get("/", HTTP_USER_AGENT="agent\nX-Injected: 1")
    owner.username = forged
    event = audit_record(
        actor=owner, action="project.settings_changed", target=project, project=project, request=request,
        detail={"name\n": forged, "nested": [{"deep": "a\rb"}]},
    )
    event.refresh_from_db()
    for value in (event.actor_label, event.object_repr, event.user_agent, event.detail["name "], event.detail["nested"][0]["deep"]):
        assert not any(ch in value for ch in "\r\n\x1b\x00\u202e"), value
    assert event.actor_label == "eve 2026-01-01 00:00:00 auth.login by admin[31mgnp.exe"
    assert clean_text("a\u2028b\tc") == "a b c"


def test_the_database_refuses_update_and_delete(owner):
    event = audit_record(actor=owner, action="auth.login", subject_user=owner)
    for sql in (
        "UPDATE audit_auditevent SET action = 'auth.logout' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.action == "auth.login"


def test_the_app_has_no_update_or_delete_path(owner):
    event = audit_record(actor=owner, action="auth.login")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action="auth.logout")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    event.action = "auth.logout"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()


def test_deleting_audited_objects_keeps_their_history(owner, project):
    audit_record(actor=owner, action="project.deleted", target=project, project=project)
    project_id = project.pk
    project.delete()
    owner.delete()
    event = AuditEvent.objects.get(action="project.deleted")
    assert (event.project_id, event.actor_id, event.actor_label) == (project_id, event.actor_id, "owner")


def test_bulk_operations_write_one_event_per_object_in_one_insert(owner, project, django_assert_num_queries):
    items = [make_item(project) for _ in range(3)]
    with django_assert_num_queries(1):
        count = audit_record_many(actor=owner, action="item.deleted", targets=items, project=project)
    assert count == 3
    assert sorted(AuditEvent.objects.filter(action="item.deleted").values_list("object_id", flat=True)) == sorted(
        str(item.pk) for item in items
    )


def test_sign_in_sign_out_and_failures_are_recorded(owner, password):
    client = Client(REMOTE_ADDR="198.51.100.7")
    client.post("/accounts/login/", {"username": "owner", "password": "wrong"})
    client.post("/accounts/login/", {"username": "nobody\r\nfake", "password": "wrong"})
    client.post("/accounts/login/", {"username": "owner", "password": password})
    client.post("/accounts/logout/")

    failed = list(AuditEvent.objects.filter(action="auth.login_failed").order_by("id"))
    assert [(e.subject_user_id, e.actor_id, e.actor_label) for e in failed] == [
        (owner.pk, None, "owner"),
        (None, None, "nobody fake"),
    ]
    assert all(e.ip_address == "198.51.100.7" for e in failed)
    assert "password" not in str(failed[0].detail)
    login = AuditEvent.objects.get(action="auth.login")
    assert (login.actor_id, login.subject_user_id, login.ip_address) == (owner.pk, owner.pk, "198.51.100.7")
    assert AuditEvent.objects.filter(action="auth.logout", actor=owner).exists()


def test_a_403_is_recorded_as_a_denied_access(project, annotator):
    response = client_for(annotator).get(f"/projects/{project.pk}/privacy/")
    assert response.status_code == 403
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.actor_id, event.project_id, event.organization_id) == (annotator.pk, project.pk, project.organization_id)
    assert event.detail["status"] == 403 and event.detail["path"] == f"/projects/{project.pk}/privacy/"
    assert event.detail["view"] == "privacy:page"


def test_probing_another_tenants_project_is_recorded_for_that_tenant(project, outsider):
    response = api_client_for(outsider).get(f"/api/v1/projects/{project.pk}/privacy/")
    assert response.status_code == 404
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.actor_id, event.project_id, event.organization_id) == (outsider.pk, project.pk, project.organization_id)
    assert event.detail["status"] == 404 and event.detail["method"] == "GET"


def test_ordinary_not_found_answers_are_not_denials(owner, project):
    client = client_for(owner)
    assert client.get("/no/such/page/").status_code == 404
    assert client.get("/projects/999999/privacy/").status_code == 404  # an id: recorded, no project
    assert Client().get("/projects/999999/privacy/").status_code == 302
    events = list(AuditEvent.objects.filter(action="access.denied"))
    assert len(events) == 1 and events[0].project_id is None and events[0].detail["ids"] == {"project_id": "999999"}


def test_denied_access_events_are_rate_limited_per_caller(project, outsider, settings):
    settings.AUDIT_DENIED_PER_MINUTE = 3
    client = api_client_for(outsider)
    for _ in range(6):
        assert client.get(f"/api/v1/projects/{project.pk}/privacy/").status_code == 404
    assert AuditEvent.objects.filter(action="access.denied").count() == 3
