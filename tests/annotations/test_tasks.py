"""The lease reaper as Celery runs it: registered with beat, idempotent, on a real worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.annotations.models import Assignment, AssignmentStatus
from apps.annotations.services import lease_next_item
from apps.annotations.tasks import expire_leases
from apps.items.models import Item
from config.celery import app
from tests.annotations.conftest import items
from tests.conftest import wait_for


def test_beat_runs_the_reaper_every_minute():
    entry = app.conf.beat_schedule["annotations-expire-leases"]
    assert entry["task"] == expire_leases.name == "annotations.expire_leases"
    assert entry["schedule"] == 60.0


@pytest.mark.django_db
def test_the_task_returns_expired_leases_and_is_idempotent(rating_project, member):
    items(rating_project, 1)
    lease_next_item(member, rating_project, now=timezone.now() - timedelta(hours=1))
    assert expire_leases.apply().get() == 1
    assert expire_leases.apply().get() == 0
    assert Item.objects.get().active_count == 0


@pytest.mark.worker
def test_a_real_worker_reaps_expired_leases(celery_worker, rating_project, member):
    items(rating_project, 1)
    assignment = lease_next_item(member, rating_project, now=timezone.now() - timedelta(hours=1))
    expire_leases.delay()
    wait_for(
        lambda: Assignment.objects.get(pk=assignment.pk).status == AssignmentStatus.EXPIRED,
        timeout=60,
        message="the worker to expire the lease",
    )
    assert Item.objects.get().active_count == 0
