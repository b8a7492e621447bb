"""The full recompute against the database: aggregates, overlap, scores, suspension, biases."""

from __future__ import annotations

import numpy as np
import pytest

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Annotation
from apps.core.models import JobStatus
from apps.items.models import Item, ItemState
from apps.quality import services
from apps.quality.models import (
    AnnotatorScore,
    ItemAggregate,
    QualitySettings,
    SuspensionEvent,
    SuspensionKind,
)
from apps.quality.recompute import items_refresh, project_recompute
from tests.factories import make_item
from tests.quality.helpers import (
    CHOICE_QUESTION,
    PAIRWISE_QUESTION,
    RATING_QUESTION,
    annotate,
    annotators,
    bulk_annotate,
    membership,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def choice_project(project):  # type: ignore[no-untyped-def]
    project.questions = [CHOICE_QUESTION, RATING_QUESTION]
    project.annotations_per_item = project.min_annotations = 2
    project.max_annotations = 4
    project.confidence_threshold = 0.7
    project.save()
    return project


def test_recompute_stores_aggregates_with_confidence_and_agreement(choice_project):  # type: ignore[no-untyped-def]
    a, b, c = annotators(choice_project, 3)
    agreed, split = make_item(choice_project), make_item(choice_project)
    bulk_annotate([
        (agreed, a, {"label": "unsafe", "fluency": 4}), (agreed, b, {"label": "unsafe", "fluency": 4}),
        (agreed, c, {"label": "unsafe", "fluency": 5}),
        (split, a, {"label": "safe", "fluency": 1}), (split, b, {"label": "unsafe", "fluency": 5}),
    ])
    figures = project_recompute(project=choice_project)
    row = ItemAggregate.objects.get(item=agreed)
    assert row.answers == {"label": "unsafe", "fluency": 4}
    assert row.confidence["label"] > 0.9 and row.confidence["fluency"] == 1.0  # 5 is within the tolerance of 4
    assert row.annotation_count == 3 and not row.disagreement and not row.reviewed
    assert row.details["fluency"]["mean"] == pytest.approx(13 / 3, abs=0.001)
    assert row.details["fluency"]["ci_low"] < 13 / 3 < row.details["fluency"]["ci_high"]
    other = ItemAggregate.objects.get(item=split)
    assert other.disagreement and other.agreement == 0.0
    assert figures["annotations"] == 5 and figures["items_annotated"] == 2
    by_id = {q["id"]: q for q in figures["questions"]}
    assert by_id["label"]["level"] == "nominal" and by_id["fluency"]["level"] == "ordinal"
    assert by_id["label"]["distribution"]["votes"] == [1, 4, 0]
    assert by_id["label"]["percent_agreement"] == pytest.approx(0.5)
    assert AnnotatorScore.objects.filter(project=choice_project).count() == 3
    assert figures["progress"]["annotations"][-1] == 5


def test_dynamic_overlap_adds_annotations_only_to_disagreeing_items(choice_project):  # type: ignore[no-untyped-def]
    choice_project.confidence_threshold = 0.6
    choice_project.save()
    a, b = annotators(choice_project, 2)
    agreeing = [make_item(choice_project) for _ in range(3)]
    disagreeing = [make_item(choice_project) for _ in range(3)]
    waiting = make_item(choice_project)  # only one annotation of two so far
    rows = []
    for item in agreeing:
        rows += [(item, a, {"label": "safe", "fluency": 3}), (item, b, {"label": "safe", "fluency": 3})]
    for item in disagreeing:
        rows += [(item, a, {"label": "safe", "fluency": 3}), (item, b, {"label": "unsafe", "fluency": 3})]
    rows.append((waiting, a, {"label": "safe", "fluency": 1}))
    bulk_annotate(rows)
    Item.objects.filter(pk=disagreeing[0].pk).update(state=ItemState.COMPLETED)
    figures = project_recompute(project=choice_project)
    assert figures["overlap_raised"] == 3
    required = dict(Item.objects.values_list("pk", "required_annotations"))
    assert [required[i.pk] for i in agreeing] == [2, 2, 2]
    assert [required[i.pk] for i in disagreeing] == [3, 3, 3]
    assert required[waiting.pk] == 2
    assert Item.objects.get(pk=disagreeing[0].pk).state == ItemState.OPEN  # reopened for the engine
    # Recomputing again before the extra annotation arrives does not raise twice.
    project_recompute(project=choice_project)
    assert Item.objects.get(pk=disagreeing[1].pk).required_annotations == 3
    # A third annotator breaks the tie on one item; the other keeps disagreeing, up to the maximum.
    (c,) = annotators(choice_project, 1, prefix="third")
    annotate(disagreeing[1], c, {"label": "safe", "fluency": 3})
    annotate(disagreeing[2], c, {"label": "unclear", "fluency": 3})
    items_refresh(project=choice_project, item_ids=[disagreeing[1].pk, disagreeing[2].pk])
    assert Item.objects.get(pk=disagreeing[1].pk).required_annotations == 3  # 2 of 3 agree: 0.67 passes 0.6
    assert Item.objects.get(pk=disagreeing[2].pk).required_annotations == 4  # three different answers
    (d,) = annotators(choice_project, 1, prefix="fourth")
    annotate(disagreeing[2], d, {"label": "unsafe", "fluency": 3})
    items_refresh(project=choice_project, item_ids=[disagreeing[2].pk])
    assert ItemAggregate.objects.get(item=disagreeing[2]).min_confidence < 0.6  # still unsure, but ...
    assert Item.objects.get(pk=disagreeing[2].pk).required_annotations == 4  # never above max_annotations


def test_suspension_triggers_at_the_threshold_and_work_is_kept_but_excluded(choice_project):  # type: ignore[no-untyped-def]
    QualitySettings.objects.create(project=choice_project, min_gold_accuracy=0.6, gold_min_answers=5,
                                   max_too_fast_share=None, min_agreement=None)
    careful, borderline, careless = annotators(choice_project, 3)
    gold = [make_item(choice_project, is_gold=True, gold_answers={"label": "unsafe"}) for _ in range(5)]
    rows = []
    for index, item in enumerate(gold):
        rows.append((item, careful, {"label": "unsafe", "fluency": 3}))
        rows.append((item, borderline, {"label": "unsafe" if index < 3 else "safe", "fluency": 3}))  # 60%: at threshold
        rows.append((item, careless, {"label": "unsafe" if index < 2 else "safe", "fluency": 3}))  # 40%: below
    regular = make_item(choice_project)
    rows += [(regular, careful, {"label": "safe", "fluency": 3}), (regular, careless, {"label": "unsafe", "fluency": 1})]
    bulk_annotate(rows)
    figures = project_recompute(project=choice_project)
    assert figures["suspended_now"] == [careless.pk]
    assert membership(choice_project, careless).suspended_at is not None
    assert membership(choice_project, borderline).suspended_at is None
    score = AnnotatorScore.objects.get(project=choice_project, annotator=careless)
    assert score.gold_accuracy == pytest.approx(0.4) and score.gold_answered == 5
    assert AnnotatorScore.objects.get(project=choice_project, annotator=borderline).gold_accuracy == pytest.approx(0.6)
    notice = SuspensionEvent.objects.get(project=choice_project, annotator=careless)
    assert notice.kind == SuspensionKind.SUSPENDED and notice.automatic and "40%" in notice.reason
    # The next recompute sets the suspended annotator's work aside, without deleting it.
    project_recompute(project=choice_project)
    row = ItemAggregate.objects.get(item=regular)
    assert row.answers["label"] == "safe" and row.annotation_count == 1 and row.excluded_count == 1
    assert Annotation.objects.filter(annotator=careless).count() == 6
    # Reinstated: the old evidence no longer counts against them.
    assert services.annotator_reinstate(project=choice_project, annotator_id=careless.pk, by=None)
    figures = project_recompute(project=choice_project)
    assert figures["suspended_now"] == []
    assert membership(choice_project, careless).suspended_at is None
    assert ItemAggregate.objects.get(item=regular).annotation_count == 2


def test_too_fast_submissions_suspend(choice_project):  # type: ignore[no-untyped-def]
    choice_project.min_seconds_per_item = 5
    choice_project.save()
    QualitySettings.objects.create(project=choice_project, max_too_fast_share=0.5, too_fast_min_answers=4,
                                   min_gold_accuracy=None)
    rusher, steady = annotators(choice_project, 2)
    items = [make_item(choice_project) for _ in range(4)]
    bulk_annotate([(item, rusher, {"label": "safe", "fluency": 3}) for item in items], seconds=2)
    bulk_annotate([(item, steady, {"label": "safe", "fluency": 3}) for item in items], seconds=20)
    figures = project_recompute(project=choice_project)
    assert figures["suspended_now"] == [rusher.pk]
    assert AnnotatorScore.objects.get(project=choice_project, annotator=rusher).too_fast_share == 1.0


def test_position_bias_and_leaderboard_end_to_end(project):  # type: ignore[no-untyped-def]
    project.questions = [PAIRWISE_QUESTION]
    project.save()
    people = annotators(project, 4)
    rng = np.random.default_rng(11)
    rows = []
    for index in range(120):
        item = make_item(project, responses=2)
        # model-a and model-b are equally good, but annotators pick the first shown 70% of the time.
        for person in people[:2]:
            rows.append((item, person, {"preference": {"choice": "a" if rng.random() < 0.7 else "b"}}))
        del index
    bulk_annotate(rows)
    figures = project_recompute(project=project)
    bias = figures["position_bias"][0]
    assert bias["question"] == "preference" and bias["biased"] and bias["share_a"] > 0.6
    board = figures["leaderboards"][0]
    assert {m["model"] for m in board["models"]} == {"model-a", "model-b"}
    assert board["comparisons"] == 240


def test_snapshot_recompute_records_status(choice_project):  # type: ignore[no-untyped-def]
    (a,) = annotators(choice_project, 1)
    annotate(make_item(choice_project), a, {"label": "safe", "fluency": 2})
    snapshot = services.snapshot_recompute(project_id=choice_project.pk)
    assert snapshot.status == JobStatus.SUCCEEDED and snapshot.progress == 100
    assert snapshot.figures["annotations"] == 1 and snapshot.last_annotation_id > 0
    assert ProjectMembership.objects.filter(project=choice_project, suspended_at__isnull=False).count() == 0


def test_management_command(choice_project):  # type: ignore[no-untyped-def]
    from io import StringIO

    from django.core.management import CommandError, call_command

    (a,) = annotators(choice_project, 1)
    annotate(make_item(choice_project), a, {"label": "safe", "fluency": 2})
    out = StringIO()
    call_command("quality_recompute", str(choice_project.pk), stdout=out)
    assert "1 annotations" in out.getvalue() and "label: α=—" in out.getvalue()
    with pytest.raises(CommandError, match="no project"):
        call_command("quality_recompute", "999999")


def test_beat_sweep_schedules_only_stale_projects(choice_project, other_project):  # type: ignore[no-untyped-def]
    from django.core.cache import cache

    from apps.quality.services import _pending_key
    from apps.quality.tasks import quality_sweep

    (a,) = annotators(choice_project, 1)
    annotate(make_item(choice_project), a, {"label": "safe", "fluency": 2})
    assert quality_sweep() == 1  # never computed
    cache.clear()
    services.snapshot_recompute(project_id=choice_project.pk)
    assert quality_sweep() == 0  # up to date
    annotate(make_item(choice_project), a, {"label": "unsafe", "fluency": 1})
    assert quality_sweep() == 1 and cache.get(_pending_key(choice_project.pk))


def test_aggregates_go_with_their_items(choice_project):  # type: ignore[no-untyped-def]
    # ItemAggregate has no database-level foreign keys (bulk-write speed); Django still cascades.
    (a,) = annotators(choice_project, 1)
    item = make_item(choice_project)
    annotate(item, a, {"label": "safe", "fluency": 2})
    project_recompute(project=choice_project)
    assert ItemAggregate.objects.filter(item_id=item.pk).exists()
    Item.objects.filter(pk=item.pk).delete()
    assert not ItemAggregate.objects.filter(item_id=item.pk).exists()
    project_recompute(project=choice_project)  # and a recompute copes with the item gone
    assert ItemAggregate.objects.filter(project=choice_project).count() == 0
