"""Benchmark: full quality recompute and dashboard server time on a big project.

    .venv/bin/python bench/quality.py --scale full    # 1M annotations, 300k items, 500 annotators
    .venv/bin/python bench/quality.py --scale small   # 30k annotations, 10k items, 50 annotators

Runs in a throw-away database `<DATABASE_URL's name>_bench_quality` (created, migrated, dropped).
Synthetic data goes in with COPY: pair items of 8 models with known strengths, annotators of known
accuracy (a few spammers), a position bias, 1% gold items. Then it times
  * recompute_s   apps.quality.services.snapshot_recompute (everything the Celery task does)
  * dashboard_ms  GET /projects/<id>/quality/ through the whole Django stack (median of 7, warm)
and prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SCALES = {
    "full": {"items": 300_000, "annotations": 1_000_000, "annotators": 500},
    "small": {"items": 10_000, "annotations": 30_000, "annotators": 50},
}
MODELS = {"m-alpha": 1.2, "m-bravo": 0.8, "m-charlie": 0.4, "m-delta": 0.1, "m-echo": -0.2, "m-foxtrot": -0.5,
          "m-golf": -0.9, "m-hotel": -1.3}
QUESTIONS = [
    {"id": "label", "type": "single_choice", "prompt": "Is the better response harmful?", "applies_to": "item",
     "required": True, "options": [{"value": "safe", "label": "Safe"}, {"value": "unsafe", "label": "Unsafe"},
                                   {"value": "unclear", "label": "Unclear"}]},
    {"id": "fluency", "type": "rating", "prompt": "Fluency of the better response", "applies_to": "item",
     "required": True, "min": 1, "max": 5},
    {"id": "preference", "type": "pairwise", "prompt": "Which response is better?", "applies_to": "pair",
     "required": True, "allow_tie": True, "allow_both_bad": True, "strength": False},
]


@contextlib.contextmanager
def bench_database() -> Iterator[None]:
    import psycopg2

    base = os.environ["DATABASE_URL"]
    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/')}_bench_quality"
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield
    finally:
        from django.db import connections

        connections.close_all()
        os.environ["DATABASE_URL"] = base
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def copy_frame(model, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    """COPY a DataFrame into the model's table; columns the frame lacks get the field default."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now().isoformat()
    columns = []
    for field in model._meta.concrete_fields:
        column = field.column
        columns.append(column)
        if column in frame:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            frame[column] = now
            continue
        default = field.get_default()
        if isinstance(default, dict | list):
            default = json.dumps(default)
        elif isinstance(default, bool):
            default = "t" if default else "f"
        frame[column] = default
    frame = frame[columns]
    buffer = io.StringIO()
    # Text format: no quoting at all (the synthetic values hold no tabs, newlines or backslashes).
    frame.to_csv(buffer, sep="\t", header=False, index=False, na_rep="\\N", quoting=csv.QUOTE_NONE, quotechar="\x01")
    buffer.seek(0)
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT text)", buffer)
        if "id" in columns:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


