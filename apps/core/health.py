"""Readiness checks for /healthz: database, Redis and at least one Celery worker."""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from django.db import connection


def check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True}
    except Exception as exc:  # report, don't raise: this is a health page
        return {"ok": False, "error": exc.__class__.__name__}


def check_redis() -> dict[str, Any]:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}


def check_workers(timeout: float = 1.0) -> dict[str, Any]:
    from config.celery import app

    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception as exc:
        return {"ok": False, "workers": 0, "error": exc.__class__.__name__}
    return {"ok": bool(replies), "workers": len(replies)}


def health_report() -> dict[str, Any]:
    report = {"database": check_database(), "redis": check_redis()}
    report["workers"] = check_workers() if report["redis"]["ok"] else {"ok": False, "workers": 0}
    report["ok"] = all(part["ok"] for part in report.values() if isinstance(part, dict))
    return report
