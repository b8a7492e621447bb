"""Prompts, generations (model outputs) and the items annotators see."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from apps.core.models import JobStatus, TimeStampedModel

# Text search configuration of the stored vectors and of search queries.
SEARCH_CONFIG = "english"


class Prompt(models.Model):
    """A prompt: plain text, or a chat message list ([{role, content}, ...])."""

    # db_index=False here and below: composite indexes starting with the column cover it, and
    # each extra index slows bulk imports.
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="prompts", db_index=False)
    external_id = models.CharField(max_length=200, blank=True)
    # Plain-text rendering (the last user turn for chats) used for search and display.
    text = models.TextField()
    messages = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="uniq_prompt_hash")]
        indexes = [
            models.Index(fields=["project", "external_id"]),
            # Keyset walks over a project's prompts in id order (the search indexer).
            models.Index(fields=["project", "id"], name="prompt_project_id_idx"),
        ]

    def __str__(self) -> str:
        return self.text[:80]

    def as_messages(self) -> list[dict[str, str]]:
        return list(self.messages) if self.messages else [{"role": "user", "content": self.text}]


class GenerationSource(models.TextChoices):
    IMPORTED = "imported", "Imported"
    GENERATED = "generated", "Generated"


class Generation(models.Model):
    """One model output for a prompt."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="generations", db_index=False
    )
    # No database-level constraint (db_constraint=False) on the high-volume links between
    # items, generations and prompts: PostgreSQL checks a constraint row by row (a lookup and
    # a lock on the parent row), which costs bulk imports about a third of their time. These
    # rows are written only by set-based code that takes the ids from the same transaction;
    # project FKs keep their constraint, so a project deleted mid-import still rolls the batch
    # back; deletes cascade through the ORM as before.
    prompt = models.ForeignKey(
        Prompt, on_delete=models.CASCADE, related_name="generations", db_index=False, db_constraint=False
    )
    model_name = models.CharField(max_length=200)
    parameters = models.JSONField(default=dict, blank=True)
    text = models.TextField()
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=10, choices=GenerationSource.choices, default=GenerationSource.IMPORTED)
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="uniq_generation_hash")]
        indexes = [
            models.Index(fields=["project", "model_name"]),
            models.Index(fields=["prompt", "model_name"]),
            models.Index(fields=["project", "id"], name="generation_project_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name}: {self.text[:60]}"


class ItemKind(models.TextChoices):
    SINGLE = "single", "One response"
    PAIR = "pair", "Pair of responses"
    MULTI = "multi", "Several responses"


class ItemState(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"
    ARCHIVED = "archived", "Archived"


class Item(TimeStampedModel):
    """What an annotator sees: a prompt and one or more generations in a stored order.

    `required_annotations` starts at the project's count and may be raised by
    dynamic overlap (apps.quality). `active_count` is live leases plus submitted
    annotations; the assignment engine keeps it under the item's row lock.
    """

    # db_constraint=False on project too: the deferred foreign-key check fired once per row at
    # commit and cost as much as the row itself in million-item plans and imports; items are
    # only written by services that hold their project, and purges delete items first.
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False
    )
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="items", db_constraint=False)
    # No index on created_at (unlike TimeStampedModel): nothing queries items by it, and
    # each index slows bulk imports.
    created_at = models.DateTimeField(auto_now_add=True)
    generations = models.ManyToManyField(Generation, through="ItemGeneration", related_name="items")
    kind = models.CharField(max_length=10, choices=ItemKind.choices, default=ItemKind.SINGLE)
    metadata = models.JSONField(default=dict, blank=True)
    priority = models.IntegerField(default=0)
    state = models.CharField(max_length=10, choices=ItemState.choices, default=ItemState.OPEN)
    # Collation "C": the unique (project, content_hash) index compares bytes, not locale rules.
    # The hash starts with the prompt id (see apps.items.building.item_content_hash).
    content_hash = models.CharField(max_length=64, db_collation="C")
    is_gold = models.BooleanField(default=False)
    # Never shown to annotators: only researcher-facing selectors read this.
    gold_answers = models.JSONField(null=True, blank=True)
    required_annotations = models.PositiveSmallIntegerField(default=1)
    active_count = models.PositiveIntegerField(default=0)
    annotation_count = models.PositiveIntegerField(default=0)
    has_pii = models.BooleanField(default=False)
    is_harmful = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="uniq_item_hash")]
        indexes = [
            # The assignment engine's scan: open items needing work, best priority first.
            models.Index(
                fields=["project", "is_gold", "-priority", "id"],
                name="item_queue_idx",
                condition=models.Q(state="open"),
            ),
            models.Index(fields=["project", "state", "id"]),
            # The item browser pages by id (keyset) within a project.
            models.Index(fields=["project", "id"], name="item_project_id_idx"),
            # Metadata key/value filters use `metadata @> {...}`.
            GinIndex(fields=["metadata"], opclasses=["jsonb_path_ops"], name="item_metadata_idx"),
        ]

    def __str__(self) -> str:
        return f"Item {self.pk}"

    def ordered_generations(self) -> list[Generation]:
        return [link.generation for link in self.item_generations.select_related("generation").order_by("position")]