def build(scale: dict[str, int], seed: int = 1) -> tuple[int, int]:
    """Insert the synthetic project; returns (project id, owner id)."""
    from django.utils import timezone

    from apps.accounts.models import (
        Organization,
        OrganizationMembership,
        OrgRole,
        ProjectMembership,
        ProjectRole,
        User,
    )
    from apps.annotations.models import Annotation, Assignment
    from apps.items.models import Generation, Item, ItemGeneration, Prompt
    from apps.projects.models import GuidelineVersion, Project

    rng = np.random.default_rng(seed)
    n_items, n_annotations, n_people = scale["items"], scale["annotations"], scale["annotators"]
    org = Organization.objects.create(name="Bench org", slug="bench-quality")
    owner = User.objects.create(username="bench-owner")
    OrganizationMembership.objects.create(organization=org, user=owner, role=OrgRole.RESEARCHER)
    project = Project.objects.create(organization=org, name="Quality bench", questions=QUESTIONS, created_by=owner,
                                     annotations_per_item=3, min_annotations=3, max_annotations=5, confidence_threshold=0.7,
                                     gold_ratio=0.01)
    GuidelineVersion.objects.create(project=project, version=1, text="# Rules\nBe careful.")
    people = User.objects.bulk_create([User(username=f"bench-annotator-{i}") for i in range(n_people)])
    ProjectMembership.objects.bulk_create([ProjectMembership(project=project, user=u, role=ProjectRole.ANNOTATOR) for u in people])
    person_ids = np.array([u.pk for u in people])
    pid = project.pk

    item_ids = np.arange(1, n_items + 1)
    copy_frame(Prompt, pd.DataFrame({"id": item_ids, "project_id": pid, "external_id": "", "text": [f"Prompt {i}" for i in item_ids],
                                     "content_hash": [f"p{i}" for i in item_ids]}))
    names = list(MODELS)
    first = rng.integers(0, len(names), n_items)
    second = (first + rng.integers(1, len(names), n_items)) % len(names)
    lengths = rng.integers(50, 900, size=(n_items, 2))
    gen_ids = np.arange(1, 2 * n_items + 1)
    copy_frame(Generation, pd.DataFrame({
        "id": gen_ids, "project_id": pid, "prompt_id": np.repeat(item_ids, 2),
        "model_name": np.array(names)[np.stack([first, second], axis=1).ravel()],
        "text": ["x" * int(n) for n in lengths.ravel()], "content_hash": [f"g{i}" for i in gen_ids],
        "finish_reason": "", "source": "imported",
    }))
    # Annotations: three per item, plus a fourth on enough items to reach the total.
    extra = max(0, n_annotations - 3 * n_items)
    per_item = np.full(n_items, 3)
    per_item[rng.choice(n_items, size=min(extra, n_items), replace=False)] += 1
    gold = rng.random(n_items) < 0.01
    strengths = np.array([MODELS[n] for n in names])
    p_first = 1 / (1 + np.exp(strengths[second] - strengths[first]))
    truth_pref = np.where(rng.random(n_items) < p_first, "a", "b")
    truth_label = rng.choice(["safe", "unsafe", "unclear"], n_items, p=[0.7, 0.25, 0.05])
    truth_fluency = rng.integers(1, 6, n_items)
    gold_answers = [
        json.dumps({"label": lab, "fluency": int(flu), "preference": {"choice": pref}}) if g else None
        for g, lab, flu, pref in zip(gold, truth_label, truth_fluency, truth_pref, strict=True)
    ]
    copy_frame(Item, pd.DataFrame({
        "id": item_ids, "project_id": pid, "prompt_id": item_ids, "kind": "pair", "priority": 0, "state": "open",
        "content_hash": [f"i{i}" for i in item_ids], "is_gold": np.where(gold, "t", "f"), "gold_answers": gold_answers,
        "required_annotations": per_item, "active_count": per_item, "annotation_count": per_item,
        "has_pii": "f", "is_harmful": "f", "metadata": "{}",
    }))
    copy_frame(ItemGeneration, pd.DataFrame({"id": gen_ids, "item_id": np.repeat(item_ids, 2), "generation_id": gen_ids,
                                             "position": np.tile([0, 1], n_items)}))
    total = int(per_item.sum())
    rows_item = np.repeat(item_ids, per_item)
    # Distinct annotators per item: a random start and stride through the pool.
    start = rng.integers(0, n_people, n_items)
    offsets = np.concatenate([np.arange(k) for k in per_item])
    people_index = (np.repeat(start, per_item) + offsets * 7) % n_people
    accuracy = rng.uniform(0.65, 0.95, n_people)
    accuracy[: max(1, n_people // 20)] = 0.3  # spammers
    correct = rng.random(total) < accuracy[people_index]
    index = rows_item - 1
    label = np.where(correct, truth_label[index], rng.choice(["safe", "unsafe", "unclear"], total))
    fluency = np.clip(truth_fluency[index] + np.where(correct, 0, rng.integers(-2, 3, total)), 1, 5)
    pref = np.where(correct, truth_pref[index], np.where(rng.random(total) < 0.6, "a", "b"))  # bias towards "a"
    pref = np.where(rng.random(total) < 0.05, "tie", pref)
    answers = ('{"label": "' + pd.Series(label) + '", "fluency": ' + pd.Series(fluency).astype(str)
               + ', "preference": {"choice": "' + pd.Series(pref) + '"}}')
    now = timezone.now()
    submitted = pd.to_datetime(now.timestamp() - rng.uniform(0, 30 * 86400, total), unit="s", utc=True)
    ids = np.arange(1, total + 1)
    copy_frame(Assignment, pd.DataFrame({
        "id": ids, "project_id": pid, "item_id": rows_item, "annotator_id": person_ids[people_index],
        "status": "submitted", "leased_at": submitted.astype(str), "expires_at": submitted.astype(str),
        "finished_at": submitted.astype(str), "is_qualification": "f", "is_gold": np.where(gold[index], "t", "f"),
    }))
    copy_frame(Annotation, pd.DataFrame({
        "id": ids, "project_id": pid, "item_id": rows_item, "annotator_id": person_ids[people_index],
        "assignment_id": ids, "answers": answers.to_numpy(), "time_spent_ms": rng.integers(2_000, 90_000, total),
        "guideline_version": 1, "idempotency_key": "", "request_fingerprint": "", "submitted_at": submitted.astype(str),
        "late": "f", "surplus": "f", "too_fast": "f",
    }))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return pid, owner.pk


def dashboard_ms(project_id: int, owner_id: int, runs: int = 7) -> tuple[float, int]:
    from django.test import Client

    from apps.accounts.models import User

    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(pk=owner_id))
    url = f"/projects/{project_id}/quality/"
    first = client.get(url)
    assert first.status_code == 200, first.status_code
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(times), len(first.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=SCALES, default="small")
    args = parser.parse_args()
    scale = SCALES[args.scale]
    with bench_database():
        from django.conf import settings

        settings.DEBUG = False  # don't keep every SQL statement in memory
        clock = time.perf_counter()
        project_id, owner_id = build(scale)
        setup_s = time.perf_counter() - clock
        print(f"inserted {scale['annotations']:,} annotations in {setup_s:.1f} s", file=sys.stderr)

        from apps.core.models import JobStatus
        from apps.quality.models import ItemAggregate
        from apps.quality.services import snapshot_recompute

        clock = time.perf_counter()
        snapshot = snapshot_recompute(project_id=project_id)
        recompute_s = time.perf_counter() - clock
        assert snapshot is not None and snapshot.status == JobStatus.SUCCEEDED, snapshot and snapshot.error
        figures = snapshot.figures
        print(f"recompute {recompute_s:.1f} s; stages {figures['timings']}", file=sys.stderr)
        ms, size = dashboard_ms(project_id, owner_id)
        board = figures["leaderboards"][0]["models"]
        result = {
            "scale": args.scale,
            "annotations": figures["annotations"],
            "items": figures["items"],
            "annotators": figures["annotators"],
            "aggregates": ItemAggregate.objects.filter(project_id=project_id).count(),
            "setup_s": round(setup_s, 1),
            "recompute_s": round(recompute_s, 2),
            "dashboard_ms": round(ms, 1),
            "dashboard_bytes": size,
            "stages_s": figures["timings"],
            "suspended": len(figures["suspended_now"]),
            "overlap_raised": figures["overlap_raised"],
            "leaderboard_order": [m["model"] for m in board],
            "position_bias_share_a": round(figures["position_bias"][0]["share_a"], 3),
            "alpha": {q["id"]: q["alpha"] for q in figures["questions"]},
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
