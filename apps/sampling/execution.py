"""Executing a generation run on one endpoint: the lease, the call loop, and storing results.

One executor per endpoint at a time (EndpointLease), so an endpoint's
concurrency and RPM limits hold across runs and workers. The executor runs in
the Celery task's thread and keeps the ORM there; the HTTP calls run in an
event loop on a helper thread (BackgroundCaller), `max_concurrency` at a time.

Results are written in small batches under the slot rows' locks, and a slot gets
its Generation only while it has none: a killed worker loses at most the
unflushed in-flight calls, which stay pending and are simply asked again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.models import JobStatus
from apps.items.models import Generation, GenerationSource
from apps.items.search import search_index_queue
from apps.sampling.api_keys import ApiKeyUnavailable, api_key_for
from apps.sampling.chat_client import (
    CONFIGURATION,
    ChatSession,
    EndpointTarget,
    Outcome,
    RetryPolicy,
)
from apps.sampling.models import (
    EndpointLease,
    GenerationRun,
    GenerationSlot,
    ModelEndpoint,
    SlotStatus,
)
from apps.sampling.parameters import request_body, sent_parameters
from apps.sampling.url_policy import HostPolicy, chat_completions_url

logger = logging.getLogger(__name__)

PAGE_SIZE = 500
FLUSH_EVERY_S = 0.5
FLUSH_BATCH = 200
BEAT_EVERY_S = 1.0


def endpoint_target(endpoint: ModelEndpoint) -> EndpointTarget:
    """Everything the HTTP side needs; raises ApiKeyUnavailable when the key cannot be produced."""
    from urllib.parse import urlsplit

    host = urlsplit(endpoint.base_url).hostname or ""
    return EndpointTarget(
        url=chat_completions_url(endpoint.base_url),
        api_key=api_key_for(
            api_key_env=endpoint.api_key_env, api_key_encrypted=endpoint.api_key_encrypted, host=host
        ),
        timeout=float(endpoint.timeout_seconds),
        max_concurrency=int(endpoint.max_concurrency),
        rpm_limit=endpoint.rpm_limit,
    )


# --- the endpoint lease ----------------------------------------------------------------------

_LEASE = EndpointLease._meta.db_table


def lease_acquire(*, endpoint_id: int, run_id: int, token: str, seconds: int) -> bool:
    """Take the endpoint's lease if it is free or expired. clock_timestamp(), not now(): a lease
    must expire by the wall clock even inside a long transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_LEASE} (endpoint_id, token, run_id, expires_at)
            VALUES (%s, %s, %s, clock_timestamp() + %s * interval '1 second')
            ON CONFLICT (endpoint_id) DO UPDATE
                SET token = EXCLUDED.token, run_id = EXCLUDED.run_id, expires_at = EXCLUDED.expires_at
                WHERE {_LEASE}.expires_at < clock_timestamp() OR {_LEASE}.token = EXCLUDED.token
            RETURNING token
            """,
            [endpoint_id, token, run_id, seconds],
        )
        return cursor.fetchone() is not None


def lease_renew(*, endpoint_id: int, token: str, seconds: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_LEASE} SET expires_at = clock_timestamp() + %s * interval '1 second' "
            "WHERE endpoint_id = %s AND token = %s",
            [seconds, endpoint_id, token],
        )
        return cursor.rowcount == 1


def lease_release(*, endpoint_id: int, token: str) -> None:
    EndpointLease.objects.filter(endpoint_id=endpoint_id, token=token).delete()


def lease_seconds_left(*, endpoint_id: int) -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXTRACT(EPOCH FROM expires_at - clock_timestamp()) FROM {_LEASE} WHERE endpoint_id = %s",
            [endpoint_id],
        )
        row = cursor.fetchone()
    return max(0.0, float(row[0])) if row else 0.0


# --- the HTTP side, on its own thread --------------------------------------------------------


class BackgroundCaller:
    """An event loop on a daemon thread running one ChatSession; results arrive on `results`."""

    def __init__(self, target: EndpointTarget, *, policy: HostPolicy, retry: RetryPolicy):
        self.results: queue.Queue[tuple[int, Outcome]] = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._futures: set[Future[None]] = set()
        self._session: ChatSession | None = None
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._session = ChatSession(target, policy=policy, retry=retry)
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="generation-caller", daemon=True)
        self._thread.start()
        ready.wait()

    def submit(self, key: int, body: dict[str, Any]) -> None:
        future = asyncio.run_coroutine_threadsafe(self._call(key, body), self._loop)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)

    async def _call(self, key: int, body: dict[str, Any]) -> None:
        assert self._session is not None
        try:
            outcome = await self._session.complete(body)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not wedge the run: record it on the slot
            logger.exception("generation call crashed")
            outcome = Outcome(ok=False, error_reason="internal_error", error_message=f"{type(exc).__name__}: {exc}")
        self.results.put((key, outcome))

    def cancel_all(self) -> None:
        for future in list(self._futures):
            future.cancel()

    def close(self) -> None:
        self.cancel_all()
        if self._session is not None:
            closing = asyncio.run_coroutine_threadsafe(self._session.aclose(), self._loop)
            try:
                closing.result(timeout=5)
            except Exception:  # closing a half-dead pool must not hide the task's outcome
                logger.warning("closing the HTTP client failed", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()


# --- storing results -------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotJob:
    slot_id: int
    prompt_id: int
    sample_index: int
    parameters: dict[str, Any]


def generation_hash(slot_id: int) -> str:
    return hashlib.sha256(f"generated\x1fslot\x1f{slot_id}".encode()).hexdigest()


_SLOT = GenerationSlot._meta.db_table


def results_store(*, run: GenerationRun, endpoint: ModelEndpoint, batch: list[tuple[SlotJob, Outcome]]) -> int:
    """Write a batch of outcomes. Locks the slot rows; a slot that already has a generation
    (another executor got there first) is left alone. Returns how many generations were created.

    The slot update is one set-based statement: at 160 results a second the ORM's
    CASE-per-row bulk_update cost more CPU than the HTTP calls themselves.
    """
    if not batch:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {_SLOT} WHERE id = ANY(%s) AND generation_id IS NULL ORDER BY id FOR UPDATE",
            [[job.slot_id for job, _ in batch]],
        )
        open_slots = {row[0] for row in cursor.fetchall()}
        fresh = [(job, outcome) for job, outcome in batch if job.slot_id in open_slots]
        made = [
            Generation(
                project_id=run.project_id,
                prompt_id=job.prompt_id,
                model_name=endpoint.name,
                parameters={"model": endpoint.model_name, **sent_parameters(job.parameters, sample_index=job.sample_index)},
                text=outcome.text,
                prompt_tokens=outcome.prompt_tokens,
                completion_tokens=outcome.completion_tokens,
                latency_ms=outcome.latency_ms,
                finish_reason=outcome.finish_reason[:40],
                source=GenerationSource.GENERATED,
                metadata={"generation_run": run.pk, "endpoint": endpoint.pk, "sample_index": job.sample_index},
                content_hash=generation_hash(job.slot_id),
            )
            for job, outcome in fresh
            if outcome.ok
        ]
        Generation.objects.bulk_create(made)
        generation_ids = iter(g.pk for g in made)
        rows: list[tuple[int, str, int, str, str, int | None]] = []
        for job, outcome in fresh:
            if outcome.ok:
                rows.append((job.slot_id, SlotStatus.SUCCEEDED, outcome.attempts, "", "", next(generation_ids)))
            else:
                rows.append((
                    job.slot_id, SlotStatus.FAILED, outcome.attempts, outcome.error_reason[:40],
                    outcome.error_message[:2000], None,
                ))
        if rows:
            ids, statuses, attempts, reasons, messages, generations = (list(column) for column in zip(*rows, strict=True))
            cursor.execute(
                f"""
                UPDATE {_SLOT} AS s
                SET status = u.status, attempts = s.attempts + u.attempts, error_reason = u.reason,
                    error_message = u.message, generation_id = u.generation_id, updated_at = now()
                FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::text[], %s::text[], %s::bigint[])
                    AS u(id, status, attempts, reason, message, generation_id)
                WHERE s.id = u.id
                """,
                [ids, statuses, attempts, reasons, messages, generations],
            )
    return len(made)


def _pending_page(*, run_id: int, endpoint: ModelEndpoint, after_id: int) -> list[tuple[SlotJob, dict[str, Any]]]:
    rows = (
        GenerationSlot.objects.filter(runs=run_id, endpoint=endpoint, status=SlotStatus.PENDING, pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", "prompt_id", "sample_index", "parameters", "prompt__text", "prompt__messages")[:PAGE_SIZE]
    )
    page = []
    for slot_id, prompt_id, sample_index, parameters, text, messages in rows:
        chat = list(messages) if messages else [{"role": "user", "content": text}]
        body = request_body(
            model_name=endpoint.model_name, messages=chat, parameters=parameters, sample_index=sample_index
        )
        page.append((SlotJob(slot_id, prompt_id, sample_index, parameters), body))
    return page


def _beat(run_id: int) -> str | None:
    """Record that the run is alive; returns its status."""
    GenerationRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())
    return GenerationRun.objects.filter(pk=run_id).values_list("status", flat=True).first()


# --- the executor ----------------------------------------------------------------------------


def run_endpoint_execute(*, run_id: int, endpoint_id: int, time_budget: float | None = None) -> str:
    """Call the endpoint for the run's pending slots. Returns what happened:

    "done" (nothing pending left), "busy" (another executor holds the endpoint),
    "continue" (time budget used up; more pending), "cancelled", "lost_lease", "finished".
    """
    run = GenerationRun.objects.select_related("project").get(pk=run_id)
    if run.is_finished:
        return "finished"
    endpoint = ModelEndpoint.objects.get(pk=endpoint_id)
    token = uuid.uuid4().hex
    seconds = settings.GENERATION_LEASE_SECONDS
    if not lease_acquire(endpoint_id=endpoint_id, run_id=run_id, token=token, seconds=seconds):
        GenerationRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())
        return "busy"
    try:
        GenerationRun.objects.filter(pk=run_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=timezone.now()
        )
        _beat(run_id)
        try:
            target = endpoint_target(endpoint)
        except ApiKeyUnavailable as exc:
            _fail_pending(run_id=run_id, endpoint=endpoint, message=str(exc))
            result = "done"
        else:
            caller = BackgroundCaller(target, policy=HostPolicy.from_settings(), retry=RetryPolicy.from_settings())
            try:
                result = _drive(run=run, endpoint=endpoint, caller=caller, token=token, time_budget=time_budget)
            finally:
                caller.close()
    finally:
        lease_release(endpoint_id=endpoint_id, token=token)
    from apps.sampling.services.runs import generation_run_finalize

    generation_run_finalize(run_id=run_id)
    # New generations need search vectors like imported ones (apps.items.search).
    search_index_queue(project_id=run.project_id)
    return result


def _fail_pending(*, run_id: int, endpoint: ModelEndpoint, message: str) -> None:
    GenerationSlot.objects.filter(runs=run_id, endpoint=endpoint, status=SlotStatus.PENDING).update(
        status=SlotStatus.FAILED, error_reason=CONFIGURATION, error_message=message[:2000], updated_at=timezone.now()
    )


def _drive(
    *, run: GenerationRun, endpoint: ModelEndpoint, caller: BackgroundCaller, token: str, time_budget: float | None
) -> str:
    window = max(4, endpoint.max_concurrency * 3)  # queued behind the semaphore, so it never idles
    deadline = time.monotonic() + time_budget if time_budget else None
    seconds = settings.GENERATION_LEASE_SECONDS
    page: list[tuple[SlotJob, dict[str, Any]]] = []
    after_id = 0
    exhausted = False
    in_flight: dict[int, SlotJob] = {}
    buffer: list[tuple[SlotJob, Outcome]] = []
    last_flush = last_beat = time.monotonic()
    stop: str | None = None
    while True:
        while stop is None and not exhausted and len(in_flight) < window:
            if not page:
                page = _pending_page(run_id=run.pk, endpoint=endpoint, after_id=after_id)
                if not page:
                    exhausted = True
                    break
                after_id = page[-1][0].slot_id
            job, body = page.pop(0)
            in_flight[job.slot_id] = job
            caller.submit(job.slot_id, body)
        if not in_flight:
            break
        try:
            key, outcome = caller.results.get(timeout=0.2)
            buffer.append((in_flight.pop(key), outcome))
            while True:
                key, outcome = caller.results.get_nowait()
                buffer.append((in_flight.pop(key), outcome))
        except queue.Empty:
            pass
        now = time.monotonic()
        if buffer and (len(buffer) >= FLUSH_BATCH or now - last_flush >= FLUSH_EVERY_S):
            results_store(run=run, endpoint=endpoint, batch=buffer)
            buffer, last_flush = [], now
        if now - last_beat >= BEAT_EVERY_S:
            last_beat = now
            if not lease_renew(endpoint_id=endpoint.pk, token=token, seconds=seconds):
                stop = "lost_lease"
            elif _beat(run.pk) == JobStatus.CANCELLED:
                stop = "cancelled"
            elif deadline is not None and now > deadline and stop is None:
                stop = "continue"  # stop submitting; let what is in flight finish
            if stop in ("lost_lease", "cancelled"):
                caller.cancel_all()
                in_flight.clear()
                break
    results_store(run=run, endpoint=endpoint, batch=buffer)
    if stop == "continue":
        return "done" if exhausted else "continue"
    return stop or "done"
