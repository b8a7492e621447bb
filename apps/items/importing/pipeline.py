"""Run one ImportJob: read the file in batches, write each batch in one transaction.

A reading thread parses and formats batches; this thread stores each one: prompts
and generations are COPYed into staging tables and moved with `INSERT … SELECT …
ON CONFLICT DO NOTHING` (see writers; no per-row ORM save), then items, then the
row errors and the job's counters and resume point — all in one transaction. A
worker killed mid-batch loses that batch only; the next attempt skips the rows
already counted.

Shapes whose rows of one prompt may be anywhere in the file (rows, messages)
with pair modes record (prompt, generation) per job, and build pairs once all
rows are in, prompt by prompt in keyset order.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from apps.core.models import JobStatus
from apps.items.building import ItemRow, item_rows_insert, plan_item_groups
from apps.items.importing import writers
from apps.items.importing.errors import FileRejected, RowRejected
from apps.items.importing.gold import gold_resolve
from apps.items.importing.mapping import Mapping, mapping_clean
from apps.items.importing.parquet import ParquetReader
from apps.items.importing.readers import SourceReader, open_reader
from apps.items.importing.shapes import ParsedRow, RowParser
from apps.items.importing.writers import Prepared, batch_prepare
from apps.items.models import (
    Generation,
    ImportJob,
    ImportJobGeneration,
    ImportPhase,
    ImportRowError,
)

BATCH_ROWS = 2000
BUILD_PROMPTS = 2000
MAX_STORED_ERRORS = 10_000
EARLY_ABORT_ROWS = 1000


class JobStopped(Exception):
    """The job was cancelled (or finished elsewhere) while this worker ran it."""


@dataclass
class Batch:
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    consumed: int = 0
    prepared: Prepared | None = None


def check_columns(reader: SourceReader, mapping: Mapping) -> None:
    """Mapped columns must exist (CSV and Parquet declare theirs) and hold flat values."""
    if reader.format == "jsonl":
        return
    missing = sorted(c for c in mapping.used_columns() if c not in reader.columns)
    if missing:
        raise FileRejected(
            f"Mapped column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
            f"{'are' if len(missing) > 1 else 'is'} not in the file; its columns are: {', '.join(reader.columns)}."
        )
    if isinstance(reader, ParquetReader):
        # Lists are fine where the mapping expects one (messages, a list of responses), objects
        # where it expects an object; every other mapped column must hold flat values.
        lists = {mapping["messages"], mapping["prompt"]}
        if isinstance(mapping["responses"], str):
            lists.add(mapping["responses"])
        objects = {mapping["gold_answers"], mapping["parameters"]}
        for column in sorted(mapping.used_columns()):
            if not reader.is_nested(column):
                continue
            if (column in lists and reader.is_list(column)) or column in objects:
                continue
            raise FileRejected(
                f"Column '{column}' is a nested Parquet column ({reader.column_type(column)}); "
                "it is mapped to a text field, which needs a string column."
            )


class ImportRun:
    """State of one attempt at one job. Call `execute()` holding the job's advisory lock."""

    def __init__(self, job: ImportJob, *, on_progress: Callable[[ImportJob], None] | None = None):
        self.job = job
        self.on_progress = on_progress
        self.project = job.project
        self.questions = list(self.project.questions or [])
        self.mapping = mapping_clean(job.mapping, questions=self.questions)
        self.reject_reasons: Counter[str] = Counter()
        # One item per generation without per-row gold answers: PostgreSQL builds the items
        # itself (no ids back to Python). Other cases plan items in Python, per row.
        self.sql_items = self.mapping.item_mode == "each" and not self.mapping["gold_answers"] and (
            self.mapping.shape in ("rows", "messages")
        )

    # --- entry point ---

    def execute(self) -> None:
        job = self.job
        upload = job.upload
        with upload.file.open("rb") as fileobj:
            reader = open_reader(
                fileobj,
                name=upload.original_name,
                size=upload.size_bytes,
                file_format=self.mapping["format"],
                encoding=self.mapping["encoding"],
                delimiter=self.mapping["delimiter"],
            )
            check_columns(reader, self.mapping)
            ImportJob.objects.filter(pk=job.pk).update(file_format=reader.format, encoding=reader.encoding)
            if job.phase == ImportPhase.READING:
                self._read(reader)
        if self.mapping.grouped:
            self._build()
        self._check_anything_loaded(final=True)

    # --- reading ---

    def _read(self, reader: SourceReader) -> None:
        """Parse in a second thread while this one writes: psycopg2 releases the GIL while
        PostgreSQL works, so parsing the next batch overlaps with storing the last one."""
        parser = RowParser(self.mapping, columns=reader.columns, questions=self.questions)
        handoff: queue.Queue[tuple[Batch, float, bool] | BaseException] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def put(item: tuple[Batch, float, bool] | BaseException) -> None:
            while not stop.is_set():
                try:
                    handoff.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def produce() -> None:
            try:
                batch = Batch()
                for raw in reader.rows(skip=self.job.rows_read):
                    if stop.is_set():
                        return
                    batch.consumed += 1
                    if raw.error is not None:
                        batch.errors.append((raw.number, raw.field, raw.error))
                    else:
                        try:
                            batch.rows.append(parser.parse(raw.number, raw.data or {}))
                        except RowRejected as exc:
                            batch.errors.append((raw.number, exc.field, exc.reason))
                    if batch.consumed >= BATCH_ROWS:
                        put((self._prepare(batch), reader.progress(), False))
                        batch = Batch()
                put((self._prepare(batch), 1.0, True))
            except FileRejected as exc:  # e.g. a truncated archive: keep the rows read before it
                if batch.consumed:
                    put((self._prepare(batch), reader.progress(), False))
                put(exc)
            except BaseException as exc:  # handed to the writing thread, which fails the job
                put(exc)

        producer = threading.Thread(target=produce, name=f"import-{self.job.pk}-reader", daemon=True)
        producer.start()
        try:
            while True:
                item = handoff.get()
                if isinstance(item, BaseException):
                    raise item
                batch, progress, last = item
                self._commit(batch, progress=progress, last=last)
                if last:
                    break
        finally:
            stop.set()
            producer.join(timeout=30)
        if self.job.rows_read == 0:
            raise FileRejected("The file has no data rows.")

    def _prepare(self, batch: Batch) -> Batch:
        batch.prepared = batch_prepare(batch.rows, single_items=self.sql_items, priority=self.mapping["priority"])
        return batch

    def _progress(self, reading: float) -> float:
        return reading * (0.8 if self.mapping.grouped else 1.0)

    def _commit(self, batch: Batch, *, progress: float, last: bool = False) -> None:
        counts = Counter[str]()
        firsts: dict[str, int] = {}
        with transaction.atomic():
            _relax_commit()
            if batch.rows:
                prepared = batch.prepared or batch_prepare(batch.rows, single_items=self.sql_items,
                                                           priority=self.mapping["priority"])
                new_prompts = writers.prompts_write(self.project.pk, prepared)
                new_generations = writers.generations_write(self.project.pk, prepared)
                counts["prompts_created"] = len(new_prompts)
                counts["generations_created"] = len(new_generations)
                counts["generations_duplicate"] = prepared.generations_total - len(new_generations)
                if new_prompts:
                    firsts["first_prompt_id"] = min(new_prompts)
                if new_generations:
                    firsts["first_generation_id"] = min(new_generations)
                if self.sql_items:
                    created = writers.single_items_write(self.project, prepared)
                    duplicates = prepared.generations_total - created
                elif self.mapping.grouped:
                    writers.staging_write(self.job.pk, self.project.pk)
                    created = duplicates = 0
                else:
                    created, duplicates = self._items_for_batch(batch.rows, writers.generation_ids(self.project.pk))
                counts["items_created"], counts["items_duplicate"] = created, duplicates
            stored = self._store_errors(batch.errors)
            counts["rows_read"] = batch.consumed
            counts["rows_rejected"] = len(batch.errors)
            counts["errors_stored"] = stored
            self._update_job(
                counts, progress=self._progress(progress), least=firsts,
                phase=ImportPhase.BUILDING if last and self.mapping.grouped else None,
            )
        self._report()
        for _, _, reason in batch.errors:
            kind = _reason_kind(reason)
            if len(self.reject_reasons) < 100 or kind in self.reject_reasons:
                self.reject_reasons[kind] += 1
        self._check_anything_loaded(final=False)

    def _items_for_batch(self, rows: list[ParsedRow], ids: dict[str, tuple[int, int]]) -> tuple[int, int]:
        """Items planned in Python, per row: several responses per row, preference pairs, gold answers."""
        mapping = self.mapping
        item_rows: list[ItemRow] = []
        priority = mapping["priority"]
        for row in rows:
            prompt_id = ids[row.generations[0].content_hash][1]
            position_to_id = {i + 1: ids[g.content_hash][0] for i, g in enumerate(row.generations)}
            if mapping.item_mode == "each":
                for index, generation in enumerate(row.generations):
                    gid = position_to_id[index + 1]
                    gold = row.gold_answers and gold_resolve(
                        row.gold_answers, self.questions, position_to_id=position_to_id, display_ids=(gid,)
                    )
                    if row.preferred is None and not row.item_metadata:
                        # Rows shapes: the item carries its generation's metadata (already serialised).
                        item_rows.append(ItemRow(prompt_id, (gid,), generation.metadata, priority, row.is_gold, gold,
                                                 metadata_json=generation.metadata_json()))
                        continue
                    metadata = dict(row.item_metadata or generation.metadata)
                    if row.preferred is not None:
                        metadata["reference_label"] = "preferred" if index == row.preferred else "not_preferred"
                    item_rows.append(ItemRow(prompt_id, (gid,), metadata, priority, row.is_gold, gold))
                continue
            candidates = {prompt_id: [(position_to_id[i + 1], g.model_name) for i, g in enumerate(row.generations)]}
            for _, display in plan_item_groups(candidates, mode=mapping.item_mode, k=mapping["k"], seed=mapping["seed"]):
                metadata = dict(row.item_metadata)
                is_gold, gold = row.is_gold, gold_resolve(row.gold_answers, self.questions,
                                                          position_to_id=position_to_id, display_ids=display)
                if row.preferred is not None:
                    preferred_id = position_to_id[row.preferred + 1]
                    if preferred_id in display:
                        metadata["reference_preference"] = {"preferred_generation_id": preferred_id}
                        question = mapping["preference_gold_question"]
                        if question:
                            is_gold = True
                            gold = {**(gold or {}), question: {"choice": "a" if display[0] == preferred_id else "b"}}
                item_rows.append(ItemRow(prompt_id, display, metadata, priority, is_gold, gold))
        return item_rows_insert(project=self.project, rows=item_rows)

    def _store_errors(self, errors: Sequence[tuple[int, str, str]]) -> int:
        room = MAX_STORED_ERRORS - self.job.errors_stored
        kept = list(errors[: max(room, 0)])
        if kept:
            ImportRowError.objects.bulk_create(
                [ImportRowError(job_id=self.job.pk, line=line, field=name[:200], reason=reason) for line, name, reason in kept]
            )
        return len(kept)

    def _update_job(
        self, counts: Counter[str], *, progress: float, phase: str | None = None,
        extra: dict[str, Any] | None = None, least: dict[str, int] | None = None,
    ) -> None:
        """Add counts and move the resume point; the caller's transaction makes it atomic with the rows."""
        assignments = [f"{name} = {name} + %s" for name in counts]
        params: list[Any] = list(counts.values())
        for name, value in (least or {}).items():
            assignments.append(f"{name} = LEAST(COALESCE({name}, %s), %s)")
            params += [value, value]
        assignments += ["progress = %s", "heartbeat_at = now()", "updated_at = now()"]
        params.append(progress)
        if phase:
            assignments.append("phase = %s")
            params.append(phase)
        for name, value in (extra or {}).items():
            assignments.append(f"{name} = %s")
            params.append(value)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ImportJob._meta.db_table} SET {', '.join(assignments)} WHERE id = %s AND status = %s "
                "RETURNING rows_read, errors_stored, phase",
                [*params, self.job.pk, JobStatus.RUNNING],
            )
            row = cursor.fetchone()
        if row is None:
            raise JobStopped()  # rolls back this batch: a cancelled job writes nothing more
        self.job.rows_read, self.job.errors_stored, self.job.phase = row
        self.job.progress = progress
        for name, value in counts.items():
            if name not in ("rows_read", "errors_stored"):
                setattr(self.job, name, getattr(self.job, name) + value)

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.job)

    def _check_anything_loaded(self, *, final: bool) -> None:
        job = self.job
        accepted = job.rows_read - job.rows_rejected
        if accepted > 0 or (not final and job.rows_read < EARLY_ABORT_ROWS):
            return
        if job.rows_read == 0:
            return
        common = ", ".join(f"{reason} ({count})" for reason, count in self.reject_reasons.most_common(3))
        first = "All" if final else f"The first {job.rows_read:,}"
        raise FileRejected(
            f"{first} rows were rejected, so the import stopped. Most common reasons: {common or 'see the row errors'}. "
            "Check the column mapping and the file."
        )

    # --- building pairs across rows ---

    def _build(self) -> None:
        mapping = self.mapping
        staging = ImportJobGeneration._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(DISTINCT prompt_id) FROM {staging} WHERE job_id = %s", [self.job.pk])
            remaining_total = cursor.fetchone()[0]
            cursor.execute(
                f"SELECT count(DISTINCT prompt_id) FROM {staging} WHERE job_id = %s AND prompt_id <= %s",
                [self.job.pk, self.job.build_after_prompt],
            )
            done = cursor.fetchone()[0]
        after = self.job.build_after_prompt
        while True:
            with transaction.atomic():
                _relax_commit()
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT DISTINCT prompt_id FROM {staging} WHERE job_id = %s AND prompt_id > %s "
                        "ORDER BY prompt_id LIMIT %s",
                        [self.job.pk, after, BUILD_PROMPTS],
                    )
                    prompt_ids = [r[0] for r in cursor.fetchall()]
                    if not prompt_ids:
                        break
                    cursor.execute(  # LATERAL … LIMIT 1: a primary-key probe per row, never a scan
                        f"SELECT s.prompt_id, g.id, g.model_name, g.metadata FROM {staging} s "
                        f"CROSS JOIN LATERAL (SELECT id, model_name, metadata FROM {Generation._meta.db_table} "
                        "WHERE id = s.generation_id LIMIT 1) g "
                        "WHERE s.job_id = %s AND s.prompt_id = ANY(%s)",
                        [self.job.pk, prompt_ids],
                    )
                    by_prompt: dict[int, list[tuple[int, str]]] = {}
                    metadata_of: dict[int, dict[str, Any]] = {}
                    for prompt_id, gid, model_name, metadata in cursor.fetchall():
                        by_prompt.setdefault(prompt_id, []).append((gid, model_name))
                        metadata_of[gid] = json.loads(metadata) if isinstance(metadata, str) else (metadata or {})
                groups = plan_item_groups(by_prompt, mode=mapping.item_mode, k=mapping["k"], seed=mapping["seed"])
                rows = [
                    ItemRow(prompt_id, display, _shared_metadata([metadata_of[g] for g in display]), mapping["priority"])
                    for prompt_id, display in groups
                ]
                created, duplicates = item_rows_insert(project=self.project, rows=rows)
                after = prompt_ids[-1]
                done += len(prompt_ids)
                self._update_job(
                    Counter({"items_created": created, "items_duplicate": duplicates}),
                    progress=0.8 + 0.2 * done / max(remaining_total, 1),
                    extra={"build_after_prompt": after},
                )
            self._report()


def _relax_commit() -> None:
    """Skip the WAL flush wait for this batch: if the server crashes right after, the batch
    and its resume point are lost together and the retry redoes it, so nothing is duplicated."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


def _shared_metadata(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Metadata every generation of an item agrees on (e.g. the prompt's source set)."""
    if not items:
        return {}
    first, *rest = items
    return {k: v for k, v in first.items() if all(k in other and other[k] == v for other in rest)}


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0][:80]


def staging_clear(job_id: int) -> None:
    # Raw SQL: an ORM delete would load every row to look for cascades.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ImportJobGeneration._meta.db_table} WHERE job_id = %s", [job_id])
