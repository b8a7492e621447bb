"""The purge after a delete runs in a real Celery worker."""

from __future__ import annotations

import pytest

from apps.items.models import Item
from apps.projects.models import Project
from apps.projects.services import project_delete
from tests.conftest import wait_for
from tests.factories import make_item


@pytest.mark.worker
def test_deleted_project_is_purged_by_the_worker(celery_worker, project, owner):  # type: ignore[no-untyped-def]
    for _ in range(3):
        make_item(project, responses=2)
    project_delete(project=project, user=owner, confirm_name="Project A")  # autocommit: queued at once
    wait_for(lambda: not Project.objects.filter(pk=project.pk).exists(), timeout=60, message="project purged")
    assert not Item.objects.filter(project_id=project.pk).exists()
