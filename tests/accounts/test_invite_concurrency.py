"""Joins racing on one invite link: the use limit holds and a double submit makes one account."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from apps.accounts.models import Invite, ProjectMembership, User

PASSWORD = "plum-orbit-lantern-77"


def race(requests) -> list[int]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = []

    def run(make_request) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            statuses.append(make_request().status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return statuses


@pytest.mark.django_db(transaction=True)
def test_parallel_joins_never_exceed_the_use_limit(make_invite, project):
    invite, token = make_invite(max_uses=3)
    requests = [
        (lambda n=n: Client().post(f"/join/{token}/", {"username": f"racer-{n}", "password": PASSWORD}))
        for n in range(8)
    ]
    statuses = race(requests)
    assert sorted(statuses) == [302] * 3 + [410] * 5
    assert ProjectMembership.objects.filter(project=project).count() == 3
    assert Invite.objects.get(pk=invite.pk).uses == 3


@pytest.mark.django_db(transaction=True)
def test_parallel_double_submit_creates_one_account(make_invite, project):
    invite, token = make_invite(max_uses=1)
    same_form = {"username": "", "suggested": "worker-d0ub1e", "password": PASSWORD}
    statuses = race([lambda: Client().post(f"/join/{token}/?worker_id=P1", same_form) for _ in range(2)])
    assert statuses == [302, 302]
    assert User.objects.filter(username="worker-d0ub1e").count() == 1
    assert ProjectMembership.objects.get(project=project).external_worker_id == "P1"
    assert Invite.objects.get(pk=invite.pk).uses == 1
