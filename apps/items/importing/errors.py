"""Errors the import pipeline reports: about the whole file, or about one row."""

from __future__ import annotations


class FileRejected(Exception):
    """The file as a whole cannot be imported (empty, unknown encoding, missing columns...)."""


class RowRejected(Exception):
    """One row cannot be imported; the message names the field and what was expected."""

    def __init__(self, reason: str, *, field: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.field = field


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size):,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} bytes"
