"""Writes for projects: create, edit settings, questions and guidelines, archive, delete.

Callers authorize first (apps.projects.access); these functions enforce the
business rules. Every function runs in a transaction and validates before saving.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organization
from apps.audit.services import audit_record
from apps.projects.builtin_templates import template_get
from apps.projects.models import GuidelineVersion, Project
from apps.projects.schema import validate_schema

# What a manager may change through the settings form or PATCH.
SETTINGS_FIELDS: tuple[str, ...] = (
    "annotations_per_item",
    "min_annotations",
    "max_annotations",
    "confidence_threshold",
    "lease_minutes",
    "gold_ratio",
    "per_annotator_cap",
    "blind_mode",
    "min_seconds_per_item",
    "pii_policy",
    "content_warning",
    "allow_harmful_opt_out",
    "harmful_exposure_cap",
    "dataset_license",
)
EDITABLE_FIELDS: tuple[str, ...] = ("name", "description", *SETTINGS_FIELDS)


def _check_settings(project: Project) -> None:
    """Field validators plus the rules that tie settings together."""
    errors: dict[str, list[str]] = {}
    try:
        project.full_clean(exclude=["organization", "created_by", "questions"], validate_unique=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not (project.name or "").strip() and "name" not in errors:
        errors.setdefault("name", []).append("A project needs a name.")
    low, per_item, high = project.min_annotations, project.annotations_per_item, project.max_annotations
    if all(isinstance(v, int) for v in (low, per_item, high)) and not errors.keys() & {
        "min_annotations", "max_annotations", "annotations_per_item"
    }:
        if low > high:
            errors.setdefault("min_annotations", []).append(
                f"Minimum annotations ({low}) is larger than the maximum ({high})."
            )
        elif not low <= per_item <= high:
            errors.setdefault("annotations_per_item", []).append(
                f"Annotations per item ({per_item}) must lie between the minimum ({low}) and maximum ({high})."
            )
    if project.per_annotator_cap == 0:
        errors.setdefault("per_annotator_cap", []).append("Leave empty for no cap, or allow at least 1 item.")
    if errors:
        raise ValidationError(errors)


def _add_guideline_version(*, project: Project, user, text: str) -> GuidelineVersion:  # type: ignore[no-untyped-def]
    latest = project.guideline_versions.order_by("-version").values_list("version", flat=True).first() or 0
    return GuidelineVersion.objects.create(project=project, version=latest + 1, text=text, created_by=user)


@transaction.atomic
def project_create(
    *,
    user,  # type: ignore[no-untyped-def]
    organization: Organization,
    name: str,
    description: str = "",
    template: str = "",
    questions: list[dict[str, Any]] | None = None,
    guidelines: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Project:
    """Create a project from a built-in template, explicit questions, or both.

    Explicit questions override the template's; the template still supplies
    guidelines and settings defaults. Guidelines start at version 1.
    Raises ValidationError (keyed by field) or SchemaError (for questions).
    The caller must be an admin or researcher of `organization`.
    """
    spec = template_get(template) if template else None
    if template and spec is None:
        raise ValidationError({"template": [f"Unknown template '{template}'."]})
    if questions is None:
        if spec is None:
            raise ValidationError({"questions": ["Choose a template or write the questions."]})
        questions = spec["questions"]
    normalised = validate_schema(questions)
    values = {**(spec["settings"] if spec else {}), **(settings or {})}
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({field: ["Not a project setting."] for field in sorted(unknown)})
    project = Project(
        organization=organization,
        name=(name or "").strip(),
        description=description or "",
        template=template or "",
        questions=normalised,
        created_by=user,
        **values,
    )
    _check_settings(project)
    project.save()
    text = guidelines if guidelines is not None else (spec["guidelines"] if spec else "")
    _add_guideline_version(project=project, user=user, text=text)
    audit_record(actor=user, action="project.created", target=project, project=project,
                 detail={"template": template or ""})
    return project


@transaction.atomic
def project_update(*, project: Project, user, changes: dict[str, Any]) -> Project:  # type: ignore[no-untyped-def]
    """Change name, description and settings. Validates the result as a whole."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({field: ["This field cannot be changed here."] for field in sorted(unknown)})
    for field, value in changes.items():
        setattr(project, field, value.strip() if field == "name" and isinstance(value, str) else value)
    _check_settings(project)
    project.save(update_fields=[*changes, "updated_at"])
    audit_record(actor=user, action="project.settings_changed", target=project, project=project,
                 detail={"fields": sorted(changes)})
    return project


