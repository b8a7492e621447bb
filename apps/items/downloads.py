"""The row-error report of an import, streamed as CSV or JSONL (it can hold many rows)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from django.http import StreamingHttpResponse

from apps.items.models import ImportJob
from apps.items.selectors import import_errors

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; the text comes from uploaded files."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_lines(job: ImportJob) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["line", "field", "reason"])
    for error in import_errors(job):
        writer.writerow([error.line, _cell(error.field), _cell(error.reason)])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _jsonl_lines(job: ImportJob) -> Iterator[str]:
    for error in import_errors(job):
        yield json.dumps({"line": error.line, "field": error.field, "reason": error.reason}, ensure_ascii=False) + "\n"


def errors_response(job: ImportJob, kind: str) -> StreamingHttpResponse:
    if kind == "jsonl":
        response = StreamingHttpResponse(_jsonl_lines(job), content_type="application/x-ndjson; charset=utf-8")
    else:
        response = StreamingHttpResponse(_csv_lines(job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.{kind}"'
    return response
