"""The assignment engine on one connection: eligibility, order, gold, caps, expiry (DESIGN.md 1, 3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from apps.annotations.errors import AnnotatorSuspended, AssignmentClosed, LeaseExpired
from apps.annotations.models import Assignment, AssignmentStatus, WorkspacePreference
from apps.annotations.services import (
    annotation_submit,
    assignment_heartbeat,
    assignment_skip,
    gold_is_due,
    lease_next_item,
    leases_expire,
)
from apps.items.models import Item, ItemState
from tests.annotations.conftest import add_annotator, items

pytestmark = pytest.mark.django_db


def live_and_counted(item: Item) -> int:
    live = Assignment.objects.filter(item=item, status=AssignmentStatus.LIVE).count()
    return live + item.annotations.filter(surplus=False).count()


def test_it_leases_by_priority_then_age(rating_project, member):
    low, high, later_high = items(rating_project, 3)
    Item.objects.filter(pk__in=[high.pk, later_high.pk]).update(priority=5)
    order = []
    for _ in range(3):
        assignment = lease_next_item(member, rating_project)
        order.append(assignment.item_id)
        annotation_submit(assignment=assignment, answers={"overall": 3})
    assert order == [high.pk, later_high.pk, low.pk]
    assert lease_next_item(member, rating_project) is None


def test_it_resumes_the_own_live_lease_and_extends_it(rating_project, member):
    items(rating_project, 2)
    first = lease_next_item(member, rating_project, now=timezone.now() - timedelta(minutes=10))
    again = lease_next_item(member, rating_project)
    assert again.pk == first.pk
    assert again.expires_at > first.expires_at
    assert Assignment.objects.filter(annotator=member).count() == 1
    assert Item.objects.get(pk=first.item_id).active_count == 1


def test_it_never_gives_an_annotator_the_same_item_twice(rating_project, member):
    (item,) = items(rating_project, 1, required_annotations=5)
    assignment = lease_next_item(member, rating_project)
    assignment_skip(assignment=assignment, reason="unsure")
    assert lease_next_item(member, rating_project) is None
    other = add_annotator(rating_project)
    assert lease_next_item(other, rating_project).item_id == item.pk


def test_it_stops_at_the_required_count_and_completes_the_item(rating_project):
    (item,) = items(rating_project, 1, required_annotations=2)
    people = [add_annotator(rating_project) for _ in range(3)]
    first, second = (lease_next_item(p, rating_project) for p in people[:2])
    assert lease_next_item(people[2], rating_project) is None
    item.refresh_from_db()
    assert item.active_count == 2 == live_and_counted(item)
    for assignment in (first, second):
        annotation_submit(assignment=assignment, answers={"overall": 5})
    item.refresh_from_db()
    assert (item.active_count, item.annotation_count, item.state) == (2, 2, ItemState.COMPLETED)


def test_gold_is_interleaved_at_the_ratio_and_looks_like_any_item(rating_project, member):
    rating_project.gold_ratio = 0.2
    rating_project.save()
    items(rating_project, 40, required_annotations=1)
    items(rating_project, 10, required_annotations=1, is_gold=True, gold_answers={"overall": 5})
    served = []
    for _ in range(30):
        assignment = lease_next_item(member, rating_project)
        served.append(assignment.is_gold)
        annotation_submit(assignment=assignment, answers={"overall": 5})
    assert sum(served) == 6  # exactly 20 % of 30
    assert not all(served[:6]) and not all(served[-6:])  # interleaved, not bunched


def test_gold_interleave_keeps_the_long_run_rate():
    for ratio in (0.05, 0.1, 0.25, 0.5):
        for phase in (0.0, 0.37, 0.99):
            gold = 0
            for leased in range(400):
                if gold_is_due(ratio=ratio, leased=leased, gold_leased=gold, phase=phase):
                    gold += 1
            assert abs(gold - ratio * 400) <= 1
    assert not gold_is_due(ratio=0.0, leased=10, gold_leased=0, phase=0.9)


def test_gold_is_not_served_once_the_real_work_is_done(rating_project, member):
    rating_project.gold_ratio = 0.5
    rating_project.save()
    items(rating_project, 6, required_annotations=1, is_gold=True)
    leased = 0
    while (assignment := lease_next_item(member, rating_project)) is not None:
        annotation_submit(assignment=assignment, answers={"overall": 1})
        leased += 1
    # With no real items, gold comes only while it is due: at most one, never all six.
    assert leased <= 1


def test_per_annotator_cap(rating_project, member):
    rating_project.per_annotator_cap = 2
    rating_project.save()
    items(rating_project, 5)
    for _ in range(2):
        annotation_submit(assignment=lease_next_item(member, rating_project), answers={"overall": 2})
    assert lease_next_item(member, rating_project) is None
    assert lease_next_item(add_annotator(rating_project), rating_project) is not None


def test_suspended_annotators_get_nothing(rating_project):
    items(rating_project, 1)
    suspended = add_annotator(rating_project, suspended_at=timezone.now())
    with pytest.raises(AnnotatorSuspended):
        lease_next_item(suspended, rating_project)
    assert not Assignment.objects.exists()


def test_archived_projects_lease_nothing(rating_project, member):
    items(rating_project, 1)
    rating_project.archived_at = timezone.now()
    rating_project.save()
    assert lease_next_item(member, rating_project) is None


def test_pii_exclude_policy_never_leases_items_with_personal_data(rating_project, member):
    rating_project.pii_policy = "exclude"
    rating_project.save()
    pii, clean = items(rating_project, 2)
    Item.objects.filter(pk=pii.pk).update(has_pii=True)
    assert lease_next_item(member, rating_project).item_id == clean.pk


def test_harmful_opt_out_and_daily_exposure_cap(rating_project, member):
    harmful = items(rating_project, 3, is_harmful=True, required_annotations=1)
    calm = items(rating_project, 1, required_annotations=1)
    rating_project.allow_harmful_opt_out = True
    rating_project.save()
    WorkspacePreference.objects.create(project=rating_project, annotator=member, harmful_opt_out=True)
    assert lease_next_item(member, rating_project).item_id == calm[0].pk

    other = add_annotator(rating_project)
    rating_project.harmful_exposure_cap = 1
    rating_project.save()
    first = lease_next_item(other, rating_project)
    assert first.item_id == harmful[0].pk and first.is_harmful
    annotation_submit(assignment=first, answers={"overall": 1})
    assert lease_next_item(other, rating_project) is None  # cap of 1 harmful item a day reached


def test_expired_leases_return_to_the_pool(rating_project, member):
    (item,) = items(rating_project, 1, required_annotations=1)
    past = timezone.now() - timedelta(hours=1)
    stale = lease_next_item(member, rating_project, now=past)
    other = add_annotator(rating_project)
    assert lease_next_item(other, rating_project) is None
    assert leases_expire() == 1
    assert leases_expire() == 0  # idempotent
    stale.refresh_from_db()
    item.refresh_from_db()
    assert stale.status == AssignmentStatus.EXPIRED and item.active_count == 0
    reclaimed = lease_next_item(other, rating_project)
    assert reclaimed.item_id == item.pk
    # The first annotator had it once and never gets it again.
    assert lease_next_item(member, rating_project) is None


def test_reaper_leaves_live_leases_alone_and_works_in_batches(rating_project):
    items(rating_project, 7, required_annotations=1)
    past = timezone.now() - timedelta(hours=2)
    people = [add_annotator(rating_project) for _ in range(7)]
    for person in people[:5]:
        lease_next_item(person, rating_project, now=past)
    for person in people[5:]:
        lease_next_item(person, rating_project)
    assert leases_expire(batch_size=2) == 5
    assert Assignment.objects.filter(status=AssignmentStatus.LIVE).count() == 2
    counts = Item.objects.filter(project=rating_project).aggregate(active=Count("id", filter=None))
    assert counts["active"] == 7
    assert sum(Item.objects.values_list("active_count", flat=True)) == 2


def test_heartbeat_extends_a_live_lease_and_reports_an_expired_one(rating_project, member):
    items(rating_project, 1, required_annotations=1)
    assignment = lease_next_item(member, rating_project, now=timezone.now() - timedelta(minutes=29))
    old_expiry = assignment.expires_at
    new_expiry = assignment_heartbeat(assignment=assignment)
    assert new_expiry > old_expiry + timedelta(minutes=25)
    assignment.refresh_from_db()
    assert assignment.expires_at == new_expiry

    leases_expire(now=new_expiry + timedelta(seconds=1))
    with pytest.raises(LeaseExpired) as caught:
        assignment_heartbeat(assignment=assignment)
    assert caught.value.details == {"still_needed": True}

    annotation_submit(assignment=assignment, answers={"overall": 3})
    with pytest.raises(AssignmentClosed):
        assignment_heartbeat(assignment=assignment)
