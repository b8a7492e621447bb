"""An async OpenAI chat-completions client for one endpoint: bounded concurrency, an RPM limit,
retries with exponential backoff and jitter, Retry-After, and named failure reasons.

No ORM here: it runs inside an event loop (apps.sampling.execution hosts it in a
thread) and returns plain Outcome values.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from apps.sampling.url_policy import BlockedAddress, HostPolicy, guarded_transport

# Failure reasons shown in run summaries.
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
CONNECTION = "connection_error"
MALFORMED = "malformed_response"
CLIENT_ERROR = "client_error"
AUTH = "auth_error"
REDIRECT = "redirect_refused"
BLOCKED = "blocked_url"
CONFIGURATION = "configuration"
POOL_SIZE = 8  # connections per httpx pool (see ChatSession)
FAILURE_LABELS = {
    RATE_LIMITED: "Rate limited (429) after every retry",
    SERVER_ERROR: "Server error (5xx) after every retry",
    TIMEOUT: "Timed out after every retry",
    CONNECTION: "Connection failed after every retry",
    MALFORMED: "Malformed response",
    CLIENT_ERROR: "Request refused (4xx)",
    AUTH: "Authentication refused (401/403)",
    REDIRECT: "Redirect refused",
    BLOCKED: "Host blocked by policy",
    CONFIGURATION: "Endpoint configuration",
}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            max_attempts=settings.GENERATION_MAX_ATTEMPTS,
            backoff_base=settings.GENERATION_BACKOFF_BASE_MS / 1000,
            backoff_max=settings.GENERATION_BACKOFF_MAX_MS / 1000,
            retry_after_max=float(settings.GENERATION_RETRY_AFTER_MAX_S),
        )

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Wait before attempt `attempt + 1`: Retry-After when given, else exponential with jitter."""
        if retry_after is not None:
            # The server said when; a little jitter keeps concurrent callers from returning in step.
            return min(retry_after, self.retry_after_max) + rng.uniform(0, self.backoff_base)
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return cap / 2 + rng.uniform(0, cap / 2)


@dataclass(frozen=True)
class EndpointTarget:
    url: str
    api_key: str | None
    timeout: float
    max_concurrency: int
    rpm_limit: int | None


@dataclass
class Outcome:
    ok: bool
    text: str = ""
    finish_reason: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    attempts: int = 0
    error_reason: str = ""
    error_message: str = ""


class _Failure(Exception):
    def __init__(self, reason: str, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RateLimiter:
    """Spaces request starts 60/rpm seconds apart; a 429's Retry-After pauses every caller."""

    def __init__(self, rpm: int | None):
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        if not self.interval and self._paused_until <= loop.time():
            return  # no limit and no pause: skip the lock on the hot path
        async with self._lock:
            now = loop.time()
            start = max(now, self._next, self._paused_until)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, asyncio.get_running_loop().time() + seconds)


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def parse_completion(content: bytes) -> Outcome:
    """Read a chat-completions body; raises _Failure(MALFORMED) naming what is wrong."""
    try:
        data = json.loads(content)
    except ValueError:
        raise _Failure(
            MALFORMED,
            f"response is not valid JSON (truncated?): {_excerpt(content.decode('utf-8', 'replace'), 80)!r}",
            retryable=False,
        ) from None
    if not isinstance(data, dict):
        raise _Failure(MALFORMED, "response is not a JSON object", retryable=False)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _Failure(MALFORMED, "response has no choices", retryable=False)
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    text = message.get("content") if isinstance(message, dict) else None
    if not isinstance(text, str):
        raise _Failure(MALFORMED, "choices[0].message.content is missing or not text", retryable=False)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}

    def count(key: str) -> int | None:
        value = usage.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    finish = choice.get("finish_reason")
    return Outcome(
        ok=True,
        text=text,
        finish_reason=finish if isinstance(finish, str) else "",
        prompt_tokens=count("prompt_tokens"),
        completion_tokens=count("completion_tokens"),
    )


def _server_message(response: httpx.Response) -> str:
    try:
        data = response.json()
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _excerpt(error["message"])
        if isinstance(error, str):
            return _excerpt(error)
    except ValueError:
        pass
    return _excerpt(response.text)


