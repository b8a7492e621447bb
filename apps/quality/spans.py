"""Character-level span arithmetic: overlap F1 between two annotations and span voting.

Spans follow apps.projects.schema: {"start", "end", "label", "generation"?}. Two
spans count as overlapping only where they mark the same characters of the same
text (generation) with the same label.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

Key = tuple[Any, str]  # (generation id or None for the prompt, label)


def _merged(spans: Iterable[dict[str, Any]]) -> dict[Key, list[tuple[int, int]]]:
    """Group spans by (text, label) and merge overlapping intervals, so nothing is counted twice."""
    grouped: dict[Key, list[tuple[int, int]]] = defaultdict(list)
    for span in spans:
        grouped[(_text_key(span), str(span["label"]))].append((int(span["start"]), int(span["end"])))
    merged: dict[Key, list[tuple[int, int]]] = {}
    for key, intervals in grouped.items():
        intervals.sort()
        out: list[tuple[int, int]] = []
        for start, end in intervals:
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        merged[key] = out
    return merged


def _text_key(span: dict[str, Any]) -> Any:
    generation = span.get("generation")
    return None if generation is None else int(generation)


def _length(intervals: list[tuple[int, int]]) -> int:
    return sum(end - start for start, end in intervals)


def _overlap(left: list[tuple[int, int]], right: list[tuple[int, int]]) -> int:
    total, i, j = 0, 0, 0
    while i < len(left) and j < len(right):
        low, high = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if low < high:
            total += high - low
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return total


def span_f1(predicted: list[dict[str, Any]] | None, expected: list[dict[str, Any]] | None) -> float:
    """Character-overlap F1 of two span lists (same label, same text). Both empty → 1.0."""
    left, right = _merged(predicted or []), _merged(expected or [])
    size_left = sum(_length(v) for v in left.values())
    size_right = sum(_length(v) for v in right.values())
    if size_left == 0 and size_right == 0:
        return 1.0
    if size_left == 0 or size_right == 0:
        return 0.0
    overlap = sum(_overlap(intervals, right[key]) for key, intervals in left.items() if key in right)
    return 2.0 * overlap / (size_left + size_right)


def span_vote(annotations: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Consensus spans: the characters that more than half of the annotators marked with a label."""
    needed = len(annotations) / 2.0
    events: dict[Key, list[tuple[int, int]]] = defaultdict(list)
    for spans in annotations:
        for key, intervals in _merged(spans).items():
            for start, end in intervals:
                events[key].append((start, 1))
                events[key].append((end, -1))
    consensus: list[dict[str, Any]] = []
    for (generation, label), points in events.items():
        points.sort()
        depth, open_at = 0, None
        for position, delta in points:
            depth += delta
            if depth > needed and open_at is None:
                open_at = position
            elif depth <= needed and open_at is not None:
                if position > open_at:
                    entry: dict[str, Any] = {"start": open_at, "end": position, "label": label}
                    if generation is not None:
                        entry["generation"] = generation
                    consensus.append(entry)
                open_at = None
    consensus.sort(key=lambda s: (s.get("generation") or 0, s["start"], s["label"]))
    return consensus


def mean_pairwise_f1(annotations: list[list[dict[str, Any]]]) -> float | None:
    """Span agreement of one item: the mean F1 over every pair of annotators (None below two)."""
    if len(annotations) < 2:
        return None
    scores = [
        span_f1(annotations[i], annotations[j])
        for i in range(len(annotations))
        for j in range(i + 1, len(annotations))
    ]
    return sum(scores) / len(scores)
