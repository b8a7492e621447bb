"""The recompute runs in a real Celery worker: scheduled (debounced), executed, recorded."""

from __future__ import annotations

import pytest

from apps.core.models import JobStatus
from apps.quality.models import ItemAggregate, QualitySnapshot
from apps.quality.services import recompute_schedule
from tests.conftest import wait_for
from tests.factories import make_item
from tests.quality.helpers import CHOICE_QUESTION, annotators, bulk_annotate

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_scheduled_recompute_runs_in_the_worker(celery_worker, project):  # type: ignore[no-untyped-def]
    project.questions = [CHOICE_QUESTION]
    project.save()
    a, b = annotators(project, 2)
    items = [make_item(project) for _ in range(4)]
    bulk_annotate([(item, person, {"label": "safe"}) for item in items for person in (a, b)])
    assert recompute_schedule(project_id=project.pk, delay=0)
    assert not recompute_schedule(project_id=project.pk, delay=0)  # debounced while one is pending
    snapshot = wait_for(
        lambda: QualitySnapshot.objects.filter(project=project, status=JobStatus.SUCCEEDED).first(),
        timeout=60, message="the worker to finish the recompute",
    )
    assert snapshot.figures["annotations"] == 8 and snapshot.progress == 100 and snapshot.duration_ms is not None
    assert ItemAggregate.objects.filter(project=project).count() == 4
    assert recompute_schedule(project_id=project.pk, delay=0)  # the run cleared the debounce marker
