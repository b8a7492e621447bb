"""Import a file of prompts and model outputs into a project, in this process, with progress.

    manage.py import_items 12 outputs.jsonl.gz --mapping '{"shape": "rows", "prompt": "prompt", ...}'
    manage.py import_items 12 hh.jsonl.gz --shape preference --chosen chosen --rejected rejected --item-mode all_pairs

Flags set single mapping keys and override --mapping; with neither, the mapping is
guessed from the column names (the guess is printed). The same pipeline as uploads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.items.importing.errors import FileRejected
from apps.items.importing.mapping import COLUMN_FIELDS, MappingError, mapping_guess
from apps.items.importing.readers import open_reader
from apps.items.models import ImportJob
from apps.items.services import import_local_file
from apps.projects.models import Project

FLAG_KEYS = (*COLUMN_FIELDS, "shape", "model_name", "item_mode", "k", "seed", "encoding", "format",
             "preference_gold_question")


class Command(BaseCommand):
    help = "Import a JSONL/CSV/Parquet file of prompts and model outputs into a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_id", type=int)
        parser.add_argument("path", type=Path)
        parser.add_argument("--mapping", help="The mapping as a JSON object.")
        for key in FLAG_KEYS:
            parser.add_argument(f"--{key.replace('_', '-')}", dest=f"flag_{key}",
                                type=int if key in ("k", "seed") else str)
        parser.add_argument("--responses", dest="flag_responses", help="Comma-separated response columns.")
        parser.add_argument("--response-models", dest="flag_response_models", help="Comma-separated model names.")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(pk=options["project_id"]).first()
        if project is None:
            raise CommandError(f"No project with id {options['project_id']}.")
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        mapping = self._mapping(options, path)
        self.stdout.write(f"Mapping: {json.dumps(mapping)}")

        def report(job: ImportJob) -> None:
            self.stdout.write(
                f"\r{job.progress_percent:3d}%  rows {job.rows_read:,}  rejected {job.rows_rejected:,}  "
                f"items {job.items_created:,}  duplicates {job.items_duplicate:,}", ending=""
            )
            self.stdout.flush()

        try:
            job = import_local_file(project=project, user=None, path=path, mapping=mapping, on_progress=report)
        except MappingError as exc:
            raise CommandError(f"Bad mapping: {exc}") from None
        self.stdout.write("")
        self.stdout.write(
            f"Import #{job.pk} {job.status}: {job.rows_read:,} rows read, {job.rows_rejected:,} rejected, "
            f"{job.prompts_created:,} prompts and {job.generations_created:,} responses created, "
            f"{job.items_created:,} items created, {job.items_duplicate:,} duplicates skipped."
        )
        for error in job.row_errors.order_by("line")[:20]:
            self.stdout.write(f"  line {error.line}: {error.reason}")
        if job.rows_rejected > 20:
            self.stdout.write(f"  … and {job.rows_rejected - 20:,} more rejected rows (see /imports/{job.pk}/).")
        if job.error_message:
            raise CommandError(job.error_message)

    def _mapping(self, options: dict[str, Any], path: Path) -> dict[str, Any]:
        mapping: dict[str, Any] | None = None
        if options.get("mapping"):
            try:
                mapping = json.loads(options["mapping"])
            except ValueError as exc:
                raise CommandError(f"--mapping is not JSON: {exc}") from None
            if not isinstance(mapping, dict):
                raise CommandError("--mapping must be a JSON object")
        flags = {k[5:]: v for k, v in options.items() if k.startswith("flag_") and v is not None}
        for key in ("responses", "response_models"):
            if key in flags:
                flags[key] = [part.strip() for part in flags[key].split(",") if part.strip()]
        if mapping is None and not {"shape", "prompt", "chosen", "messages"} & set(flags):
            mapping = self._guess(path)
        return {**(mapping or {}), **flags}

    def _guess(self, path: Path) -> dict[str, Any]:
        try:
            with path.open("rb") as handle:
                reader = open_reader(handle, name=path.name, size=path.stat().st_size)
        except FileRejected as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Columns: {', '.join(reader.columns)}", self.style.NOTICE)
        sys.stdout.flush()
        return mapping_guess(reader.columns)
