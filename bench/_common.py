"""What the worker benchmarks share: a real `celery worker` process and its memory.

`start_worker` runs `celery -A config worker` (one prefork pool process) the way the
benchmarks measure it and returns once it answers a ping; `RssSampler` records the
peak resident memory of the pool processes (which run the tasks; the parent only
supervises) and of the whole worker tree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def start_worker(*, hostname: str, env: dict[str, str] | None = None, extra_args: Sequence[str] = (),
                 purge: bool = True, quiet: bool = False) -> subprocess.Popen:  # type: ignore[type-arg]
    """A worker with one pool process; `purge` first drops tasks left over from an interrupted run,
    `quiet` leaves out the start-up banner."""
    from config.celery import app

    if purge:
        app.control.purge()
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", *(["--quiet"] if quiet else []), "worker",
         "--loglevel", "WARNING", "--concurrency", "1",
         "--pool", "prefork", "--without-gossip", "--without-mingle", "--hostname", f"{hostname}-{os.getpid()}@%h",
         *extra_args],
        env=dict(os.environ) if env is None else env, cwd=BASE_DIR, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return process
        if process.poll() is not None:
            raise SystemExit("celery worker exited during start-up")
    stop_worker(process)
    raise SystemExit("celery worker did not answer within 60 s")


def stop_worker(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """A warm shutdown: SIGTERM to the main process only, which lets the pool finish its task (a job
    row can say "finished" while its task still cleans up); the whole group is killed after 30 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


class RssSampler(threading.Thread):
    """Peak RSS of the worker's pool processes (`peak_pool`) and of the whole tree (`peak_tree`), in bytes."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_pool = 0
        self.peak_tree = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        while not self._stop_event.is_set():
            try:
                sizes = {}
                for process in [self.root, *self.root.children(recursive=True)]:
                    try:
                        sizes[process.pid] = process.memory_info().rss
                    except psutil.Error:
                        pass
                pool = [size for pid, size in sizes.items() if pid != self.root.pid]
                if pool:
                    self.peak_pool = max(self.peak_pool, max(pool))
                if sizes:
                    self.peak_tree = max(self.peak_tree, sum(sizes.values()))
            except psutil.Error:
                pass
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(1)


def megabytes(size: int) -> float:
    return round(size / 1024**2, 1)
