"""manage.py sample: preview or run a sampling plan (turn generations into queue items).

    manage.py sample --project 3 --strategy k_pairs --k 2 --seed 7 --preview
    manage.py sample --project 3 --strategy stratified --strata source,model --budget 500
    manage.py sample --project 3 --strategy adaptive --budget 200 --name arena
    manage.py sample --plan 4 [--limit 100] [--queue]

Runs in this process unless --queue hands the work to the Celery workers.
Prints one JSON object.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.projects.models import Project
from apps.sampling.models import PlanTrigger, SamplingPlan
from apps.sampling.services import plans as services


class Command(BaseCommand):
    help = "Preview or run a sampling plan: each, all_pairs, k_pairs, adaptive or stratified."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--plan", type=int, help="Run an existing plan by id")
        parser.add_argument("--project", type=int, help="Project id (for a new plan)")
        parser.add_argument("--strategy", help="each, all_pairs, k_pairs, adaptive or stratified")
        parser.add_argument("--name", help="Name of the new plan (default: the strategy)")
        parser.add_argument("--k", type=int, help="Pairs per prompt (k_pairs)")
        parser.add_argument("--budget", type=int, help="Items to plan (adaptive, stratified; a cap otherwise)")
        parser.add_argument("--strata", help="Comma-separated: model, length_bucket, generation_source, metadata keys")
        parser.add_argument("--models", help="Comma-separated model names to use")
        parser.add_argument("--generation-source", choices=["imported", "generated"])
        parser.add_argument("--generation-run", type=int, help="Only generations of this run")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--priority", type=int, default=0)
        parser.add_argument("--no-gold", action="store_true", help="Do not mix in gold items")
        parser.add_argument("--limit", type=int, help="At most this many new items in this run")
        parser.add_argument("--preview", action="store_true", help="Print the counts; write nothing")
        parser.add_argument("--queue", action="store_true", help="Queue for the Celery workers instead")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["plan"]:
                plan = SamplingPlan.objects.select_related("project").filter(pk=options["plan"]).first()
                if plan is None:
                    raise CommandError(f"no sampling plan {options['plan']}")
                if options["preview"]:
                    self._out(services.sampling_plan_preview(
                        project=plan.project, strategy=plan.strategy, config=plan.config, seed=plan.seed,
                        limit=options["limit"],
                    ))
                    return
            else:
                project = Project.objects.filter(pk=options["project"]).first() if options["project"] else None
                if project is None:
                    raise CommandError("give --plan, or --project with --strategy")
                if not options["strategy"]:
                    raise CommandError("--strategy is required for a new plan")
                config = self._config(options)
                if options["preview"]:
                    self._out(services.sampling_plan_preview(
                        project=project, strategy=options["strategy"], config=config, seed=options["seed"],
                        limit=options["limit"],
                    ))
                    return
                plan = services.sampling_plan_create(project=project, user=None, data={
                    "name": options["name"] or options["strategy"], "strategy": options["strategy"],
                    "config": config, "seed": options["seed"], "priority": options["priority"],
                    "mix_gold": not options["no_gold"],
                })
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {v[0]}" for k, v in exc.message_dict.items())) from None
        execution = services.plan_execution_start(
            plan=plan, user=None, trigger=PlanTrigger.COMMAND, limit=options["limit"], enqueue=options["queue"]
        )
        if options["queue"]:
            self._out({"plan": plan.pk, "execution": execution.pk, "status": execution.status})
            return
        execution = services.plan_execution_run(execution_id=execution.pk)
        self._out({
            "plan": plan.pk, "execution": execution.pk, "status": execution.status, "planned": execution.planned,
            "created": execution.created, "duplicates": execution.duplicates, "gold_mixed": execution.gold_mixed,
            "breakdown": execution.breakdown, "error": execution.error,
        })
        if execution.status != "succeeded":
            raise CommandError(execution.error or "the plan failed")

    @staticmethod
    def _config(options: dict[str, Any]) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for key in ("k", "budget", "generation_source", "generation_run"):
            if options.get(key) is not None:
                config[key] = options[key]
        for key in ("strata", "models"):
            if options.get(key):
                config[key] = [part.strip() for part in options[key].split(",") if part.strip()]
        return config

    def _out(self, data: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(data, default=str))
