"""Recompute a project's quality figures now, in this process (the same work as the Celery task)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.core.models import JobStatus
from apps.projects.models import Project
from apps.quality.services import snapshot_recompute


class Command(BaseCommand):
    help = "Recompute agreement, aggregates, annotator scores and leaderboards of one project."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("project_id", type=int)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        project_id = options["project_id"]
        if not Project.objects.filter(pk=project_id).exists():
            raise CommandError(f"There is no project {project_id}.")
        snapshot = snapshot_recompute(project_id=project_id)
        if snapshot is None:
            raise CommandError("Another recompute of this project is running; try again when it finishes.")
        if snapshot.status != JobStatus.SUCCEEDED:
            raise CommandError(f"The recompute failed: {snapshot.error}")
        figures = snapshot.figures
        self.stdout.write(
            f"Project {project_id}: {figures['annotations']} annotations ({figures['excluded_annotations']} set aside), "
            f"{figures['items_annotated']} items aggregated, {figures['overlap_raised']} items got one more annotation, "
            f"{len(figures['suspended_now'])} annotators suspended, in {snapshot.duration_ms} ms."
        )
        for question in figures["questions"]:
            alpha = "—" if question["alpha"] is None else f"{question['alpha']:.3f}"
            self.stdout.write(f"  {question['id']}: α={alpha} ({question['level'] or 'n/a'}), method {question['method']}")
