"""Benchmark: 50 simulated annotators looping next → submit over HTTP against gunicorn.

    python bench/annotate.py --scale small   # 1k- and 10k-item projects, 15 s each
    python bench/annotate.py --scale full    # 10k- and 1M-item projects, 60 s each

Builds a throw-away database next to DATABASE_URL's (`<name>_bench_annotate`), fills
one project per size with pairwise items (two responses each, 3 annotations per item,
a pairwise and a rating question) straight in SQL, starts gunicorn on a free port and
runs one thread per annotator, each with its own keep-alive HTTP connection and API
token: POST /api/v1/projects/{id}/next/ then POST /api/v1/assignments/{id}/submit/.
Afterwards it checks DESIGN.md invariant 1 in the database (duplicates must be 0),
times the workspace page in-process, and measures the JavaScript the page ships.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

SCALES = {"small": {"sizes": [1_000, 10_000], "seconds": 15}, "full": {"sizes": [10_000, 1_000_000], "seconds": 60}}
ANNOTATORS = 50
QUESTIONS = [
    {"id": "preference", "type": "pairwise", "prompt": "Which response is better?"},
    {"id": "overall", "type": "rating", "prompt": "Overall quality of the better one", "min": 1, "max": 5},
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- database --------------------------------------------------------------------------


def prepare_environment() -> tuple[str, str]:
    """A fresh database, production-like settings; returns (admin url, bench database name)."""
    base = os.environ["DATABASE_URL"]
    parts = urlsplit(base)
    database = f"{parts.path.lstrip('/')}_bench_annotate"
    os.environ.update(
        {
            "DATABASE_URL": urlunsplit(parts._replace(path="/" + database)),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",  # no query log, compiled templates: as deployed
            "SECRET_KEY": os.environ.get("SECRET_KEY", "") + secrets.token_urlsafe(48),
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "ANNOTATION_RATE_LIMIT": "1000000/min",
            "LOG_LEVEL": "WARNING",
        }
    )
    import psycopg2

    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{database}"')
    admin.close()
    return urlunsplit(parts._replace(path="/postgres")), database


def drop_database(admin_url: str, database: str) -> None:
    import psycopg2
    from django.db import connections

    connections.close_all()
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    admin.close()


def insert_select(model, exprs: dict[str, str], source: str, params: list) -> None:  # type: ignore[no-untyped-def]
    """INSERT INTO <model> SELECT … FROM <source>: `exprs` gives SQL for some fields (no
    placeholders: they would interleave with the defaults'), every other field takes its
    Python default, so columns other apps add keep working. `params` fill `source`."""
    from django.db import connection

    columns, values, defaults = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.name in exprs:
            values.append(exprs[field.name])
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values.append("now()")
        else:
            values.append("%s")
            defaults.append(field.get_db_prep_save(field.get_default(), connection))
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, defaults + params)


def build_project(organization, size: int):  # type: ignore[no-untyped-def]
    from django.db import connection, transaction

    from apps.items.models import Generation, Item, ItemGeneration, Prompt
    from apps.projects.models import GuidelineVersion, Project
    from apps.projects.schema import validate_schema

    started = time.monotonic()
    project = Project.objects.create(
        organization=organization,
        name=f"Bench {size}",
        questions=validate_schema(QUESTIONS),
        annotations_per_item=3,
        min_annotations=3,
        max_annotations=3,
    )
    GuidelineVersion.objects.create(project=project, version=1, text="Pick the better response.")
    pid = project.pk
    with transaction.atomic():
        insert_select(
            Prompt,
            {
                "project": str(int(pid)),
                "text": "'Prompt ' || g || ': explain why the sky looks blue in **two** sentences.'",
                "content_hash": "md5('p-' || g)",
            },
            "generate_series(1, %s) AS g",
            [size],
        )
        insert_select(
            Generation,
            {
                "project": "p.project_id",
                "prompt": "p.id",
                "model_name": "'model-' || m.k",
                "text": "'Response ' || m.k || ' to prompt ' || p.id || E'.\\n\\n- Rayleigh scattering\\n- `code`'",
                "content_hash": "md5('g-' || p.id || '-' || m.k)",
            },
            f"{Prompt._meta.db_table} p CROSS JOIN (VALUES ('a'), ('b')) AS m(k) WHERE p.project_id = %s",
            [pid],
        )
        insert_select(
            Item,
            {
                "project": "p.project_id",
                "prompt": "p.id",
                "kind": "'pair'",
                "content_hash": "md5('i-' || p.id)",
                "required_annotations": "3",
            },
            f"{Prompt._meta.db_table} p WHERE p.project_id = %s",
            [pid],
        )
        insert_select(
            ItemGeneration,
            {"item": "i.id", "generation": "g.id", "position": "CASE WHEN g.model_name = 'model-a' THEN 0 ELSE 1 END"},
            f"{Item._meta.db_table} i JOIN {Generation._meta.db_table} g ON g.prompt_id = i.prompt_id WHERE i.project_id = %s",
            [pid],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(f"built {size} items in {time.monotonic() - started:.1f}s")
    return project


def make_annotators(project, count: int) -> list[tuple[object, str]]:  # type: ignore[no-untyped-def]
    from apps.accounts.models import ApiToken, ProjectMembership, ProjectRole, User, hash_secret

    people = []
    for n in range(count):
        user = User.objects.create(username=f"bench-{project.pk}-{n}")
        ProjectMembership.objects.create(project=project, user=user, role=ProjectRole.ANNOTATOR, guidelines_seen_version=1)
        raw = secrets.token_urlsafe(32)
        ApiToken.objects.create(user=user, name="bench", key_hash=hash_secret(raw), prefix=raw[:8])
        people.append((user, raw))
    return people


# --- load --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:  # type: ignore[type-arg]
    workers = os.environ.get("BENCH_GUNICORN_WORKERS", "4")
    threads = os.environ.get("BENCH_GUNICORN_THREADS", "4")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", workers, "--threads", threads, "--worker-class", "gthread",
            "--log-level", "warning", "--keep-alive", "30",
        ],
        cwd=BASE_DIR,
        env=dict(os.environ),
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def annotator_loop(port: int, token: str, project_id: int, stop_at: float, out: dict) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"}
    rng = random.Random(token)

    def call(method: str, path: str, body: dict | None = None) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, data, (time.perf_counter() - started) * 1000

    while time.monotonic() < stop_at:
        status, data, elapsed = call("POST", f"/api/v1/projects/{project_id}/next/")
        out["next"].append(elapsed)
        if status == 204:
            out["empty"] += 1
            time.sleep(0.05)
            continue
        if status != 200:
            out["errors"].append(f"next {status} {data[:200]!r}")
            time.sleep(0.05)
            continue
        lease = json.loads(data)
        answers = {"preference": {"choice": rng.choice("ab")}, "overall": rng.randint(1, 5)}
        status, data, elapsed = call(
            "POST", lease["assignment"]["urls"]["submit"], {"answers": answers, "time_spent_ms": 4000}
        )
        out["submit"].append(elapsed)
        if status == 201:
            out["submitted"] += 1
        else:
            out["errors"].append(f"submit {status} {data[:200]!r}")
    connection.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def run_load(project, people, seconds: int) -> dict:  # type: ignore[no-untyped-def]
    port = free_port()
    server = start_gunicorn(port)
    results = [{"next": [], "submit": [], "submitted": 0, "empty": 0, "errors": []} for _ in people]
    try:
        # Warm up every worker (imports, URL resolvers, connections) before timing.
        warm = [threading.Thread(target=annotator_loop, args=(port, token, project.pk, time.monotonic() + 2, dict(results[i], next=[], submit=[], errors=[])))
                for i, (_, token) in enumerate(people[:8])]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()
        stop_at = time.monotonic() + seconds
        started = time.monotonic()
        threads = [
            threading.Thread(target=annotator_loop, args=(port, token, project.pk, stop_at, results[i]))
            for i, (_, token) in enumerate(people)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        os.killpg(server.pid, 15)
        server.wait(20)
    next_ms = [v for r in results for v in r["next"]]
    submit_ms = [v for r in results for v in r["submit"]]
    submitted = sum(r["submitted"] for r in results)
    errors = [e for r in results for e in r["errors"]]
    if errors:
        log(f"{len(errors)} errors, first: {errors[:3]}")
    return {
        "next_p50_ms": percentile(next_ms, 0.50),
        "next_p95_ms": percentile(next_ms, 0.95),
        "next_p99_ms": percentile(next_ms, 0.99),
        "submit_p50_ms": percentile(submit_ms, 0.50),
        "submit_p95_ms": percentile(submit_ms, 0.95),
        "submit_p99_ms": percentile(submit_ms, 0.99),
        "submissions": submitted,
        "submissions_per_s": round(submitted / elapsed, 1),
        "errors": len(errors),
    }


def count_duplicates(project) -> int:  # type: ignore[no-untyped-def]
    """Violations of invariant 1: an annotator twice on an item, or an item over its count."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              (SELECT count(*) FROM (SELECT item_id, annotator_id FROM annotations_annotation
                 WHERE project_id = %(p)s GROUP BY 1, 2 HAVING count(*) > 1) AS twice)
            + (SELECT count(*) FROM items_item i WHERE i.project_id = %(p)s AND (
                 SELECT count(*) FROM annotations_annotation a WHERE a.item_id = i.id AND NOT a.surplus)
               + (SELECT count(*) FROM annotations_assignment s WHERE s.item_id = i.id AND s.status = 'live')
               > i.required_annotations)
            + (SELECT count(*) FROM items_item i WHERE i.project_id = %(p)s AND i.active_count <> (
                 SELECT count(*) FROM annotations_annotation a WHERE a.item_id = i.id AND NOT a.surplus)
               + (SELECT count(*) FROM annotations_assignment s WHERE s.item_id = i.id AND s.status = 'live'))
            """,
            {"p": project.pk},
        )
        return int(cursor.fetchone()[0])


def workspace_render_ms(project, user) -> float:  # type: ignore[no-untyped-def]
    from django.conf import settings
    from django.test import override_settings

    # No collectstatic here: plain static storage instead of the manifest (same cost class).
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=storages):
        return _time_workspace(project, user)


def _time_workspace(project, user) -> float:  # type: ignore[no-untyped-def]
    from django.test import Client

    client = Client()
    client.force_login(user)
    url = f"/projects/{project.pk}/annotate/"
    assert client.get(url).status_code == 200
    timings = []
    for _ in range(30):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and b'id="ws-item"' in response.content
    return round(statistics.median(timings), 2)


def javascript_shipped() -> dict[str, float]:
    files = [BASE_DIR / "static/js" / name for name in ("htmx.min.js", "verity.js", "workspace.js")]
    raw = sum(path.stat().st_size for path in files)
    compressed = sum(len(gzip.compress(path.read_bytes(), 9)) for path in files)
    workspace = (BASE_DIR / "static/js/workspace.js").read_bytes()
    return {
        "js_kb": round(raw / 1024, 1),
        "js_gzip_kb": round(compressed / 1024, 1),
        "workspace_js_gzip_kb": round(len(gzip.compress(workspace, 9)) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    scale = SCALES[args.scale]
    admin_url, database = prepare_environment()
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from apps.accounts.models import Organization

        organization = Organization.objects.create(name="Bench", slug="bench")
        by_size = {}
        for size in scale["sizes"]:
            project = build_project(organization, size)
            people = make_annotators(project, ANNOTATORS)
            figures = run_load(project, people, scale["seconds"])
            figures["duplicates"] = count_duplicates(project)
            figures["workspace_render_ms"] = workspace_render_ms(project, people[0][0])
            log(f"{size} items: {figures}")
            by_size[size] = figures
        largest = by_size[scale["sizes"][-1]]
        smallest = by_size[scale["sizes"][0]]
        result = {
            "benchmark": "annotate",
            "scale": args.scale,
            "items": scale["sizes"][-1],
            "annotators": ANNOTATORS,
            "seconds": scale["seconds"],
            **{k: largest[k] for k in ("next_p50_ms", "next_p95_ms", "next_p99_ms", "submit_p50_ms", "submit_p95_ms", "submit_p99_ms")},
            "submissions_per_s": largest["submissions_per_s"],
            "duplicates": sum(f["duplicates"] for f in by_size.values()),
            "errors": sum(f["errors"] for f in by_size.values()),
            f"next_p99_ms_at_{scale['sizes'][0]}": smallest["next_p99_ms"],
            f"submit_p99_ms_at_{scale['sizes'][0]}": smallest["submit_p99_ms"],
            f"submissions_per_s_at_{scale['sizes'][0]}": smallest["submissions_per_s"],
            "workspace_render_ms": largest["workspace_render_ms"],
            **javascript_shipped(),
            "by_size": {str(k): v for k, v in by_size.items()},
        }
    finally:
        if not args.keep:
            drop_database(admin_url, database)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
