"""Celery tasks of the items app: thin wrappers taking ids (see services)."""

from __future__ import annotations

from celery import shared_task

from apps.items import services


@shared_task(name="items.import_job_run", ignore_result=True, acks_late=True)
def import_job_run_task(job_id: int) -> str:
    """Run or resume an import job. Idempotent: a finished or locked job returns at once."""
    return services.import_job_run(job_id=job_id)


@shared_task(name="items.requeue_stalled_imports", ignore_result=True)
def requeue_stalled_imports() -> int:
    """Re-queue imports whose worker died; celery beat runs it every minute."""
    return len(services.import_jobs_requeue_stalled())


@shared_task(name="items.import_job_search_index", ignore_result=True, acks_late=True)
def import_job_search_index_task(job_id: int) -> int:
    """Compute full-text vectors for what an import created (after it finished)."""
    return services.import_job_search_index(job_id=job_id)


@shared_task(name="items.search_index", ignore_result=True, acks_late=True)
def search_index_task(project_id: int, after_prompt_id: int = 0, after_generation_id: int = 0) -> int:
    """Compute missing full-text vectors of a project (for generations made outside imports)."""
    from apps.items.search import search_index_pending

    return search_index_pending(
        project_id=project_id, after_prompt_id=after_prompt_id, after_generation_id=after_generation_id
    )
