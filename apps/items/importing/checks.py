"""Checks every stored value passes: size limit, no NUL characters (PostgreSQL cannot store them)."""

from __future__ import annotations

import json
from typing import Any

from apps.items.importing.errors import RowRejected, human_bytes

# settings.MAX_FIELD_BYTES, read once per import (set_field_limit): the lazy settings
# object costs more than the check itself when called for every field of a million rows.
_field_limit = 1024**2


def set_field_limit(limit: int) -> None:
    global _field_limit
    _field_limit = limit


def check_text(value: str, name: str) -> str:
    limit = _field_limit
    if len(value) * 4 > limit and len(value.encode("utf-8", "surrogatepass")) > limit:
        size = len(value.encode("utf-8", "surrogatepass"))  # surrogatepass: sizes even of invalid text
        raise RowRejected(
            f"'{name}' is {human_bytes(size)}; a field may be at most {human_bytes(limit)} (MAX_FIELD_BYTES)",
            field=name,
        )
    if "\x00" in value:
        raise RowRejected(
            f"'{name}' contains a NUL character (\\u0000), which PostgreSQL cannot store; the row was rejected",
            field=name,
        )
    return value


def check_json(value: Any, name: str) -> Any:
    """NUL characters cannot be stored in jsonb either; sizes are bounded like text fields."""
    encoded = json.dumps(value, ensure_ascii=False, default=str)
    if "\\u0000" in encoded or "\x00" in encoded:
        raise RowRejected(f"'{name}' contains a NUL character (\\u0000), which PostgreSQL cannot store", field=name)
    check_text(encoded, name)
    return json.loads(encoded) if not plain_json(value) else value


def plain_json(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(plain_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_json(v) for k, v in value.items())
    return False


def type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
