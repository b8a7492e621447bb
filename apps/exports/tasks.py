"""Celery entry points for exports: thin wrappers that take ids and call services."""

from __future__ import annotations

from config.celery import app


@app.task(name="exports.run", acks_late=True)
def export_run_task(job_id: int) -> None:
    from apps.exports.services import export_run

    export_run(job_id=job_id)


@app.task(name="exports.expire")
def exports_expire_task() -> int:
    from apps.exports.services import exports_expire

    return exports_expire()


@app.task(name="exports.requeue_stalled")
def exports_requeue_stalled_task() -> list[int]:
    from apps.exports.services import exports_requeue_stalled

    return exports_requeue_stalled()
