"""Sampling benchmark: a plan turning 250k prompts × 4 models into 1M queue items.

    python bench/sample.py --scale small                 # 25,000 prompts → 100,000 items
    python bench/sample.py --scale full                  # 250,000 prompts → 1,000,000 items
    python bench/sample.py --scale full --strategy each  # one item per generation instead of pairs

The default strategy is k_pairs with k = 4 (four of the six model pairings per
prompt, balanced across prompts): 4 items per prompt. The clock covers the whole
plan execution as the Celery task runs it (apps.sampling.services.plans.
plan_execution_run): reading the candidates, planning, hashing, and inserting
items with their ordered generation links. Synthetic prompts and generations are
written with set-based SQL first (not timed) in a throw-away database.

Last line: one JSON object with items and seconds (target < 60 s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Follow-up tasks the plan queues (PII scans of the new items) go to a queue of our own, purged at the end.
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"bench-sample-{os.getpid()}"

from bench._sampling_db import bench_database  # noqa: E402

SCALES = {"small": 25_000, "full": 250_000}
MODELS = ["model-alpha", "model-beta", "model-gamma", "model-delta"]


def seed_data(project_id: int, prompts: int) -> None:
    from django.db import connection

    from apps.items.models import Generation, Prompt

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Prompt._meta.db_table} (project_id, external_id, text, metadata, content_hash, created_at)
            SELECT %s, 'p' || i, 'Benchmark prompt ' || i || ': explain topic ' || (i %% 997),
                   jsonb_build_object('source', 'set-' || (i %% 5)), md5('prompt' || i), now()
            FROM generate_series(1, %s) AS i
            """,
            [project_id, prompts],
        )
        cursor.execute(
            f"""
            INSERT INTO {Generation._meta.db_table} (project_id, prompt_id, model_name, parameters, text, source,
                                                     metadata, content_hash, finish_reason, created_at)
            SELECT p.project_id, p.id, m.name, '{{}}'::jsonb,
                   'Answer from ' || m.name || ' ' || repeat('word ', ((p.id * 7 + m.n * 13) %% 600)::int),
                   'imported', '{{}}'::jsonb, md5('generation' || p.id || m.name), 'stop', now()
            FROM {Prompt._meta.db_table} p
            CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS m(name, n)
            WHERE p.project_id = %s
            """,
            [MODELS, project_id],
        )
        cursor.execute("ANALYZE")


def run(prompts: int, strategy: str) -> dict:
    from django.db import connection

    from apps.accounts.models import Organization
    from apps.projects.models import Project
    from apps.sampling.models import PlanTrigger
    from apps.sampling.services.plans import (
        plan_execution_run,
        plan_execution_start,
        sampling_plan_create,
    )

    organization = Organization.objects.create(slug="bench-sample", name="Bench sample")
    project = Project.objects.create(organization=organization, name="bench sample", gold_ratio=0)
    started = time.monotonic()
    seed_data(project.pk, prompts)
    seed_s = time.monotonic() - started
    print(f"  seeded {prompts:,} prompts × {len(MODELS)} models in {seed_s:.1f} s", file=sys.stderr)
    config = {"k": 4} if strategy == "k_pairs" else {}
    plan = sampling_plan_create(project=project, user=None, data={"name": "bench", "strategy": strategy, "config": config})
    execution = plan_execution_start(plan=plan, user=None, trigger=PlanTrigger.COMMAND, enqueue=False)
    started = time.monotonic()
    execution = plan_execution_run(execution_id=execution.pk)
    seconds = time.monotonic() - started
    if execution.status != "succeeded":
        raise SystemExit(f"plan failed: {execution.error}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM items_item WHERE project_id = %s", [project.pk])
        items = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM items_itemgeneration l JOIN items_item i ON i.id = l.item_id WHERE i.project_id = %s",
            [project.pk],
        )
        links = cursor.fetchone()[0]
    return {
        "strategy": strategy,
        "prompts": prompts,
        "generations": prompts * len(MODELS),
        "items": items,
        "links": links,
        "seconds": round(seconds, 2),
        "items_per_s": round(items / seconds),
        "plan_s": execution.breakdown["seconds"]["plan"],
        "insert_s": execution.breakdown["seconds"]["insert"],
        "pairings": execution.breakdown.get("pairings") or execution.breakdown.get("models"),
        "seed_s": round(seed_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--strategy", choices=["k_pairs", "each", "all_pairs"], default="k_pairs")
    args = parser.parse_args()
    with bench_database("sample"):
        try:
            result = run(SCALES[args.scale], args.strategy)
        finally:
            from config.celery import app

            app.control.purge()
    print(json.dumps({"benchmark": "sample", "scale": args.scale, **result, "target_seconds": 60}))


if __name__ == "__main__":
    main()