class ChatSession:
    """Calls one endpoint from inside one event loop. Use as `async with ChatSession(...)`."""

    def __init__(self, target: EndpointTarget, *, policy: HostPolicy, retry: RetryPolicy, seed: int | None = None):
        self.target = target
        self.retry = retry
        self.limiter = RateLimiter(target.rpm_limit)
        self.semaphore = asyncio.Semaphore(target.max_concurrency)
        self.rng = random.Random(seed)
        headers = {"Content-Type": "application/json", "User-Agent": "Verity/1 (sampling)"}
        if target.api_key:
            headers["Authorization"] = f"Bearer {target.api_key}"
        # Several small connection pools rather than one big one: httpcore scans every
        # connection of a pool on each request event, which at 32 connections cost more
        # CPU than the calls themselves. A call goes to the least busy pool, and the
        # semaphore keeps the total at max_concurrency, so a pool always has a free slot.
        shards = max(1, math.ceil(target.max_concurrency / POOL_SIZE))
        per_pool = math.ceil(target.max_concurrency / shards)
        self.clients = [
            httpx.AsyncClient(
                transport=guarded_transport(policy=policy, max_connections=per_pool),
                headers=headers,
                timeout=httpx.Timeout(target.timeout),
                follow_redirects=False,
                trust_env=False,
            )
            for _ in range(shards)
        ]
        self.busy = [0] * shards

    async def __aenter__(self) -> ChatSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    def _redact(self, message: str) -> str:
        if self.target.api_key:
            message = message.replace(self.target.api_key, "[redacted]")
        return message

    async def complete(self, body: dict[str, Any]) -> Outcome:
        """One chat completion with retries. Never raises for HTTP problems: see Outcome.error_*."""
        payload = json.dumps(body).encode()
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome = await self._attempt(payload)
                outcome.attempts = attempt
                return outcome
            except _Failure as failure:
                if not failure.retryable or attempt >= self.retry.max_attempts:
                    message = failure.message
                    if failure.retryable:
                        message = f"{message} (gave up after {attempt} attempts)"
                    return Outcome(
                        ok=False, attempts=attempt, error_reason=failure.reason, error_message=self._redact(message)
                    )
                await asyncio.sleep(self.retry.delay(attempt, failure.retry_after, self.rng))

    async def _attempt(self, payload: bytes) -> Outcome:
        await self.limiter.acquire()
        async with self.semaphore:
            started = time.perf_counter()
            try:
                # httpx timeouts are per phase; the outer bound makes `timeout` the whole call's budget.
                shard = self.busy.index(min(self.busy))
                self.busy[shard] += 1
                try:
                    async with asyncio.timeout(self.target.timeout):
                        response = await self.clients[shard].post(self.target.url, content=payload)
                finally:
                    self.busy[shard] -= 1
            except (TimeoutError, httpx.TimeoutException):
                raise _Failure(TIMEOUT, f"no answer within {self.target.timeout:g} s", retryable=True) from None
            except BlockedAddress as exc:
                raise _Failure(BLOCKED, str(exc), retryable=False) from None
            except (httpx.TransportError, OSError) as exc:
                # OSError: socket-level failures the guarded backend lets through unmapped.
                raise _Failure(CONNECTION, f"{type(exc).__name__}: {exc}", retryable=True) from None
            latency_ms = int((time.perf_counter() - started) * 1000)
        return self._read(response, latency_ms)

    def _read(self, response: httpx.Response, latency_ms: int) -> Outcome:
        status = response.status_code
        if status == 200:
            outcome = parse_completion(response.content)
            outcome.latency_ms = latency_ms
            return outcome
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        detail = _server_message(response)
        if status == 429:
            if retry_after is not None:
                self.limiter.pause(min(retry_after, self.retry.retry_after_max))
            raise _Failure(RATE_LIMITED, f"HTTP 429: {detail}", retryable=True, retry_after=retry_after)
        if status >= 500 or status == 408:
            reason = TIMEOUT if status in (408, 504) else SERVER_ERROR
            raise _Failure(reason, f"HTTP {status}: {detail}", retryable=True, retry_after=retry_after)
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            raise _Failure(
                REDIRECT,
                f"HTTP {status} redirect to {_excerpt(location, 120)!r}; redirects are not followed, "
                "use the final URL as the base URL",
                retryable=False,
            )
        if status in (401, 403):
            raise _Failure(AUTH, f"HTTP {status}: {detail}", retryable=False)
        if 200 < status < 300:
            raise _Failure(MALFORMED, f"unexpected HTTP {status}", retryable=False)
        raise _Failure(CLIENT_ERROR, f"HTTP {status}: {detail}", retryable=False)


async def complete_once(
    target: EndpointTarget, body: dict[str, Any], *, policy: HostPolicy, retry: RetryPolicy
) -> Outcome:
    async with ChatSession(target, policy=policy, retry=retry) as session:
        return await session.complete(body)
