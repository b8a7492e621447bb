"""The personal-data stage of the export pipeline, on top of apps.privacy.

Where the spans come from (option `pii_source`):

    scan    (default) prompts and responses use the spans the privacy scan stored when they
            were imported (apps.privacy PiiSpan), so the export redacts exactly what the
            privacy page lists and annotators saw redacted, at no detection cost;
            text written by annotators (rewrites, rationales) is detected now.
    detect  everything is detected now with apps.privacy's `pii_detect` (presidio pattern
            recognizers, no model download): for data imported before the privacy scan
            existed, or after changing detectors. Slower: ~10 ms per text with digits.

Detections become typed placeholders ([EMAIL], [PHONE], [CREDIT_CARD], ...). The
detector is a constructor argument so another implementation can be plugged in.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

from apps.exports.textops import Replacement

Detector = Callable[[str], list[dict[str, Any]]]
# (start, end, type) over the original text.
Span = tuple[int, int, str]


def detect_personal_data(text: str) -> list[dict[str, Any]]:
    """The privacy app's detector: [{start, end, type, score}], sorted and non-overlapping."""
    from apps.privacy.detection import pii_detect

    return pii_detect(text)


def pii_placeholder(kind: str) -> str:
    from apps.privacy.detection import placeholder_for

    return placeholder_for(kind)


class PiiRedactor:
    """Turns stored or freshly detected spans into placeholder replacements and counts them."""

    def __init__(self, *, source: str = "scan", detector: Detector = detect_personal_data, cache_size: int = 2048):
        self.source = source
        self.detector = detector
        self.cache_size = cache_size
        self._cache: OrderedDict[str, list[Span]] = OrderedDict()
        self.counts: Counter[str] = Counter()
        self.texts_changed = 0

    def detect(self, text: str) -> list[Span]:
        spans = self._cache.get(text)
        if spans is None:
            spans = [(s["start"], s["end"], s["type"]) for s in self.detector(text)]
            self._cache[text] = spans
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(text)
        return spans

    def replacements(self, text: str, stored: list[Span] | None, *, written_by_annotator: bool = False
                     ) -> list[Replacement]:
        """Replacements for one use of `text` (counted per use, like the rows written)."""
        if not text:
            return []
        spans = self.detect(text) if written_by_annotator or self.source == "detect" else (stored or [])
        if spans:
            self.counts.update(kind for _, _, kind in spans)
            self.texts_changed += 1
        return [Replacement(start, end, pii_placeholder(kind)) for start, end, kind in spans]
