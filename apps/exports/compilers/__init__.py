"""Compilers: one function per export kind, from an item bundle to records (rows as written)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from apps.exports.compilers.context import Context, Record
from apps.exports.compilers.labels import COMPILERS as _LABELS
from apps.exports.compilers.preference import COMPILERS as _PREFERENCE
from apps.exports.compilers.sft import COMPILERS as _SFT
from apps.exports.source import Bundle

Compiler = Callable[[Context, Bundle], Iterator[Record]]
COMPILERS: dict[str, Compiler] = {**_SFT, **_PREFERENCE, **_LABELS}

__all__ = ["COMPILERS", "Compiler", "Context", "Record"]
