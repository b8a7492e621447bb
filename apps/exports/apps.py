from django.apps import AppConfig

# Periodic work of this app, merged into Celery beat's schedule when Django starts, so the
# shared settings module needs no per-app entries.
BEAT_SCHEDULE = {
    "exports-expire": {"task": "exports.expire", "schedule": 3600.0},
    "exports-requeue-stalled": {"task": "exports.requeue_stalled", "schedule": 300.0},
}


class ExportsConfig(AppConfig):
    name = "apps.exports"
    label = "exports"

    def ready(self) -> None:
        from config.celery import app

        app.conf.beat_schedule = {**BEAT_SCHEDULE, **(app.conf.beat_schedule or {})}
