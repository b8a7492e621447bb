"""Import benchmark: a synthetic JSONL of model outputs through the real Celery path.

    python bench/import.py --scale small     # 100,000 rows
    python bench/import.py --scale full      # 100,000 rows, then 1,000,000 rows

Rows: prompt ≈ 200 characters, response ≈ 800 characters, four models, one row
per (prompt, model), one item per generation. A `celery worker` subprocess runs
the job; this process samples the worker's memory (the pool process that runs
the task, and the whole worker tree) every 0.1 s. Uses DATABASE_URL / REDIS_URL
from the environment; the project it creates is deleted afterwards.

The last line of output is one JSON object with rows, rows_per_s and peak_rss_mb
(for --scale full, those of the 1M run, with every run under "runs"). rows_per_s is
queue-to-items-stored; the full-text index is built by a follow-up task, reported as
search_index_s. peak_rss_mb is the pool process that ran the task; worker_idle_rss_mb
is the same process before any task (modules the worker imports), so
import_rss_growth_mb is what the import itself adds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

MODELS = ["model-alpha", "model-beta", "model-gamma", "model-delta"]
SCALES = {"small": [100_000], "full": [100_000, 1_000_000]}


def _vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(5000)]


def _sentence(rng: random.Random, words: list[str], length: int) -> str:
    parts: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(words)
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:length]


def write_dataset(path: Path, rows: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    words = _vocabulary(rng)
    prompts = rows // len(MODELS)
    with path.open("w", encoding="utf-8") as handle:
        for p in range(prompts):
            prompt = _sentence(rng, words, 200)
            for model in MODELS:
                handle.write(json.dumps({
                    "prompt_id": f"p{p}", "prompt": prompt, "model": model,
                    "response": _sentence(rng, words, 800), "split": "bench",
                }) + "\n")
    return prompts * len(MODELS)


class RssSampler(threading.Thread):
    """Peak resident memory of the worker's pool process (which runs the task) and of the whole tree."""

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
                children = self.root.children(recursive=True)
                sizes = {}
                for process in [self.root, *children]:
                    try:
                        sizes[process.pid] = process.memory_info().rss
                    except psutil.Error:
                        pass
                pool = [size for pid, size in sizes.items() if pid != self.root.pid]
                if pool:  # the prefork pool process runs the task; the parent only supervises
                    self.peak_process = max(self.peak_process, max(pool))
                if sizes:
                    self.peak_tree = max(self.peak_tree, sum(sizes.values()))
            except psutil.Error:
                pass
            time.sleep(0.1)


def _pool_high_water_mark(pid: int) -> int:
    """Peak RSS (VmHWM) of the worker's pool processes, from /proc: exact where the sampler may miss a spike."""
    import psutil

    peak = 0
    for child in psutil.Process(pid).children(recursive=True):
        try:
            with open(f"/proc/{child.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
    return peak


def start_worker(media_root: str) -> subprocess.Popen:  # type: ignore[type-arg]
    from config.celery import app

    app.control.purge()  # tasks left over from an interrupted run
    env = {**os.environ, "MEDIA_ROOT": media_root, "DJANGO_SETTINGS_MODULE": "config.settings"}
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", "1",
         "--pool", "prefork", "--without-gossip", "--without-mingle", "--hostname", f"bench-{os.getpid()}@%h"],
        env=env, cwd=BASE_DIR, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return process
        if process.poll() is not None:
            raise SystemExit("celery worker exited during start-up")
    raise SystemExit("celery worker did not answer within 60 s")


def delete_project(project_id: int) -> None:
    from django.db import connection

    # Set-based deletes: the ORM would load a million rows to cascade.
    with connection.cursor() as cursor:
        for table in ("items_generationsearch", "items_promptsearch"):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])
        cursor.execute(
            "DELETE FROM items_itemgeneration USING items_item "
            "WHERE items_itemgeneration.item_id = items_item.id AND items_item.project_id = %s",
            [project_id],
        )
        for table in ("items_item", "items_generation", "items_prompt"):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM items_importrowerror USING items_importjob WHERE "
                       "items_importrowerror.job_id = items_importjob.id AND items_importjob.project_id = %s",
                       [project_id])
    from apps.projects.models import Project

    Project.objects.filter(pk=project_id).delete()


