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
    # A second later: the run has not started (and cleared the marker) when the second call comes.
    assert recompute_schedule(project_id=project.pk, delay=1)
    assert not recompute_schedule(project_id=project.pk, delay=1)  # debounced while one is pending
    snapshot = wait_for(
        lambda: QualitySnapshot.objects.filter(project=project, status=JobStatus.SUCCEEDED).first(),
        timeout=60, message="the worker to finish the recompute",
    )
    assert snapshot.figures["annotations"] == 8 and snapshot.progress == 100 and snapshot.duration_ms is not None
    assert ItemAggregate.objects.filter(project=project).count() == 4
    assert recompute_schedule(project_id=project.pk, delay=0)  # the run cleared the debounce marker


def test_submissions_reach_quality_in_the_worker_in_batches(celery_worker, project):  # type: ignore[no-untyped-def]
    """Each committed submission queues quality's reaction; one drain task serves many of them."""
    from apps.annotations.services import annotation_submit, lease_next_item
    from apps.items.models import Item
    from apps.quality.tasks import _PENDING_KEY, _SCHEDULED_KEY, _redis

    project.questions = [CHOICE_QUESTION]
    project.confidence_threshold = 0.7
    project.min_annotations = project.annotations_per_item = 2
    project.max_annotations = 3
    project.save()
    a, b = annotators(project, 2)
    disputed = [make_item(project, required_annotations=2) for _ in range(3)]
    for person, label in ((a, "safe"), (b, "unsafe")):
        for _ in disputed:
            annotation_submit(assignment=lease_next_item(person, project), answers={"label": label})
    # Dynamic overlap raised every disputed item by one, without anything calling quality directly.
    wait_for(
        lambda: all(r == 3 for r in Item.objects.filter(pk__in=[i.pk for i in disputed])
                    .values_list("required_annotations", flat=True)),
        timeout=60, message="the worker to raise the disputed items' overlap",
    )
    wait_for(lambda: _redis().llen(_PENDING_KEY) == 0 and not _redis().exists(_SCHEDULED_KEY),
             timeout=30, message="the queue to drain")
