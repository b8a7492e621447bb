"""Replacing character ranges in text while keeping other offsets valid.

Masking a harmful span or redacting an e-mail address changes the length of the
text; span offsets that point past the change must move with it. `Edited` records
the replacements so offsets can be carried from the original to the new text.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Replacement:
    start: int
    end: int
    text: str


def merge_replacements(replacements: Iterable[Replacement]) -> list[Replacement]:
    """Sorted, non-overlapping replacements; overlapping ones are joined under the first one's text."""
    merged: list[Replacement] = []
    for rep in sorted(replacements, key=lambda r: (r.start, -r.end)):
        if rep.end <= rep.start:
            continue
        if merged and rep.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Replacement(last.start, max(last.end, rep.end), last.text)
        else:
            merged.append(rep)
    return merged


@dataclass(slots=True)
class Edited:
    """A text after replacements, able to map original offsets into it."""

    text: str
    # (old_start, old_end, new_start, new_end) per replacement, in order.
    edits: list[tuple[int, int, int, int]]

    def map_start(self, pos: int) -> int:
        return self._map(pos, end=False)

    def map_end(self, pos: int) -> int:
        return self._map(pos, end=True)

    def _map(self, pos: int, *, end: bool) -> int:
        if not self.edits:
            return pos
        # The last edit starting at or before pos (for an end offset, strictly before).
        starts = [e[0] for e in self.edits]
        index = (bisect.bisect_left(starts, pos) if end else bisect.bisect_right(starts, pos)) - 1
        if index < 0:
            return pos
        old_start, old_end, new_start, new_end = self.edits[index]
        if pos < old_end or (end and pos == old_end):
            # Inside a replaced range: snap to the placeholder's edge so it stays covered.
            return new_end if end else new_start
        return new_end + (pos - old_end)


def apply_replacements(text: str, replacements: Iterable[Replacement]) -> Edited:
    merged = merge_replacements(replacements)
    if not merged:
        return Edited(text, [])
    parts: list[str] = []
    edits: list[tuple[int, int, int, int]] = []
    cursor = 0
    length = 0
    for rep in merged:
        start, end = max(rep.start, cursor), min(rep.end, len(text))
        if start >= end:
            continue
        parts.append(text[cursor:start])
        length += start - cursor
        parts.append(rep.text)
        edits.append((start, end, length, length + len(rep.text)))
        length += len(rep.text)
        cursor = end
    parts.append(text[cursor:])
    return Edited("".join(parts), edits)


def placeholder_for(label: str) -> str:
    """`[HARMFUL]`, `[FALSE_CLAIM]`: typed like the PII placeholders so readers see what was removed."""
    return "[" + "".join(ch if ch.isalnum() else "_" for ch in label.upper()) + "]"
