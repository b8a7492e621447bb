"""The first rows of an upload as the mapping would read them (the mapping form's preview)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from apps.items.importing.errors import FileRejected, RowRejected
from apps.items.importing.mapping import Mapping, MappingError, mapping_clean, mapping_guess
from apps.items.importing.readers import open_reader
from apps.items.importing.shapes import ParsedRow, RowParser
from apps.items.models import ImportUpload

PREVIEW_ROWS = 8
CELL_CHARS = 300


@dataclass
class PreviewRow:
    line: int
    raw: dict[str, str]
    parsed: ParsedRow | None = None
    error: str = ""


@dataclass
class Preview:
    columns: list[str] = field(default_factory=list)
    file_format: str = ""
    encoding: str = ""
    rows: list[PreviewRow] = field(default_factory=list)
    file_error: str = ""
    mapping_errors: dict[str, str] = field(default_factory=dict)
    guessed: dict[str, Any] = field(default_factory=dict)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"


def upload_preview(
    *, upload: ImportUpload, mapping: dict[str, Any] | None, questions: list[dict[str, Any]], rows: int = PREVIEW_ROWS,
    parse: bool = True,
) -> Preview:
    """Read the first rows; parse them with `mapping` (or a guess from the columns when None).

    With parse=False (a form that does not validate) the rows are shown raw.
    """
    preview = Preview()
    settings_only = mapping or {}
    try:
        with upload.file.open("rb") as fileobj:
            reader = open_reader(
                fileobj, name=upload.original_name, size=upload.size_bytes,
                file_format=settings_only.get("format") or "auto", encoding=settings_only.get("encoding") or "auto",
                delimiter=settings_only.get("delimiter") or "",
            )
            preview.columns, preview.file_format, preview.encoding = reader.columns, reader.format, reader.encoding
            preview.guessed = mapping_guess(reader.columns)
            chosen: Mapping | None = None
            try:
                if parse:
                    chosen = mapping_clean(mapping if mapping is not None else preview.guessed, questions=questions)
            except MappingError as exc:
                preview.mapping_errors = exc.errors
            parser = RowParser(chosen, columns=reader.columns, questions=questions) if chosen else None
            if chosen is not None:
                from apps.items.importing.pipeline import check_columns

                check_columns(reader, chosen)
            for raw in reader.rows():
                row = PreviewRow(raw.number, {k: _cell(v) for k, v in (raw.data or {}).items()})
                if raw.error:
                    row.error = raw.error
                elif parser is not None:
                    try:
                        row.parsed = parser.parse(raw.number, raw.data or {})
                    except RowRejected as exc:
                        row.error = exc.reason
                if len(preview.rows) >= rows:
                    break
                preview.rows.append(row)
    except FileRejected as exc:
        preview.file_error = str(exc)
    return preview
