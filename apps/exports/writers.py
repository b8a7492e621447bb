"""File writers (JSONL, Parquet, CSV) and the by-prompt train/test split.

Every writer takes rows one at a time and holds at most one small batch in memory:
JSONL and CSV write through a buffered file, Parquet appends record batches to a
`pyarrow.parquet.ParquetWriter` (one row group per batch) against the kind's schema.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from apps.exports.models import ExportFormat

# One row group per batch; 1000 rows of LLM text keep the writer's buffers near 60-100 MB.
PARQUET_BATCH_ROWS = 1000
JSONL_BLOCK_BYTES = 1 << 20
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class Writer(Protocol):
    rows: int

    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def json_line(row: dict[str, Any]) -> str:
    return orjson.dumps(row).decode()


class JsonlWriter:
    """orjson: compact UTF-8 JSON, ~10x faster than the standard library on long texts.

    Lines are collected into blocks of about a megabyte, hashed and written a block at a time:
    hashing (over 2 KB) and writing release the GIL, and per line that handed it to the prefetch
    thread, and waited to get it back, hundreds of thousands of times in a large export.
    """

    def __init__(self, path: Path, schema: pa.Schema, block_bytes: int = JSONL_BLOCK_BYTES):
        # Blocks larger than the buffer go straight to the file (BufferedWriter retries short writes).
        self.file = open(path, "wb")  # noqa: SIM115
        self.rows = 0
        # Hashed as written: a JSONL file can be a gigabyte, reading it again costs seconds.
        self.sha256 = hashlib.sha256()
        self.block_bytes = block_bytes
        self.lines: list[bytes] = []
        self.pending = 0

    def write(self, row: dict[str, Any]) -> None:
        line = orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
        self.lines.append(line)
        self.pending += len(line)
        self.rows += 1
        if self.pending >= self.block_bytes:
            self._flush()

    def _flush(self) -> None:
        if self.lines:
            block = b"".join(self.lines)
            self.sha256.update(block)
            self.file.write(block)
            self.lines = []
            self.pending = 0

    def close(self) -> None:
        self._flush()
        self.file.close()


class ParquetWriter:
    """A batch of rows becomes one Arrow column per field, each built from a list: ~30x faster
    than `RecordBatch.from_pylist` on dicts."""

    def __init__(self, path: Path, schema: pa.Schema, batch_rows: int = PARQUET_BATCH_ROWS):
        self.schema = schema
        self.batch_rows = batch_rows
        self.writer = pq.ParquetWriter(str(path), schema, compression="zstd")
        self.batch: list[dict[str, Any]] = []
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self.batch.append(row)
        self.rows += 1
        if len(self.batch) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self.batch:
            batch = self.batch
            arrays = [pa.array([row.get(field.name) for row in batch], type=field.type) for field in self.schema]
            self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
            self.batch = []

    def close(self) -> None:
        self._flush()
        self.writer.close()


def neutralise_cell(value: str) -> str:
    """Spreadsheet formula injection: a cell starting with = + - @ (or tab/CR) is prefixed with '."""
    if value.startswith(_CSV_TRIGGERS) or value.lstrip(" ").startswith(_CSV_TRIGGERS[:4]):
        return "'" + value
    return value


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | dict):
        # Nested values (message lists, spans) as JSON; JSON starts with [ or { and needs no neutralising.
        return json.dumps(value, ensure_ascii=False)
    return neutralise_cell(str(value))


class CsvWriter:
    def __init__(self, path: Path, schema: pa.Schema):
        self.file = open(path, "w", encoding="utf-8", newline="", buffering=1 << 20)  # noqa: SIM115
        self.names = schema.names
        self.writer = csv.writer(self.file)
        self.writer.writerow(self.names)
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self.writer.writerow([csv_cell(row.get(name)) for name in self.names])
        self.rows += 1

    def close(self) -> None:
        self.file.close()


def data_file_name(fmt: str, split: str) -> str:
    if fmt == ExportFormat.HF:
        return f"data/{split}-00000-of-00001.parquet"
    return f"{split}.{ {'jsonl': 'jsonl', 'parquet': 'parquet', 'csv': 'csv'}[fmt] }"


def open_writer(fmt: str, path: Path, schema: pa.Schema) -> Writer:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ExportFormat.JSONL:
        return JsonlWriter(path, schema)
    if fmt == ExportFormat.CSV:
        return CsvWriter(path, schema)
    return ParquetWriter(path, schema)


def split_for(prompt_hash: str, *, seed: int, test_fraction: float) -> str:
    """Deterministic by (seed, prompt): every record of a prompt lands in the same split."""
    if test_fraction <= 0:
        return "train"
    digest = hashlib.sha256(f"{seed}:{prompt_hash}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


class SplitWriters:
    """One writer per split, opened on first use (the train file always exists, even if empty)."""

    def __init__(self, directory: Path, fmt: str, schema: pa.Schema):
        self.directory = directory
        self.fmt = fmt
        self.schema = schema
        self.writers: dict[str, Writer] = {}
        self.get("train")

    def get(self, split: str) -> Writer:
        writer = self.writers.get(split)
        if writer is None:
            writer = open_writer(self.fmt, self.directory / data_file_name(self.fmt, split), self.schema)
            self.writers[split] = writer
        return writer

    def close(self) -> dict[str, int]:
        for writer in self.writers.values():
            writer.close()
        return {split: writer.rows for split, writer in self.writers.items()}

    def digests(self) -> dict[str, str]:
        """SHA-256 of the files hashed while written, by file name."""
        return {data_file_name(self.fmt, split): writer.sha256.hexdigest()
                for split, writer in self.writers.items() if getattr(writer, "sha256", None) is not None}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