@transaction.atomic
def project_questions_set(*, project: Project, user, questions: Any) -> Project:  # type: ignore[no-untyped-def]
    """Replace the question schema. Raises SchemaError naming each question and field."""
    project.questions = validate_schema(questions)
    project.save(update_fields=["questions", "updated_at"])
    audit_record(actor=user, action="project.schema_changed", target=project, project=project,
                 detail={"questions": [question.get("id") for question in project.questions]})
    return project


@transaction.atomic
def guidelines_update(*, project: Project, user, text: str) -> GuidelineVersion | None:  # type: ignore[no-untyped-def]
    """Store `text` as a new guideline version; None when it equals the current text.

    Locks the project row so two concurrent edits get consecutive version numbers
    instead of colliding on the (project, version) constraint.
    """
    Project.objects.select_for_update().filter(pk=project.pk).first()
    text = (text or "").replace("\r\n", "\n")
    if len(text) > 100_000:
        raise ValidationError({"guidelines": ["Guidelines are limited to 100,000 characters."]})
    current = project.guideline_versions.order_by("-version").first()
    if current is not None and current.text == text:
        return None
    version = _add_guideline_version(project=project, user=user, text=text)
    Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())
    audit_record(actor=user, action="project.guidelines_changed", target=project, project=project,
                 detail={"version": version.version})
    return version


@transaction.atomic
def project_archive(*, project: Project, user) -> Project:  # type: ignore[no-untyped-def]
    """Hide the project from lists and stop handing out its items; nothing is deleted."""
    if project.archived_at is None:
        project.archived_at = timezone.now()
        project.save(update_fields=["archived_at", "updated_at"])
        audit_record(actor=user, action="project.archived", target=project, project=project)
    return project


@transaction.atomic
def project_unarchive(*, project: Project, user) -> Project:  # type: ignore[no-untyped-def]
    if project.archived_at is not None:
        project.archived_at = None
        project.save(update_fields=["archived_at", "updated_at"])
        audit_record(actor=user, action="project.unarchived", target=project, project=project)
    return project


@transaction.atomic
def project_delete(*, project: Project, user, confirm_name: str) -> None:  # type: ignore[no-untyped-def]
    """Delete the project and everything in it. `confirm_name` must repeat its name exactly.

    The project disappears at once (the access helpers treat it as gone) and is archived so
    nothing hands out its items; the rows go in a Celery task, in batches, because a large
    project has far more rows than one request should touch.
    """
    if (confirm_name or "").strip() != project.name.strip():
        raise ValidationError({"confirm_name": ["Type the project name exactly to confirm deletion."]})
    now = timezone.now()
    Project.objects.filter(pk=project.pk).update(
        deletion_requested_at=now, archived_at=project.archived_at or now, updated_at=now
    )
    # The project row is purged later: the event keeps its name and the organization, not a link to it.
    audit_record(actor=user, action="project.deleted", target=project, organization=project.organization_id,
                 detail={"name": project.name})
    from apps.projects.tasks import purge_project

    project_id = project.pk
    transaction.on_commit(lambda: purge_project.delay(project_id))


PURGE_BATCH = 500


def project_purge(*, project_id: int, batch: int = PURGE_BATCH) -> bool:
    """Remove a project whose deletion was requested, a batch of items at a time.

    Idempotent and resumable: each batch commits on its own, so a worker that dies
    part-way leaves a smaller project for the next run. Returns False when there was
    nothing to purge (already gone, or deletion never requested).
    """
    from apps.items.models import Generation, Item, Prompt

    if not Project.objects.filter(pk=project_id, deletion_requested_at__isnull=False).exists():
        return False
    # Items first: each cascades to its assignments, annotations, flags and reviews.
    for model in (Item, Generation, Prompt):
        while True:
            with transaction.atomic():
                pks = list(model.objects.filter(project_id=project_id).order_by().values_list("pk", flat=True)[:batch])
                if not pks:
                    break
                model.objects.filter(pk__in=pks).delete()
    with transaction.atomic():
        Project.objects.filter(pk=project_id, deletion_requested_at__isnull=False).delete()
    return True


def project_purges_resume(*, older_than_minutes: int = 10) -> list[int]:
    """Ids of projects still waiting for their purge (a lost message or a dead worker)."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    return list(Project.objects.filter(deletion_requested_at__lt=cutoff).values_list("pk", flat=True))
