"""manage.py generate: start (or resume, cancel, inspect) a generation run.

    manage.py generate --project 3 --endpoint llama3 --endpoint gpt4o --samples 2 \\
        --param temperature=0.7 --param max_tokens=512 --filter source=koala,oasst --wait
    manage.py generate --project 3 --endpoint 5 --stratify-by source --sample-size 200 --inline
    manage.py generate --status 12 · --resume 12 · --cancel 12

By default the run is queued for the Celery workers; --wait follows its progress,
--inline executes it in this process (no worker needed).
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.projects.models import Project
from apps.sampling.access import endpoints_for_project
from apps.sampling.models import GenerationRun
from apps.sampling.selectors import generation_run_summary
from apps.sampling.services import runs as services


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class Command(BaseCommand):
    help = "Start, follow, resume or cancel a generation run (prompts × endpoints × samples)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", type=int, help="Project id")
        parser.add_argument("--endpoint", action="append", default=[], help="Endpoint name or id (repeatable)")
        parser.add_argument("--samples", type=int, default=1, help="Samples per prompt")
        parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                            help="Parameter override, e.g. temperature=0.7 (repeatable)")
        parser.add_argument("--filter", action="append", default=[], metavar="KEY=V1,V2",
                            help="Only prompts whose metadata KEY is one of the values")
        parser.add_argument("--stratify-by", help="Stratified sample of prompts by this metadata key")
        parser.add_argument("--sample-size", type=int, help="Prompts in the stratified sample")
        parser.add_argument("--selection-seed", type=int, default=0)
        parser.add_argument("--name", default="")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--wait", action="store_true", help="Queue, then follow progress until it finishes")
        mode.add_argument("--inline", action="store_true", help="Execute in this process")
        parser.add_argument("--status", type=int, metavar="RUN_ID", help="Print a run's summary")
        parser.add_argument("--resume", type=int, metavar="RUN_ID", help="Resume a run (retrying failures)")
        parser.add_argument("--cancel", type=int, metavar="RUN_ID", help="Cancel a run")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"] or options["resume"] or options["cancel"]:
            run_id = options["status"] or options["resume"] or options["cancel"]
            run = GenerationRun.objects.filter(pk=run_id).first()
            if run is None:
                raise CommandError(f"no generation run {run_id}")
            try:
                if options["cancel"]:
                    run = services.generation_run_cancel(run=run)
                elif options["resume"]:
                    run = services.generation_run_resume(run=run, enqueue=not options["inline"])
                    run = self._follow(run, options)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            self._print(run)
            return
        run = self._create(options)
        self.stderr.write(f"run {run.pk}: {run.total} generations {'to make' if options['inline'] else 'queued'}")
        self._print(self._follow(run, options))

    def _create(self, options: dict[str, Any]) -> GenerationRun:
        project = Project.objects.filter(pk=options["project"]).first() if options["project"] else None
        if project is None:
            raise CommandError("--project must be the id of an existing project")
        if not options["endpoint"]:
            raise CommandError("give at least one --endpoint (name or id)")
        available = endpoints_for_project(project)
        endpoint_ids = []
        for ref in options["endpoint"]:
            found = available.filter(pk=int(ref)) if ref.isdigit() else available.filter(name=ref)
            endpoint = found.first()
            if endpoint is None:
                names = ", ".join(available.values_list("name", flat=True)) or "none"
                raise CommandError(f"no endpoint {ref!r} in the project's organization (have: {names})")
            endpoint_ids.append(endpoint.pk)
        parameters = {}
        for item in options["param"]:
            key, sep, raw = item.partition("=")
            if not sep:
                raise CommandError(f"--param {item!r}: expected KEY=VALUE")
            parameters[key.strip()] = _value(raw)
        selection: dict[str, Any] = {"mode": "all"}
        filters = {}
        for item in options["filter"]:
            key, sep, raw = item.partition("=")
            if not sep:
                raise CommandError(f"--filter {item!r}: expected KEY=V1,V2")
            values = [_value(v) for v in raw.split(",")]
            filters[key.strip()] = values if len(values) > 1 else values[0]
        if filters:
            selection = {"mode": "filter", "filter": filters}
        if options["stratify_by"]:
            selection = {"mode": "stratified", "filter": filters, "stratify_by": options["stratify_by"],
                         "sample_size": options["sample_size"], "seed": options["selection_seed"]}
        try:
            return services.generation_run_create(
                project=project, user=None, endpoint_ids=endpoint_ids, prompt_selection=selection,
                parameters=parameters, samples_per_prompt=options["samples"], name=options["name"],
                enqueue=not options["inline"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {v[0]}" for k, v in exc.message_dict.items())) from None

    def _follow(self, run: GenerationRun, options: dict[str, Any]) -> GenerationRun:
        if options.get("inline"):
            return services.generation_run_execute_inline(run_id=run.pk)
        if not options.get("wait"):
            return run
        while True:
            run.refresh_from_db()
            summary = generation_run_summary(run=run)
            self.stderr.write(
                f"\r{run.status}: {summary['succeeded']} done, {summary['failed']} failed, "
                f"{summary['pending']} to go", ending=""
            )
            if run.is_finished:
                self.stderr.write("")
                return run
            time.sleep(2)

    def _print(self, run: GenerationRun) -> None:
        run.refresh_from_db()
        summary = generation_run_summary(run=run)
        summary.pop("endpoints")
        self.stdout.write(json.dumps({"run": run.pk, "status": run.status, **summary}, default=str))
