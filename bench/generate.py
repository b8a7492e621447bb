"""Generation benchmark: a generation run through a real Celery worker against the fake server.

    python bench/generate.py --scale small     # 500 prompts
    python bench/generate.py --scale full      # 2,000 prompts

The fake OpenAI-compatible server (tests/sampling/fake_openai.py) answers every
call after 200 ms; the endpoint allows 32 concurrent calls, so the ceiling is
32 / 0.2 s = 160 generations/s. One `celery worker` (one pool process) executes
the run; this process samples its memory every 0.1 s. The clock starts when the
run is created (worker already up) and stops when the run has finished.
Runs in a throw-away database next to DATABASE_URL's; uses REDIS_URL on its own queue.

Last line: one JSON object with generations_per_s (target >= 120) and peak_rss_mb.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Our own queue: other workers on the same broker (with another database) must not take these tasks.
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"bench-generate-{os.getpid()}"

from bench._sampling_db import bench_database  # noqa: E402

SCALES = {"small": 500, "full": 2000}
LATENCY_S = 0.2
CONCURRENCY = 32


class RssSampler(threading.Thread):
    """Peak resident memory of the worker tree and of its largest process."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(pid)
        self.peak_process = 0
        self.peak_tree = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop.is_set():
            try:
                sizes = []
                for process in [self.root, *self.root.children(recursive=True)]:
                    try:
                        sizes.append(process.memory_info().rss)
                    except psutil.Error:
                        pass
                if sizes:
                    self.peak_process = max(self.peak_process, max(sizes))
                    self.peak_tree = max(self.peak_tree, sum(sizes))
            except psutil.Error:
                pass
            time.sleep(0.1)


def start_worker() -> subprocess.Popen:  # type: ignore[type-arg]
    from config.celery import app

    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", "1",
         "--pool", "prefork", "--without-gossip", "--without-mingle", "--hostname", f"bench-gen-{os.getpid()}@%h"],
        env=dict(os.environ), cwd=BASE_DIR, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return process
        if process.poll() is not None:
            raise SystemExit("celery worker exited during start-up")
    raise SystemExit("celery worker did not answer within 60 s")


def run(prompts: int) -> dict:
    from apps.accounts.models import Organization
    from apps.items.models import Generation, Prompt
    from apps.projects.models import Project
    from apps.sampling.models import GenerationRun
    from apps.sampling.selectors import generation_run_summary
    from apps.sampling.services.endpoints import endpoint_create
    from apps.sampling.services.runs import generation_run_create

    # The server gets its own process (and GIL), as a real model server would.
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.sampling.fake_openai", "--latency", str(LATENCY_S)],
        cwd=BASE_DIR, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    server_url = server.stdout.readline().strip()  # type: ignore[union-attr]
    organization = Organization.objects.create(slug="bench-generate", name="Bench generate")
    project = Project.objects.create(organization=organization, name="bench generate")
    Prompt.objects.bulk_create(
        Prompt(project=project, text=f"Benchmark prompt {i}: write a short paragraph about topic {i}.",
               content_hash=hashlib.sha256(f"bench:{i}".encode()).hexdigest())
        for i in range(prompts)
    )
    endpoint = endpoint_create(
        organization=organization, user=None,
        data={"name": "bench", "base_url": server_url, "model_name": "bench-model", "max_concurrency": CONCURRENCY,
              "timeout_seconds": 30, "default_parameters": {"temperature": 0.7, "max_tokens": 64}},
    )
    worker = start_worker()
    sampler = RssSampler(worker.pid)
    sampler.start()
    try:
        started = time.monotonic()
        generation_run = generation_run_create(project=project, user=None, endpoint_ids=[endpoint.pk])
        last = 0.0
        while True:
            generation_run = GenerationRun.objects.get(pk=generation_run.pk)
            if generation_run.is_finished:
                break
            if time.monotonic() - last > 2:
                last = time.monotonic()
                summary = generation_run_summary(run=generation_run)
                print(f"  {summary['succeeded']}/{summary['total']} after {last - started:.1f} s", file=sys.stderr)
            time.sleep(0.1)
        elapsed = time.monotonic() - started
    finally:
        sampler.stop.set()
        sampler.join()
        os.kill(worker.pid, 15)  # warm shutdown: the search-index task it queued may finish
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
        with urllib.request.urlopen(server_url + "/stats") as response:
            stats = json.load(response)
        os.killpg(server.pid, 15)
        server.wait(10)
    summary = generation_run_summary(run=generation_run)
    first_output = Generation.objects.filter(project=project).order_by("created_at").values_list("created_at", flat=True).first()
    startup = {
        "prepared_s": round((generation_run.prepared_at - generation_run.created_at).total_seconds(), 2),
        "executor_started_s": round((generation_run.started_at - generation_run.created_at).total_seconds(), 2),
        "first_output_s": round((first_output - generation_run.created_at).total_seconds(), 2) if first_output else None,
    }
    if summary["succeeded"] != prompts:
        raise SystemExit(f"run ended {generation_run.status} with {summary['succeeded']}/{prompts}: {summary}")
    return {
        "prompts": prompts,
        "generations": summary["succeeded"],
        "failed": summary["failed"],
        "calls": stats["requests"],
        "server_max_in_flight": stats["max_in_flight"],
        "latency_ms": int(LATENCY_S * 1000),
        "concurrency": CONCURRENCY,
        "seconds": round(elapsed, 2),
        "generations_per_s": round(summary["succeeded"] / elapsed, 1),
        "ceiling_per_s": round(CONCURRENCY / LATENCY_S),
        "peak_rss_mb": round(sampler.peak_process / 2**20, 1),
        "startup": startup,
        "worker_tree_rss_mb": round(sampler.peak_tree / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    args = parser.parse_args()
    with bench_database("generate"):
        try:
            result = run(SCALES[args.scale])
        finally:
            from config.celery import app

            app.control.purge()
    print(json.dumps({"benchmark": "generate", "scale": args.scale, **result, "target_generations_per_s": 120}))


if __name__ == "__main__":
    main()
