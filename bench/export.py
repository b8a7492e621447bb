"""Benchmark: annotations → preference dataset (JSONL and Parquet) on a real Celery worker.

    python bench/export.py --scale small     # 5k and 20k annotations, under a minute
    python bench/export.py --scale full      # 100k and 1M annotations

Builds a throw-away database next to DATABASE_URL's (`<name>_bench_export`), fills two
projects with pairwise items of real AlpacaEval prompts and responses (../shared/data beside the repo;
synthetic text when absent): 4 responses per prompt, all 6 pairs as items, 3 annotators
per item answering a pairwise question (with strength) and a 1-5 rating per response;
1% of responses carry an e-mail and a phone number with the spans a privacy scan stores.
Then it starts `celery worker --concurrency 1 --max-tasks-per-child 1` and runs the
default preference export (pairwise, PII redaction on, 10% test split by prompt) to JSONL
and to Parquet for each size, sampling the worker's RSS every 50 ms.

Reported per run: the job's own duration (claim → stored zip, including the count query,
card, manifest, zip and storage), the wall time seen by the client, records, and the
peak RSS of the pool process that ran the job. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._common import RssSampler, megabytes, start_worker, stop_worker  # noqa: E402

SHARED = BASE_DIR.parent / "shared" / "data" / "alpacaeval-outputs.jsonl.gz"
SIZES = {"small": [5_000, 20_000], "full": [100_000, 1_000_000]}
ANNOTATORS = 60
PER_ITEM = 3
QUESTIONS = [
    {"id": "preference", "type": "pairwise", "prompt": "Which response is better?", "strength": True},
    {"id": "quality", "type": "rating", "prompt": "Quality", "applies_to": "each_response", "min": 1, "max": 5},
]
PAIRS = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


def log(message: str) -> None:
    print(message, flush=True)


def _database_urls() -> tuple[str, str, str]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL must be set (see the helper brief)")
    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_bench_export"
    return url, urlunsplit(parts._replace(path="/" + name)), urlunsplit(parts._replace(path="/postgres"))


def _admin(admin_url: str, sql: str) -> None:
    import psycopg2

    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


def _texts() -> list[tuple[str, list[str]]]:
    """(prompt, four responses) from AlpacaEval, or synthetic text of similar length."""
    if SHARED.exists():
        by_prompt: dict[str, tuple[str, list[str]]] = {}
        with gzip.open(SHARED, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                by_prompt.setdefault(row["prompt_id"], (row["prompt"], []))[1].append(row["response"])
        return [(p, r[:4]) for p, r in by_prompt.values() if len(r) >= 4]
    words = "the model answer explains a careful step with an example and a caveat".split()
    return [(f"Question {i}: explain topic {i}.", [" ".join(words[(i + j + k) % len(words)] for k in range(250))
                                                  for j in range(4)]) for i in range(800)]


def _cell(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Copier:
    """COPY rows into a model's table; columns we do not give get the model's defaults."""

    def __init__(self, model: Any, columns: list[str]):
        from django.utils import timezone

        self.table = model._meta.db_table
        extra_columns, extra_values = [], []
        for field in model._meta.concrete_fields:
            if field.column in columns or field.primary_key or field.null:
                continue
            if field.has_default():
                value = field.get_default()
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                value = timezone.now()
            elif field.get_internal_type() in ("CharField", "TextField", "SlugField"):
                value = ""
            else:
                raise RuntimeError(f"{self.table}.{field.column} needs a value")
            extra_columns.append(field.column)
            extra_values.append(_cell(value))
        self.columns = columns + extra_columns
        self.suffix = ("\t" + "\t".join(extra_values)) if extra_values else ""
        self.buffer = io.StringIO()
        self.rows = 0

    @property
    def pending(self) -> int:
        return self.buffer.tell()

    def add(self, *values: Any) -> None:
        self.buffer.write("\t".join(map(_cell, values)) + self.suffix + "\n")
        self.rows += 1

    def flush(self) -> None:
        from django.db import connection

        self.buffer.seek(0)
        with connection.cursor() as cursor:
            columns = ", ".join(f'"{c}"' for c in self.columns)
            cursor.copy_expert(f'COPY "{self.table}" ({columns}) FROM STDIN', self.buffer)
        self.buffer = io.StringIO()


def _next_id(model: Any) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def _reset_sequences(*models: Any) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")


def fill_project(annotations: int, owner: Any, org: Any, annotators: list[Any], texts: list) -> Any:
    """A project with `annotations` annotations (3 per pair item), inserted with COPY."""
    from django.utils import timezone

    from apps.accounts.models import ProjectMembership
    from apps.annotations.models import Annotation, Assignment
    from apps.items.models import Generation, Item, ItemGeneration, Prompt
    from apps.privacy.models import PiiSpan
    from apps.projects.models import GuidelineVersion, Project
    from apps.projects.schema import validate_schema

    project = Project.objects.create(organization=org, name=f"Bench {annotations}", created_by=owner,
                                     questions=validate_schema(QUESTIONS), annotations_per_item=PER_ITEM,
                                     dataset_license="cc-by-4.0")
    GuidelineVersion.objects.create(project=project, version=1, text="Prefer the more helpful, honest answer.")
    ProjectMembership.objects.bulk_create(
        [ProjectMembership(project=project, user=u, role="annotator") for u in annotators])
    items = annotations // PER_ITEM
    prompts = (items + len(PAIRS) - 1) // len(PAIRS)
    now = timezone.now()
    prompt_id, generation_id, item_id = _next_id(Prompt), _next_id(Generation), _next_id(Item)
    assignment_id, annotation_id = _next_id(Assignment), _next_id(Annotation)
    copy_prompts = Copier(Prompt, ["id", "project_id", "text", "content_hash", "created_at"])
    copy_generations = Copier(Generation, ["id", "project_id", "prompt_id", "model_name", "text", "content_hash",
                                           "created_at"])
    copy_items = Copier(Item, ["id", "project_id", "prompt_id", "kind", "content_hash", "required_annotations",
                               "active_count", "annotation_count", "state", "has_pii", "created_at", "updated_at"])
    copy_links = Copier(ItemGeneration, ["item_id", "generation_id", "position"])
    copy_assignments = Copier(Assignment, ["id", "project_id", "item_id", "annotator_id", "status", "leased_at",
                                           "expires_at", "finished_at", "created_at", "updated_at"])
    copy_annotations = Copier(Annotation, ["id", "project_id", "item_id", "annotator_id", "assignment_id", "answers",
                                           "time_spent_ms", "guideline_version", "submitted_at"])
    copy_pii = Copier(PiiSpan, ["project_id", "generation_id", "start", "end", "type", "score"])
    copiers = (copy_prompts, copy_generations, copy_items, copy_links, copy_assignments, copy_annotations, copy_pii)
    made = 0
    for p in range(prompts):
        prompt_text, responses = texts[p % len(texts)]
        copy_prompts.add(prompt_id, project.pk, f"{prompt_text}\n\n(variant {p})",
                         hashlib.sha256(f"{project.pk}-p-{p}".encode()).hexdigest(), now)
        gens = []
        for m, response in enumerate(responses[:4]):
            text = f"{response}\n\n[answer {p}.{m}]"
            if generation_id % 100 == 0:
                email, phone = f"user{generation_id}@example.com", f"+1 (415) 555-{generation_id % 10000:04d}"
                prefix = f"{text} Contact me at "
                text = f"{prefix}{email} or {phone}."
                copy_pii.add(project.pk, generation_id, len(prefix), len(prefix) + len(email), "EMAIL", 1.0)
                start = len(prefix) + len(email) + 4
                copy_pii.add(project.pk, generation_id, start, start + len(phone), "PHONE", 0.75)
            copy_generations.add(generation_id, project.pk, prompt_id, f"model-{m}", text,
                                 hashlib.sha256(f"{project.pk}-g-{generation_id}".encode()).hexdigest(), now)
            gens.append(generation_id)
            generation_id += 1
        for pair_index, (i, j) in enumerate(PAIRS):
            if made >= items:
                break
            first, second = (gens[i], gens[j]) if (p + pair_index) % 2 else (gens[j], gens[i])
            copy_items.add(item_id, project.pk, prompt_id, "pair",
                           hashlib.sha256(f"{project.pk}-i-{item_id}".encode()).hexdigest(), PER_ITEM, PER_ITEM,
                           PER_ITEM, "completed", False, now, now)
            copy_links.add(item_id, first, 0)
            copy_links.add(item_id, second, 1)
            for k in range(PER_ITEM):
                person = annotators[(item_id + k * 7) % len(annotators)]
                choice = "ab"[(item_id * 31 + k * 17) % 5 < 3] if (item_id + k) % 9 else "tie"
                answer = {"preference": {"choice": choice, **({"strength": 1 + (item_id + k) % 3}
                                                             if choice != "tie" else {})},
                          "quality": {str(first): 1 + (item_id + k) % 5, str(second): 1 + (item_id * 3 + k) % 5}}
                copy_assignments.add(assignment_id, project.pk, item_id, person.pk, "submitted", now,
                                     now + timedelta(minutes=30), now, now, now)
                copy_annotations.add(annotation_id, project.pk, item_id, person.pk, assignment_id, answer,
                                     20_000 + (annotation_id % 50) * 1000, 1, now - timedelta(minutes=k))
                assignment_id += 1
                annotation_id += 1
            item_id += 1
            made += 1
        prompt_id += 1
        if copy_annotations.pending > 32 * 1024**2 or copy_generations.pending > 64 * 1024**2:
            # Parents before children: foreign keys are checked row by row.
            for copier in copiers:
                copier.flush()
    for copier in copiers:
        copier.flush()
    _reset_sequences(Prompt, Generation, Item, ItemGeneration, Assignment, Annotation, PiiSpan)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return project


def run_export(project: Any, owner: Any, fmt: str, worker: subprocess.Popen) -> dict[str, Any]:  # type: ignore[type-arg]
    from apps.exports.models import ExportJob
    from apps.exports.services import export_create

    sampler = RssSampler(worker.pid)
    sampler.start()
    started = time.monotonic()
    job = export_create(project=project, user=owner, kind="preference", fmt=fmt, raw_options={"test_fraction": 0.1})
    while True:
        job = ExportJob.objects.get(pk=job.pk)
        if job.is_finished:
            break
        if worker.poll() is not None:
            sys.exit("the worker died during the export")
        time.sleep(0.1)
    wall = time.monotonic() - started
    sampler.stop()
    peak = megabytes(sampler.peak_pool)
    if job.status != "succeeded":
        sys.exit(f"export {job.pk} {job.status}: {job.error}")
    return {
        "format": fmt,
        "seconds": job.stats["seconds"],
        "cpu_seconds": job.stats.get("cpu_seconds"),
        "wall_seconds": round(wall, 2),
        "records": job.record_count,
        "splits": job.split_counts,
        "archive_mb": round(job.archive_bytes / 1024**2, 1),
        "peak_rss_mb": max(peak, job.stats["peak_rss_mb"]),
        "start_rss_mb": job.stats["start_rss_mb"],
        "items": job.total_items,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SIZES), default="small")
    parser.add_argument("--sizes", help="comma-separated annotation counts instead of the scale's")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else SIZES[args.scale]
    _, bench_url, admin_url = _database_urls()
    bench_name = urlsplit(bench_url).path.lstrip("/")
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{bench_name}"')
    _admin(admin_url, f'CREATE DATABASE "{bench_name}"')
    media = tempfile.mkdtemp(prefix="verity-bench-export-")
    os.environ.update({"DATABASE_URL": bench_url, "MEDIA_ROOT": media, "DJANGO_SETTINGS_MODULE": "config.settings"})
    # The settings refuse to start without one; a throw-away key for a throw-away database.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()
    from django.core.management import call_command

    from apps.accounts.models import Organization, OrganizationMembership, User

    worker = None
    try:
        t = time.monotonic()
        call_command("migrate", verbosity=0)
        org = Organization.objects.create(name="Bench", slug="bench")
        owner = User.objects.create(username="bench-owner", password="!")
        OrganizationMembership.objects.create(organization=org, user=owner, role="researcher")
        annotators = User.objects.bulk_create([User(username=f"bench-annotator-{i}", password="!")
                                               for i in range(ANNOTATORS)])
        texts = _texts()
        projects = []
        for size in sizes:
            t0 = time.monotonic()
            projects.append((size, fill_project(size, owner, org, annotators, texts)))
            log(f"filled {size} annotations in {time.monotonic() - t0:.1f} s")
        log(f"database ready in {time.monotonic() - t:.1f} s")
        worker = start_worker(hostname="bench-export", quiet=True, extra_args=["--max-tasks-per-child", "1"])
        results: dict[int, dict[str, Any]] = {}
        for size, project in projects:
            for fmt in ("jsonl", "parquet"):
                run = run_export(project, owner, fmt, worker)
                results.setdefault(size, {})[fmt] = run
                log(f"{size:>9} annotations → {fmt:<8} {run['seconds']:>6.2f} s (wall {run['wall_seconds']:.2f} s, worker CPU "
                    f"{run['cpu_seconds']} s), "
                    f"{run['records']} records, zip {run['archive_mb']} MB, worker RSS {run['start_rss_mb']} MB at start, "
                    f"peak {run['peak_rss_mb']} MB")
    finally:
        if worker is not None:
            stop_worker(worker)
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _admin(admin_url, f'DROP DATABASE IF EXISTS "{bench_name}"')
        import shutil

        shutil.rmtree(media, ignore_errors=True)
    largest = max(results)
    load = os.getloadavg()
    summary = {
        "annotations": largest,
        "jsonl_s": results[largest]["jsonl"]["seconds"],
        "parquet_s": results[largest]["parquet"]["seconds"],
        "peak_rss_mb": max(r["peak_rss_mb"] for by_fmt in results.values() for r in by_fmt.values()),
        "load_average_at_end": [round(x, 2) for x in load],
        "by_size": {str(size): {fmt: {k: r[k] for k in ("seconds", "cpu_seconds", "wall_seconds", "records",
                                                      "start_rss_mb", "peak_rss_mb")}
                                for fmt, r in by_fmt.items()} for size, by_fmt in results.items()},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
