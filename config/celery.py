"""The Celery application; tasks live in each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("verity")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic tasks; each app adds its own entry (item assignment keeps the others).
app.conf.beat_schedule["annotations-expire-leases"] = {"task": "annotations.expire_leases", "schedule": 60.0}
app.conf.beat_schedule["items-requeue-stalled-imports"] = {"task": "items.requeue_stalled_imports", "schedule": 60.0}
app.conf.beat_schedule["quality-sweep"] = {"task": "quality.sweep", "schedule": 300.0}
app.conf.beat_schedule["sampling-requeue-stalled-runs"] = {"task": "sampling.requeue_stalled_runs", "schedule": 60.0}
app.conf.beat_schedule["sampling-top-up-queues"] = {"task": "sampling.top_up_continuous_plans", "schedule": 60.0}
app.conf.beat_schedule["privacy-requeue-stalled-scans"] = {"task": "privacy.requeue_stalled_scans", "schedule": 60.0}
app.conf.beat_schedule["projects-resume-purges"] = {"task": "projects.resume_purges", "schedule": 300.0}
