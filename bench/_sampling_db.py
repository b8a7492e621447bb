"""A throw-away database for the sampling benchmarks (bench/generate.py, bench/sample.py).

The benchmark runs against `<DATABASE_URL's name>_bench_<name>`, created and
migrated here and dropped afterwards, so a million bench rows never land in the
database the app uses (and cleaning up is one DROP DATABASE).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit


def _admin_connection(url: str):  # type: ignore[no-untyped-def]
    import psycopg2

    parts = urlsplit(url)
    connection = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    connection.autocommit = True
    return connection


@contextlib.contextmanager
def bench_database(name: str) -> Iterator[str]:
    """Create `<db>_bench_<name>`, point DATABASE_URL at it, migrate, yield its URL, drop it."""
    base = os.environ["DATABASE_URL"]
    parts = urlsplit(base)
    database = f"{parts.path.lstrip('/')}_bench_{name}"
    url = urlunsplit(parts._replace(path="/" + database))
    admin = _admin_connection(base)
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{database}"')
    os.environ["DATABASE_URL"] = url
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield url
    finally:
        from django.db import connections

        connections.close_all()
        os.environ["DATABASE_URL"] = base
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
