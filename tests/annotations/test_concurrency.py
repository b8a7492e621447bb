"""Invariants 1 and 2 under real concurrency: threads, each on its own PostgreSQL connection."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import Count

from apps.annotations.models import Annotation, Assignment, AssignmentStatus
from apps.annotations.services import annotation_submit, lease_next_item
from apps.items.models import Item, ItemState
from tests.annotations.conftest import add_annotator, items
from tests.conftest import api_client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Other suites share the PostgreSQL server (max_connections 100): cap our connections.
MAX_CONNECTIONS = 20


def run_threads(count: int, target) -> list:  # type: ignore[no-untyped-def]
    """Run target(i) in `count` threads started together; each closes its connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


def test_fifty_threads_racing_for_one_item_with_overlap_one(rating_project):
    (item,) = items(rating_project, 1, required_annotations=1)
    people = [add_annotator(rating_project) for _ in range(50)]

    def lease(i: int):  # type: ignore[no-untyped-def]
        assignment = lease_next_item(people[i], rating_project)
        return assignment.item_id if assignment else None

    results = run_threads(50, lease)
    assert results.count(item.pk) == 1 and results.count(None) == 49
    item.refresh_from_db()
    assert item.active_count == 1
    assert Assignment.objects.count() == 1


def test_one_annotator_in_ten_tabs_holds_a_single_lease(rating_project, member):
    items(rating_project, 5)
    results = run_threads(10, lambda i: lease_next_item(member, rating_project).pk)
    assert len(set(results)) == 1
    assert Assignment.objects.filter(annotator=member, status=AssignmentStatus.LIVE).count() == 1


def test_two_hundred_annotators_on_a_hundred_items_with_overlap_three(rating_project):
    items(rating_project, 100, required_annotations=3)
    people = [add_annotator(rating_project) for _ in range(200)]
    connections.close_all()
    gate = threading.BoundedSemaphore(MAX_CONNECTIONS)
    stop = threading.Event()
    violations: list = []

    def open_items() -> int:
        return Item.objects.filter(project=rating_project).exclude(state=ItemState.COMPLETED).count()

    def annotate(i: int) -> int:
        done = misses = 0
        while misses < 40:
            with gate:
                try:
                    assignment = lease_next_item(people[i], rating_project)
                    if assignment is not None:
                        annotation_submit(assignment=assignment, answers={"overall": 1 + i % 5})
                        done += 1
                    finished = assignment is None and open_items() == 0
                finally:
                    connection.close()
            if finished:
                return done
            if assignment is None:
                misses += 1  # items exist but are locked or leased right now
                time.sleep(0.02)
        return done

    def watch() -> None:
        # Invariant 1 mid-flight: live leases + counted annotations never exceed the count.
        sql = """
            SELECT i.id FROM items_item i
            WHERE i.project_id = %s AND (
                SELECT count(*) FROM annotations_assignment a
                WHERE a.item_id = i.id AND a.status IN ('live', 'submitted')
            ) > i.required_annotations
        """
        try:
            while not stop.is_set():
                with connection.cursor() as cursor:
                    cursor.execute(sql, [rating_project.pk])
                    violations.extend(cursor.fetchall())
                time.sleep(0.01)
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(max_workers=200) as pool:
        done = list(pool.map(annotate, range(200)))
    stop.set()
    watcher.join(30)

    assert violations == []
    assert sum(done) == 300
    per_item = Counter(Annotation.objects.values_list("item_id", flat=True))
    assert set(per_item.values()) == {3} and len(per_item) == 100  # every item reached 3, none above
    pairs = Annotation.objects.values("item_id", "annotator_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not pairs.exists()  # never the same item twice
    assert not Item.objects.exclude(active_count=3).exists()
    assert not Item.objects.exclude(state=ItemState.COMPLETED).exists()
    assert not Assignment.objects.filter(status=AssignmentStatus.LIVE).exists()


def test_ten_concurrent_replays_of_one_submission_store_it_once(rating_project, member):
    (item,) = items(rating_project, 1)
    assignment = lease_next_item(member, rating_project)
    url = f"/api/v1/assignments/{assignment.pk}/submit/"

    def post(i: int):  # type: ignore[no-untyped-def]
        response = api_client_for(member).post(
            url, {"answers": {"overall": 4}, "time_spent_ms": 2000}, format="json", HTTP_IDEMPOTENCY_KEY="retry-me"
        )
        return response.status_code, response.json()

    results = run_threads(10, post)
    assert {status for status, _ in results} == {201}
    bodies = [body for _, body in results]
    assert all(body == bodies[0] for body in bodies)
    assert Annotation.objects.count() == 1
    item.refresh_from_db()
    assert item.annotation_count == 1
