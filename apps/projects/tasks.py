"""Celery tasks of the projects app: thin wrappers over services, taking ids."""

from __future__ import annotations

from celery import shared_task

from apps.projects.services import project_purge, project_purges_resume


@shared_task(name="projects.purge_project", ignore_result=True)
def purge_project(project_id: int) -> bool:
    """Delete a project's rows in batches after a manager deleted it. Idempotent."""
    return project_purge(project_id=project_id)


@shared_task(name="projects.resume_purges", ignore_result=True)
def resume_purges() -> int:
    """Re-queue purges that stalled; celery beat runs it every few minutes."""
    project_ids = project_purges_resume()
    for project_id in project_ids:
        purge_project.delay(project_id)
    return len(project_ids)
