"""manage.py export_dataset: the same export as the page and the API, from the command line.

    manage.py export_dataset 12 --kind preference --format hf --option test_fraction=0.1 \
        --option margin=true --output ./my-dataset

Runs in this process by default (no worker needed) and records an ExportJob like any other
export; --queue hands it to Celery instead and prints the job id.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.models import JobStatus
from apps.exports.models import ExportFormat, ExportJob, ExportKind
from apps.exports.options import ExportOptionsError
from apps.exports.services import export_create, export_open_file, export_run
from apps.projects.models import Project


class Command(BaseCommand):
    help = "Build a dataset from a project's labels (see the export options in the README)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_id", type=int)
        parser.add_argument("--kind", required=True, choices=ExportKind.values)
        parser.add_argument("--format", default=ExportFormat.JSONL, choices=ExportFormat.values)
        parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                            help="an export option; repeat for several (lists: comma-separated)")
        parser.add_argument("--output", type=Path, help="copy the dataset folder here (created if missing)")
        parser.add_argument("--user", help="username recorded as the export's author")
        parser.add_argument("--queue", action="store_true", help="run on a Celery worker instead of here")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.select_related("organization").filter(pk=opts["project_id"]).first()
        if project is None:
            raise CommandError(f"No project with id {opts['project_id']}")
        raw: dict[str, str] = {}
        for pair in opts["option"]:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise CommandError(f"--option {pair!r}: write KEY=VALUE, e.g. --option test_fraction=0.1")
            raw[key.strip()] = value
        user = None
        if opts["user"]:
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"No user named {opts['user']!r}")
        try:
            job = export_create(project=project, user=user, kind=opts["kind"], fmt=opts["format"], raw_options=raw,
                                enqueue=opts["queue"])
        except ExportOptionsError as exc:
            raise CommandError("invalid options: " + "; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
        if opts["queue"]:
            self.stdout.write(f"Export {job.pk} queued; follow it at /api/v1/exports/{job.pk}/")
            return
        export_run(job_id=job.pk)
        job = ExportJob.objects.get(pk=job.pk)
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Export {job.pk} {job.status}: {job.error}")
        counts = ", ".join(f"{split} {n}" for split, n in job.split_counts.items())
        self.stdout.write(f"Export {job.pk}: {job.record_count} records ({counts}) in {job.stats.get('seconds')} s")
        if opts["output"]:
            target: Path = opts["output"]
            for entry in job.files:
                destination = target / entry["name"]
                destination.parent.mkdir(parents=True, exist_ok=True)
                source, _, _ = export_open_file(job=job, name=entry["name"])
                with source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
            self.stdout.write(f"Wrote {len(job.files)} files to {target}")
        else:
            self.stdout.write(f"Archive in storage: {job.archive_name}")
