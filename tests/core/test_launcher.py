"""Start Verity the way `make run` does (embedded PostgreSQL and Redis), use it, stop it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest

from tests.conftest import BASE_DIR


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, opener=None, data: bytes | None = None, headers: dict | None = None):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(url, data=data, headers=headers or {})
    return (opener or urllib.request.build_opener()).open(request, timeout=10)


@pytest.mark.slow
def test_make_run_serves_signs_in_and_stops_cleanly(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}}
    env.update({"VERITY_DATA_DIR": str(tmp_path / "data"), "PORT": str(port), "WEB_CONCURRENCY": "1",
                "WORKER_CONCURRENCY": "1"})
    process = subprocess.Popen(
        [sys.executable, "-m", "apps.core.launcher", "run"],
        cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = process.stdout.readline()  # type: ignore[union-attr]
            if not line and process.poll() is not None:
                break
            output.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        text = "".join(output)
        assert f"Verity is running at http://localhost:{port}/" in text, text[-3000:]

        health = json.loads(_get(f"http://127.0.0.1:{port}/healthz").read())
        assert health["ok"] is True and health["workers"]["workers"] >= 1

        match = re.search(r"researcher\s+(\S+)\s+(\S+)", text)
        assert match, text[-2000:]
        username, password = match.groups()
        stored = json.loads((tmp_path / "data" / "demo-logins.json").read_text())
        assert {"username": username, "password": password, "role": "researcher"} in stored

        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_page = _get(f"http://127.0.0.1:{port}/accounts/login/", opener).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)  # type: ignore[union-attr]
        response = _get(
            f"http://127.0.0.1:{port}/accounts/login/", opener,
            data=urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token}).encode(),
            headers={"Referer": f"http://127.0.0.1:{port}/accounts/login/"},
        )
        page = response.read().decode()
        assert response.url.endswith("/projects/"), response.url
        assert "Demo:" in page
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            rest, _ = process.communicate()
    assert process.returncode == 0, "".join(output)[-2000:] + rest[-2000:]
    assert "Stopped." in rest
    # Everything it started is gone: nothing still listens on the web port.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    # The embedded PostgreSQL was stopped too (its pid file is removed on a clean shutdown).
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()