def run_once(rows: int, workdir: Path, search_timeout: float) -> dict:
    from django.db import connection

    from apps.accounts.models import Organization
    from apps.core.models import JobStatus
    from apps.items.models import ImportJob
    from apps.items.services import import_job_create, import_upload_store
    from apps.projects.models import Project

    data = workdir / f"bench-{rows}.jsonl"
    t0 = time.monotonic()
    rows = write_dataset(data, rows)
    generate_s = time.monotonic() - t0
    organization, _ = Organization.objects.get_or_create(slug="bench-import", defaults={"name": "Bench import"})
    project = Project.objects.create(organization=organization, name=f"bench import {rows}", annotations_per_item=3)
    try:
        with data.open("rb") as handle:
            upload = import_upload_store(project=project, user=None, fileobj=handle, name=data.name)
        data.unlink()
        worker = start_worker(os.environ["MEDIA_ROOT"])
        idle = RssSampler(worker.pid)
        idle.start()
        time.sleep(1.5)  # the idle worker: what the other apps' imports cost before any task runs
        idle.stop.set()
        idle.join()
        sampler = RssSampler(worker.pid)
        sampler.start()
        try:
            started = time.monotonic()
            job = import_job_create(project=project, user=None, upload=upload, mapping={
                "shape": "rows", "prompt": "prompt", "prompt_id": "prompt_id", "model": "model",
                "response": "response", "item_mode": "each",
            })
            last_report = 0.0
            while True:
                job = ImportJob.objects.get(pk=job.pk)
                if job.status in JobStatus.finished():
                    break
                if time.monotonic() - last_report > 5:
                    last_report = time.monotonic()
                    print(f"  {rows:,} rows: {job.progress_percent}% ({job.rows_read:,} read)", file=sys.stderr)
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            peak_pool = max(sampler.peak_process, _pool_high_water_mark(worker.pid))
            print(f"  {rows:,} rows imported in {elapsed:.1f} s; waiting for the search index", file=sys.stderr)
            # Full-text vectors are computed by a follow-up task; timed separately, bounded.
            search_s: float | None = None
            deadline = time.monotonic() + search_timeout
            while job.status == JobStatus.SUCCEEDED and time.monotonic() < deadline:
                if ImportJob.objects.get(pk=job.pk).search_indexed_at:
                    search_s = time.monotonic() - started - elapsed
                    break
                time.sleep(0.5)
        finally:
            sampler.stop.set()
            sampler.join()
            os.killpg(worker.pid, 15)
            worker.wait(30)
        if job.status != JobStatus.SUCCEEDED:
            raise SystemExit(f"import failed: {job.error_message}")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM items_item WHERE project_id = %s", [project.pk])
            items = cursor.fetchone()[0]
        return {
            "rows": rows,
            "items": items,
            "seconds": round(elapsed, 2),
            "rows_per_s": round(rows / elapsed),
            "peak_rss_mb": round(peak_pool / 2**20, 1),
            "worker_idle_rss_mb": round(idle.peak_process / 2**20, 1),
            "import_rss_growth_mb": round((peak_pool - idle.peak_process) / 2**20, 1),
            "worker_tree_rss_mb": round(sampler.peak_tree / 2**20, 1),
            "search_index_s": round(search_s, 2) if search_s else None,
            "search_rows_per_s": round(rows / search_s) if search_s else None,
            "generate_s": round(generate_s, 1),
        }
    finally:
        delete_project(project.pk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--search-timeout", type=float, default=900,
                        help="seconds to wait for the follow-up search indexing (reported as null if longer)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="verity-bench-import-") as tmp:
        os.environ["MEDIA_ROOT"] = str(Path(tmp) / "media")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        runs = []
        for rows in SCALES[args.scale]:
            result = run_once(rows, Path(tmp), args.search_timeout)
            runs.append(result)
            print(json.dumps(result), file=sys.stderr)
    final = {**runs[-1], "scale": args.scale, "target_rows_per_s": 20000, "target_rss_mb": 300}
    if len(runs) > 1:
        final["runs"] = runs
    print(json.dumps(final))


if __name__ == "__main__":
    main()
