"""Service-level guards that no entry point can skip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Invite, ProjectMembership, ProjectRole
from apps.accounts.services import AccountsError, invite_accept, invite_create, membership_set_role

pytestmark = pytest.mark.django_db


def test_reviewers_and_annotators_cannot_mint_links_even_calling_the_service(project, reviewer, annotator, outsider):
    for actor in (reviewer, annotator, outsider):
        for role in ProjectRole.values:
            with pytest.raises(PermissionDenied):
                invite_create(project=project, actor=actor, role=role)
    assert not Invite.objects.exists()


def test_role_changes_need_a_manager(project, reviewer, annotator):
    with pytest.raises(PermissionDenied):
        membership_set_role(membership=ProjectMembership.objects.get(user=annotator), actor=reviewer, role="manager")


def test_invite_create_validates(project, owner):
    with pytest.raises(AccountsError) as exc:
        invite_create(project=project, actor=owner, role="annotator", expires_at=timezone.now() - timedelta(seconds=1))
    assert exc.value.code == "expiry_in_past"
    with pytest.raises(AccountsError) as exc:
        invite_create(project=project, actor=owner, role="annotator", max_uses=0)
    assert exc.value.code == "invalid_max_uses"
    with pytest.raises(AccountsError) as exc:
        invite_create(project=project, actor=owner, role="superuser")
    assert exc.value.code == "invalid_role"


def test_the_database_refuses_uses_beyond_the_limit(make_invite):
    invite, _ = make_invite(max_uses=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invite.objects.filter(pk=invite.pk).update(uses=2)


def test_invite_accept_is_idempotent(make_invite, outsider, project):
    invite, _ = make_invite(max_uses=5)
    first = invite_accept(invite_id=invite.pk, user=outsider)
    second = invite_accept(invite_id=invite.pk, user=outsider)
    assert (first.joined, second.joined) == (True, False)
    assert ProjectMembership.objects.filter(user=outsider, project=project).count() == 1
    invite.refresh_from_db()
    assert invite.uses == 1
