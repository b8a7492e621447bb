"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol.

Deterministic completions (a function of model, messages, seed and temperature),
and scripted misbehaviour per prompt:

    server = FakeOpenAI(latency=0.0, api_key="sk-test").start()
    server.script("prompt 3", status(429, retry_after=1), status(500))   # then normal answers
    server.script("prompt 4", then=truncated())                         # always truncated JSON
    server.script(None, slow(2.0))                                      # the first request of any prompt
    endpoint base URL: server.url  ("http://127.0.0.1:<port>/v1")
    server.requests -> [Recorded(path, headers, body, at, reply)]

Used by tests/sampling and bench/generate.py.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    kind: str  # ok | status | slow | truncated | empty_choices | redirect | echo_auth
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    location: str = ""


def ok(delay: float = 0.0) -> Reply:
    return Reply("ok", delay=delay)


def status(code: int, retry_after: float | str | None = None) -> Reply:
    return Reply("status", status=code, retry_after=None if retry_after is None else str(retry_after))


def slow(seconds: float) -> Reply:
    return Reply("slow", delay=seconds)


def truncated() -> Reply:
    return Reply("truncated")


def empty_choices() -> Reply:
    return Reply("empty_choices")


def redirect(location: str) -> Reply:
    return Reply("redirect", status=302, location=location)


def echo_auth() -> Reply:
    """A 400 whose error message repeats the Authorization header (a careless real server)."""
    return Reply("echo_auth", status=400)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    reply: str


@dataclass
class _Rule:
    match: str | None
    replies: list[Reply]
    then: Reply | None
    seen: dict[str, int] = field(default_factory=dict)


def last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def completion_text(body: dict[str, Any]) -> str:
    """The deterministic answer for a request body."""
    key = json.dumps(
        [body.get("model"), body.get("messages"), body.get("seed"), body.get("temperature")], sort_keys=True
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    prompt = " ".join(last_user_text(body.get("messages")).split()[:12])
    return f"{body.get('model')} answers {prompt!r} with reply {digest} and some more words to count"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The listen backlog is taken at construction: 32+ clients connecting at once need room.
    request_queue_size = 512


class FakeOpenAI:
    def __init__(self, *, latency: float = 0.0, api_key: str | None = None, port: int = 0):
        self.latency = latency
        self.api_key = api_key
        self.port = port
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- configuration -----------------------------------------------------------------

    def script(self, match: str | None, *replies: Reply, then: Reply | None = None) -> FakeOpenAI:
        """For requests whose last user message contains `match` (None = every request):
        the i-th such request *per prompt* gets replies[i]; afterwards `then` (default: normal)."""
        with self._lock:
            self._rules.append(_Rule(match, list(replies), then))
        return self

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self.requests.clear()
            self.max_in_flight = 0

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def chat_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: with Nagle's algorithm the body waited for
            # the client's delayed ACK of the headers, ~40 ms on every call on Linux, which a
            # real model server (TCP_NODELAY, as uvicorn sets it) does not add.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                return None

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/stats"):  # for benchmarks running the server apart
                    with fake._lock:
                        calls = len(fake.requests)
                    self._json(200, {"requests": calls, "max_in_flight": fake.max_in_flight})
                elif self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                reply = fake._choose(body if isinstance(body, dict) else {})
                with fake._lock:
                    fake.requests.append(
                        Recorded(self.path, dict(self.headers.items()), body, time.monotonic(), reply.kind)
                    )
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._json(401, {"error": {"message": "Incorrect API key provided"}})
                    return
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    fake._answer(self, reply, body if isinstance(body, dict) else {})
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _json(self, code: int, data: Any, headers: dict[str, str] | None = None) -> None:
                payload = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        server = _Server(("127.0.0.1", self.port), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- behaviour -----------------------------------------------------------------------

    def _choose(self, body: dict[str, Any]) -> Reply:
        text = last_user_text(body.get("messages"))
        with self._lock:
            for rule in self._rules:
                if rule.match is not None and rule.match not in text:
                    continue
                index = rule.seen.get(text, 0)
                rule.seen[text] = index + 1
                if index < len(rule.replies):
                    return rule.replies[index]
                if rule.then is not None:
                    return rule.then
        return ok()

    def _answer(self, handler: Any, reply: Reply, body: dict[str, Any]) -> None:
        if reply.kind in ("ok", "slow"):
            time.sleep(self.latency + reply.delay)
        elif self.latency:
            time.sleep(self.latency)
        if reply.kind == "status":
            headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
            handler._json(reply.status, {"error": {"message": f"injected HTTP {reply.status}"}}, headers)
            return
        if reply.kind == "redirect":
            handler._json(302, {}, {"Location": reply.location})
            return
        if reply.kind == "echo_auth":
            handler._json(400, {"error": {"message": f"bad request from {handler.headers.get('Authorization')}"}})
            return
        completion = self.completion(body)
        if reply.kind == "empty_choices":
            completion["choices"] = []
        if reply.kind == "truncated":
            payload = json.dumps(completion).encode()[:40]
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        handler._json(200, completion)

    @staticmethod
    def completion(body: dict[str, Any]) -> dict[str, Any]:
        words = completion_text(body).split()
        finish = "stop"
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and len(words) > max_tokens:
            words, finish = words[:max_tokens], "length"
        prompt_tokens = sum(
            len(str(m.get("content", "")).split()) for m in body.get("messages") or [] if isinstance(m, dict)
        )
        return {
            "id": "chatcmpl-" + hashlib.sha256(" ".join(words).encode()).hexdigest()[:12],
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)}, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(words),
                "total_tokens": prompt_tokens + len(words),
            },
        }


def main() -> None:
    """Serve until killed: `python -m tests.sampling.fake_openai --latency 0.2` prints its base URL."""
    import argparse

    parser = argparse.ArgumentParser(description="A fake OpenAI chat-completions server")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = FakeOpenAI(latency=args.latency, port=args.port).start()
    print(server.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