class ItemGeneration(models.Model):
    # db_constraint=False: see Generation.prompt.
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="item_generations", db_index=False, db_constraint=False
    )
    generation = models.ForeignKey(
        Generation, on_delete=models.CASCADE, related_name="item_links", db_index=False, db_constraint=False
    )
    position = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "position"], name="uniq_item_position")]
        indexes = [models.Index(fields=["generation"])]

    def __str__(self) -> str:
        return f"{self.item_id}#{self.position}"


# --- full-text search -------------------------------------------------------------


class PromptSearch(models.Model):
    """The full-text vector of a prompt.

    Filled by apps.items.search after an import rather than by an expression
    index on Prompt.text: computing vectors costs more than the rest of a
    bulk import, so imports stay fast and search catches up shortly after.
    """

    prompt = models.OneToOneField(Prompt, primary_key=True, on_delete=models.CASCADE, related_name="search_entry")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    vector = SearchVectorField()

    class Meta:
        # A plain GIN index on the vector plus a btree on project: btree_gin (one index for
        # both) is a contrib extension that the embedded PostgreSQL of `make run` lacks.
        indexes = [
            GinIndex(fields=["vector"], name="prompt_search_idx"),
            models.Index(fields=["project"], name="prompt_search_project_idx"),
        ]

    def __str__(self) -> str:
        return f"search {self.prompt_id}"


class GenerationSearch(models.Model):
    """The full-text vector of a generation (see PromptSearch)."""

    generation = models.OneToOneField(
        Generation, primary_key=True, on_delete=models.CASCADE, related_name="search_entry"
    )
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    vector = SearchVectorField()

    class Meta:
        indexes = [
            GinIndex(fields=["vector"], name="generation_search_idx"),
            models.Index(fields=["project"], name="generation_search_project_idx"),
        ]

    def __str__(self) -> str:
        return f"search {self.generation_id}"


# --- imports ---------------------------------------------------------------------


def upload_path(instance: ImportUpload, filename: str) -> str:
    return f"imports/{instance.project_id}/{instance.token}/{filename}"


class ImportUpload(models.Model):
    """An uploaded file, stored before any import job reads it."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="import_uploads")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    token = models.CharField(max_length=32, unique=True)
    file = models.FileField(upload_to=upload_path, max_length=500)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.original_name


class ImportPhase(models.TextChoices):
    READING = "reading", "Reading rows"
    BUILDING = "building", "Building items"
    DONE = "done", "Done"


class ImportJob(TimeStampedModel):
    """One run of an import. Celery carries only its id; progress and errors live here.

    `rows_read` is the resume point: the count of file rows whose effects are
    committed, updated in the same transaction as those rows' inserts. A worker
    that dies mid-batch loses only uncommitted work; the next attempt skips the
    committed rows, so counts stay exact and nothing is inserted twice.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="import_jobs")
    upload = models.ForeignKey(ImportUpload, on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    mapping = models.JSONField()
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    phase = models.CharField(max_length=10, choices=ImportPhase.choices, default=ImportPhase.READING)
    file_format = models.CharField(max_length=20, blank=True)
    encoding = models.CharField(max_length=20, blank=True)
    # Rows read (accepted + rejected) is also the resume point: see the class docstring.
    rows_read = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    prompts_created = models.BigIntegerField(default=0)
    generations_created = models.BigIntegerField(default=0)
    generations_duplicate = models.BigIntegerField(default=0)
    items_created = models.BigIntegerField(default=0)
    items_duplicate = models.BigIntegerField(default=0)
    progress = models.FloatField(default=0.0)
    # Keyset position of the item-building phase (grouped shapes with pair modes).
    build_after_prompt = models.BigIntegerField(default=0)
    # Lowest prompt / generation ids this job created: the search indexer starts there.
    first_prompt_id = models.BigIntegerField(null=True, blank=True)
    first_generation_id = models.BigIntegerField(null=True, blank=True)
    search_indexed_at = models.DateTimeField(null=True, blank=True)
    # The project's highest item id when the job first ran: the personal-data scan covers
    # the items above it (another writer's items may be scanned too; scans are idempotent).
    items_after_id = models.BigIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    errors_stored = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in JobStatus.finished()

    @property
    def progress_percent(self) -> int:
        return int(round(self.progress * 100))


class ImportRowError(models.Model):
    """A rejected row: where it is in the file and why. Capped per job (IMPORT_MAX_STORED_ERRORS)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.BigIntegerField()
    field = models.CharField(max_length=200, blank=True)
    reason = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["job", "line"])]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportJobGeneration(models.Model):
    """Which generations a job loaded, for building pairs across rows after the file is read.

    Rows of one prompt may be anywhere in the file, so pairs are built once all
    rows are in. Deleted when the job finishes.
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="+", db_index=False)
    prompt_id = models.BigIntegerField()
    generation_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "generation_id"], name="uniq_job_generation"),
        ]
        indexes = [models.Index(fields=["job", "prompt_id"], name="job_generation_prompt_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.generation_id}"
