"""Read JSONL, CSV (optionally gzip-compressed) and Parquet files row by row, in flat memory.

Formats are detected from the content (gzip and Parquet magic bytes, first
character), falling back to the file name. Text encodings: UTF-8 (with or
without BOM), UTF-16/32 (BOM or NUL-byte pattern) are read as they are; a
file that is not UTF-8 and looks like Latin-1/cp1252 is rejected with the
encoding to choose, unless the mapping names an encoding explicitly.

Every yielded RawRow carries its 1-based line number (row number for Parquet)
so errors point at the place in the file.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
from django.conf import settings

from apps.items.importing.errors import FileRejected, human_bytes

SAMPLE_BYTES = 64 * 1024
FORMATS = ("jsonl", "csv", "parquet")
ENCODINGS = ("auto", "utf-8", "utf-16", "utf-32", "latin-1", "cp1252")


@dataclass
class RawRow:
    number: int
    data: dict[str, Any] | None
    error: str | None = None
    field: str = ""
    last: bool = False  # the final line of a text file without a trailing newline


def line_limit() -> int:
    """Longest physical line read into memory: several fields at the field limit, plus slack."""
    return 8 * settings.MAX_FIELD_BYTES + 64 * 1024


def _base_name(name: str) -> str:
    lowered = name.lower()
    return lowered[:-3] if lowered.endswith(".gz") else lowered


def detect_format(head: bytes, name: str) -> str:
    if head.startswith(b"PAR1"):
        return "parquet"
    base = _base_name(name)
    if base.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if base.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if base.endswith(".parquet"):
        return "parquet"
    stripped = head.lstrip(codecs.BOM_UTF8).lstrip()
    if stripped.startswith(b"{") or stripped.startswith(b"\xff\xfe{") or b"{\x00" in stripped[:8]:
        return "jsonl"
    return "csv"


def detect_encoding(sample: bytes, requested: str = "auto") -> str:
    """The encoding to read with, or FileRejected saying what the file looks like."""
    if requested and requested != "auto":
        return requested
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = sample[:4096]
    if head and head.count(0) > len(head) // 4:
        # UTF-16 without a BOM: ASCII text leaves every other byte NUL.
        even_zeros = head[0::2].count(0)
        odd_zeros = head[1::2].count(0)
        return "utf-16-be" if even_zeros > odd_zeros else "utf-16-le"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)  # a multi-byte character cut by the sample end is fine
        return "utf-8"
    except UnicodeDecodeError as exc:
        problem = exc
    # UTF-8 with a few damaged bytes (valid multi-byte characters elsewhere, or one bad line
    # among many): read as UTF-8 and reject just those rows, naming line and byte.
    recovered = sample.decode("utf-8", errors="replace")
    if any(ord(ch) > 127 and ch != "\ufffd" for ch in recovered):
        return "utf-8"
    lines = recovered.split("\n")
    if len(lines) >= 20 and sum("\ufffd" in line for line in lines) == 1:
        return "utf-8"
    line = sample[: problem.start].count(b"\n") + 1
    column = problem.start - (sample.rfind(b"\n", 0, problem.start) + 1) + 1
    guess = _guess_encoding(sample)
    raise FileRejected(
        f"The file is not UTF-8: line {line} has byte 0x{sample[problem.start]:02X} at byte {column}. "
        f"It looks like {guess}. Save it as UTF-8, or choose the encoding "
        f"'{'cp1252' if guess.lower() in ('cp1252', 'windows-1252') else 'latin-1'}' in the mapping."
    )


def _guess_encoding(sample: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    name = best.encoding if best else "latin_1"
    return {"latin_1": "Latin-1 (ISO-8859-1)", "cp1252": "Windows-1252 (cp1252)"}.get(name, name)


class SourceReader:
    """Rows of one uploaded file. Call rows(skip=n) to resume after n already-handled rows."""

    format = ""

    def __init__(self, fileobj: IO[bytes], *, name: str, size: int, encoding: str = "auto", delimiter: str = ""):
        self.fileobj = fileobj
        self.name = name
        self.size = max(size, 1)
        self.requested_encoding = encoding or "auto"
        self.delimiter = delimiter
        self.encoding = ""
        self.compressed = False
        self.columns: list[str] = []

    def progress(self) -> float:
        try:
            return min(self.fileobj.tell() / self.size, 1.0)
        except (OSError, ValueError):
            return 0.0

    def rows(self, skip: int = 0) -> Iterator[RawRow]:
        raise NotImplementedError


class TextReader(SourceReader):
    """Shared plumbing of JSONL and CSV: decompression, encoding, bounded line reading."""

    def _binary_stream(self) -> IO[bytes]:
        self.fileobj.seek(0)
        if self.compressed:
            return gzip.GzipFile(fileobj=self.fileobj, mode="rb")  # type: ignore[return-value]
        return self.fileobj

    def prepare(self) -> None:
        self.fileobj.seek(0)
        self.compressed = self.fileobj.read(2) == b"\x1f\x8b"
        stream = self._binary_stream()
        try:
            sample = stream.read(SAMPLE_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRejected(f"The gzip data is damaged: {exc}.") from None
        if not sample:
            raise FileRejected("The file is empty.")
        self.encoding = detect_encoding(sample, self.requested_encoding)
        text = sample.decode(self.encoding.replace("-sig", ""), errors="ignore")
        if not text.strip(" \t\r\n\ufeff\x00"):
            raise FileRejected("The file has no data rows (only blank lines).")

    def _lines(self) -> Iterator[tuple[int, bytes | str, bool, bool]]:
        """(line number, content without line ending, oversize?, last-without-newline?)."""
        stream = self._binary_stream()
        limit = line_limit()
        reader: Any
        if self.encoding.replace("-sig", "") in ("utf-8",):
            reader = stream
            text = False
        else:
            reader = io.TextIOWrapper(stream, encoding=self.encoding, errors="strict", newline="")
            text = True
        number = 0
        try:
            while True:
                line = reader.readline(limit)
                if not line:
                    return
                number += 1
                newline = "\n" if text else b"\n"
                oversize = len(line) >= limit and not line.endswith(newline)
                if oversize:
                    while True:  # discard the rest of the line without holding it
                        rest = reader.readline(limit)
                        if not rest or rest.endswith(newline):
                            break
                ends = line.endswith(newline)
                if number == 1 and not text and line.startswith(codecs.BOM_UTF8):
                    line = line[3:]
                yield number, line.rstrip(b"\r\n" if not text else "\r\n"), oversize, not ends
        except EOFError:
            raise FileRejected(
                f"The gzip file is truncated after line {number}: rows before it were read, the rest is missing."
            ) from None
        except (OSError, zlib.error) as exc:
            raise FileRejected(f"The compressed data is damaged after line {number}: {exc}.") from None
        except UnicodeDecodeError as exc:
            raise FileRejected(
                f"The file is not valid {self.encoding} after line {number}: {exc.reason}."
            ) from None
        finally:
            if text:
                reader.detach()  # closing the wrapper would close the stored file under it

    def _head_lines(self, count: int) -> Iterator[tuple[int, str, bool, bool]]:
        """The first non-blank lines as text, for column discovery (damaged bytes replaced)."""
        found = 0
        lines = self._lines()
        try:
            for number, line, oversize, last in lines:
                text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
                if not text.strip():
                    continue
                yield number, text.lstrip("\ufeff"), oversize, last
                found += 1
                if found >= count:
                    return
        except FileRejected:
            return
        finally:
            lines.close()

    def oversize_message(self) -> str:
        return (
            f"the line is longer than {human_bytes(line_limit())}; a field may be at most "
            f"{human_bytes(settings.MAX_FIELD_BYTES)} (MAX_FIELD_BYTES)"
        )


class JsonlReader(TextReader):
    format = "jsonl"

    def prepare(self) -> None:
        super().prepare()
        keys: dict[str, None] = {}
        for _, raw, oversize, _ in self._head_lines(50):
            try:
                value = json.loads(raw) if not oversize else None
            except ValueError:
                continue
            if isinstance(value, dict):
                keys.update(dict.fromkeys(value))
        self.columns = list(keys)

    def rows(self, skip: int = 0) -> Iterator[RawRow]:
        seen = 0
        for number, line, oversize, last in self._lines():
            if not line.strip():
                continue
            seen += 1
            if seen <= skip:
                continue
            if oversize:
                yield RawRow(number, None, self.oversize_message())
                continue
            if isinstance(line, bytes):
                try:
                    line = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield RawRow(number, None, f"invalid UTF-8: byte 0x{line[exc.start]:02X} at byte {exc.start + 1}")
                    continue
            try:
                # orjson also rejects lone surrogates (\ud800 escapes), which PostgreSQL cannot store.
                value = orjson.loads(line)
            except ValueError as exc:
                hint = " (the last line looks truncated)" if last else ""
                message = getattr(exc, "msg", str(exc))
                column = getattr(exc, "colno", None)
                where = f" at column {column}" if column else ""
                yield RawRow(number, None, f"invalid JSON: {message}{where}{hint}", last=last)
                continue
            if not isinstance(value, dict):
                yield RawRow(number, None, f"expected a JSON object, got {type(value).__name__}")
                continue
            yield RawRow(number, value, last=last)


class CsvReader(TextReader):
    format = "csv"

    def prepare(self) -> None:
        super().prepare()
        first = next((line for _, line, _, _ in self._head_lines(1)), "")
        if not self.delimiter:
            if _base_name(self.name).endswith(".tsv"):
                self.delimiter = "\t"
            else:
                self.delimiter = max([",", "\t", ";", "|"], key=first.count)
        header = next(csv.reader([first], delimiter=self.delimiter), [])
        self.columns = [column.strip() for column in header]
        if not any(self.columns):
            raise FileRejected("The CSV file has no header row: the first line must name the columns.")
        duplicates = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if duplicates:
            raise FileRejected(f"The CSV header repeats column names: {', '.join(duplicates)}.")

    def rows(self, skip: int = 0) -> Iterator[RawRow]:
        csv.field_size_limit(line_limit())
        pending: list[RawRow] = []
        state = {"line": 0}

        def decoded_lines() -> Iterator[str]:
            for number, line, oversize, _last in self._lines():
                state["line"] = number
                if oversize:
                    pending.append(RawRow(number, None, self.oversize_message()))
                    yield "\n"
                    continue
                if isinstance(line, bytes):
                    # Damaged bytes survive as lone surrogates; the row is rejected below, naming the byte.
                    line = line.decode("utf-8", errors="surrogateescape")
                yield line + "\n"

        lines = decoded_lines()
        reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
        seen = 0
        header_done = False
        while True:
            start = state["line"] + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                seen += 1
                if seen > skip:
                    yield RawRow(start, None, f"malformed CSV: {exc}")
                reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
                continue
            if pending:
                seen += 1
                failed = pending.pop()
                if seen > skip:
                    yield failed
                continue
            if not header_done:
                header_done = True
                continue
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            seen += 1
            if seen <= skip:
                continue
            if len(record) != len(self.columns):
                yield RawRow(
                    start, None, f"the row has {len(record)} fields; the header has {len(self.columns)}"
                )
                continue
            bad = _first_surrogate(record)
            if bad is not None:
                index, byte = bad
                yield RawRow(
                    start, None, f"invalid UTF-8: byte 0x{byte:02X} in column '{self.columns[index]}'",
                    field=self.columns[index],
                )
                continue
            yield RawRow(start, dict(zip(self.columns, record, strict=True)))


def _first_surrogate(record: list[str]) -> tuple[int, int] | None:
    for index, value in enumerate(record):
        if value.isascii():
            continue
        for ch in value:
            if "\udc80" <= ch <= "\udcff":
                return index, ord(ch) - 0xDC00
    return None


def open_reader(
    fileobj: IO[bytes], *, name: str, size: int, file_format: str = "auto", encoding: str = "auto", delimiter: str = ""
) -> SourceReader:
    """Detect the format, check the encoding and header, and return a ready reader."""
    fileobj.seek(0)
    head = fileobj.read(SAMPLE_BYTES)
    if not head:
        raise FileRejected("The file is empty.")
    if head[:2] == b"\x1f\x8b":
        try:
            inner = gzip.GzipFile(fileobj=io.BytesIO(head)).read1(4096)  # type: ignore[attr-defined]
        except (OSError, EOFError, zlib.error):
            inner = b""
        detected = "parquet" if inner.startswith(b"PAR1") else detect_format(inner, name)
    else:
        detected = detect_format(head, name)
    chosen = detected if file_format in ("", "auto") else file_format
    if chosen not in FORMATS:
        raise FileRejected(f"Unknown format '{file_format}'; expected one of {', '.join(FORMATS)}.")
    from apps.items.importing.parquet import ParquetReader  # it builds on this module

    reader_class = {"jsonl": JsonlReader, "csv": CsvReader, "parquet": ParquetReader}[chosen]
    reader = reader_class(fileobj, name=name, size=size, encoding=encoding, delimiter=delimiter)
    reader.prepare()  # type: ignore[attr-defined]
    return reader
