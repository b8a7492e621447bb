"""Find personal data in text and redact it.

Detection uses presidio-analyzer's pattern recognizers (regular expressions plus
checksums: Luhn for cards, mod-97 for IBANs, libphonenumber for phones), which
need no model download, and pyap2 for street addresses. Presidio's context
enhancement ("call me at", "SSN") runs on a blank spaCy tokenizer: lower-cased
tokens stand in for lemmas, so no trained pipeline is needed.

Not detected: person names, and addresses without a postal code. Both need a
trained NER model, which this deployment does not download.

    pii_detect(text) -> [{"start", "end", "type", "score"}]   non-overlapping, sorted
    redact(text, spans) -> text with typed placeholders ([EMAIL], [PHONE], ...)
    redact_with_offsets(text, spans) -> RedactedText (maps offsets both ways)
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings

# Our type names (stored in PiiSpan.type, shown as placeholders) by presidio entity.
PRESIDIO_TYPES: dict[str, str] = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
    "UK_NINO": "UK_NINO",
    "MAC_ADDRESS": "MAC_ADDRESS",
    "STREET_ADDRESS": "ADDRESS",
    "URL": "URL",
}
PII_TYPES: tuple[str, ...] = tuple(PRESIDIO_TYPES.values())
PII_TYPE_LABELS: dict[str, str] = {
    "EMAIL": "Email address",
    "PHONE": "Phone number",
    "CREDIT_CARD": "Card number",
    "IBAN": "IBAN",
    "IP_ADDRESS": "IP address",
    "US_SSN": "US social security number",
    "UK_NINO": "UK national insurance number",
    "MAC_ADDRESS": "MAC address",
    "ADDRESS": "Street address",
    "URL": "URL",
}

MIN_SCORE = 0.4
# A bare run of digits ("1162261467" in a maths answer) is a phone number only when
# the words around it say so (presidio's context enhancement raises the score).
_PHONE_CONTEXT_SCORE = 0.7
_PHONE_FORMATTING = re.compile(r"[+()\-.\s/]")
# "(1642-1727)", "1800 - 2000", "(4000-6000": four digits, a dash and up to four
# more read as a range, not a phone number.
_NUMBER_RANGE = re.compile(r"\(?\s*\d{4}\s*[-\u2010-\u2015]\s*\d{1,4}\s*\)?")
# National formats are tried for these regions; "+<country>" numbers are found for any.
_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "BR")
# Every supported type contains a digit or an "@" (IPv6 may be "fe::" style).
_MAY_CONTAIN_PII = re.compile(r"[0-9@]|::")
_MAY_CONTAIN_URL = re.compile(r"\w\.\w")
# spaCy refuses longer texts by default; beyond this, context enhancement is skipped.
_NLP_MAX_CHARS = 2_000_000


def url_detection_enabled() -> bool:
    """URLs in model outputs are nearly always public references (docs, Wikipedia):
    in AlpacaEval 729 of 779 detections were URLs and none was personal. Opt in with
    PII_DETECT_URLS=1."""
    return bool(getattr(settings, "PII_DETECT_URLS", False))


@dataclass
class _Engine:
    analyzer: Any
    recognizers: list[Any]
    nlp: Any
    entities: list[str]


@cache
def _engine(detect_urls: bool) -> _Engine:
    # transformers (imported by presidio) prints a warning about PyTorch on import.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # presidio logs every recognizer it loads at INFO.
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        IpRecognizer,
        MacAddressRecognizer,
        UkNinoRecognizer,
        UrlRecognizer,
        UsSsnRecognizer,
    )

    from apps.privacy.recognizers import (
        OfflineEmailRecognizer,
        StreetAddressRecognizer,
        make_phone_recognizer,
    )

    class BlankSpacyNlpEngine(SpacyNlpEngine):
        """Tokens only: no tagger, lemmatizer or NER, so nothing to download."""

        def __init__(self) -> None:
            super().__init__(models=[{"lang_code": "en", "model_name": "blank:en"}])

        def load(self) -> None:
            nlp = spacy.blank("en")
            nlp.max_length = _NLP_MAX_CHARS
            self.nlp = {"en": nlp}

        def is_stopword(self, word: str, language: str) -> bool:
            # spaCy lists "call" as a stop word, which would drop it from the context
            # words ("call me on ...") presidio compares against.
            return False

        def _doc_to_nlp_artifact(self, doc, language):  # type: ignore[no-untyped-def]
            return NlpArtifacts(
                entities=[],
                tokens=doc,
                tokens_indices=[token.idx for token in doc],
                lemmas=[token.lower_ for token in doc],
                nlp_engine=self,
                language=language,
                scores=[],
            )

    nlp = BlankSpacyNlpEngine()
    nlp.load()
    recognizers = [
        OfflineEmailRecognizer(),
        make_phone_recognizer(_PHONE_REGIONS),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        UsSsnRecognizer(),
        UkNinoRecognizer(),
        MacAddressRecognizer(),
        StreetAddressRecognizer(),
    ]
    if detect_urls:
        recognizers.append(UrlRecognizer())
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in recognizers:
        registry.add_recognizer(recognizer)
    analyzer = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])
    entities = sorted({entity for r in recognizers for entity in r.supported_entities})
    return _Engine(analyzer=analyzer, recognizers=recognizers, nlp=nlp, entities=entities)


def warm_up() -> None:
    """Import presidio and compile the patterns now (a worker does this once)."""
    pii_detect("warm-up 1 a@b.co")


def _keep(kind: str, text: str, start: int, end: int, score: float) -> bool:
    if score < MIN_SCORE:
        return False
    if kind == "PHONE":
        value = text[start:end]
        digits = sum(ch.isdigit() for ch in value)
        if digits < 7:
            return False
        if not _PHONE_FORMATTING.search(value) and score < _PHONE_CONTEXT_SCORE:
            return False
        if _NUMBER_RANGE.fullmatch(value):
            return False
    return True


def _without_overlaps(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the most confident (then longest) span wherever two overlap.

    An email address also matches the URL pattern on its domain: the email wins.
    """
    chosen: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []
    for span in sorted(spans, key=lambda s: (-s["score"], s["start"] - s["end"], s["start"])):
        if any(span["start"] < end and start < span["end"] for start, end in taken):
            continue
        chosen.append(span)
        taken.append((span["start"], span["end"]))
    return sorted(chosen, key=lambda s: (s["start"], s["end"]))


def pii_detect(text: str | None) -> list[dict[str, Any]]:
    """Personal data in `text`: sorted, non-overlapping {"start", "end", "type", "score"}.

    Offsets are Python string indices into `text` (the same convention as span answers).
    """
    if not text:
        return []
    detect_urls = url_detection_enabled()
    if not (_MAY_CONTAIN_PII.search(text) or (detect_urls and _MAY_CONTAIN_URL.search(text))):
        return []
    engine = _engine(detect_urls)
    # Cheap first pass without tokenizing: most texts have no candidate at all.
    if not any(r.analyze(text, r.supported_entities, None) for r in engine.recognizers):
        return []
    artifacts = None
    if len(text) > _NLP_MAX_CHARS:
        from presidio_analyzer.nlp_engine import NlpArtifacts

        artifacts = NlpArtifacts([], [], [], [], engine.nlp, "en")
    results = engine.analyzer.analyze(
        text=text, language="en", entities=engine.entities, nlp_artifacts=artifacts
    )
    spans = []
    for result in results:
        kind = PRESIDIO_TYPES.get(result.entity_type)
        if kind is None or not _keep(kind, text, result.start, result.end, result.score):
            continue
        spans.append(
            {"start": result.start, "end": result.end, "type": kind, "score": round(float(result.score), 3)}
        )
    return _without_overlaps(spans)


# --- redaction -------------------------------------------------------------------


def placeholder_for(kind: str) -> str:
    return f"[{kind}]" if kind in PII_TYPE_LABELS else "[PII]"


def _span_fields(span: Any) -> tuple[int, int, str]:
    if isinstance(span, Mapping):
        return int(span["start"]), int(span["end"]), str(span.get("type", ""))
    return int(span.start), int(span.end), str(span.type)


def _normalised(text: str, spans: Iterable[Any]) -> list[tuple[int, int, str]]:
    """Spans clipped to the text, sorted; overlapping ones merged into the first's type."""
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(_span_fields(s) for s in spans):
        start, end = max(0, start), min(len(text), end)
        if start >= end:
            continue
        if merged and start < merged[-1][1]:
            previous = merged[-1]
            merged[-1] = (previous[0], max(previous[1], end), previous[2])
            continue
        merged.append((start, end, kind))
    return merged


@dataclass(frozen=True)
class RedactedText:
    """Redacted text plus the mapping between its offsets and the original's.

    The annotator sees `text`; span answers are stored against the original, so a
    selection in the redacted text is mapped back with `to_original`, and stored or
    suggested spans are shown with `to_display`. A selection touching a placeholder
    covers the whole original value.
    """

    text: str
    # (original_start, original_end, display_start, display_end) of each placeholder.
    replacements: tuple[tuple[int, int, int, int], ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        return self._map(start, is_end=False, to_original=True), self._map(end, is_end=True, to_original=True)

    def to_display(self, start: int, end: int) -> tuple[int, int]:
        return self._map(start, is_end=False, to_original=False), self._map(end, is_end=True, to_original=False)

    def _map(self, position: int, *, is_end: bool, to_original: bool) -> int:
        offset = 0
        for orig_start, orig_end, disp_start, disp_end in self.replacements:
            src_start, src_end, dst_start, dst_end = (
                (disp_start, disp_end, orig_start, orig_end)
                if to_original
                else (orig_start, orig_end, disp_start, disp_end)
            )
            if position >= src_end:
                offset = dst_end - src_end
                continue
            if src_start < position:  # strictly inside a redacted value: snap outwards
                return dst_end if is_end else dst_start
            break
        return position + offset


def redact_with_offsets(text: str, spans: Iterable[Any]) -> RedactedText:
    pieces: list[str] = []
    replacements: list[tuple[int, int, int, int]] = []
    cursor = 0
    length = 0
    for start, end, kind in _normalised(text, spans):
        pieces.append(text[cursor:start])
        length += start - cursor
        placeholder = placeholder_for(kind)
        replacements.append((start, end, length, length + len(placeholder)))
        pieces.append(placeholder)
        length += len(placeholder)
        cursor = end
    pieces.append(text[cursor:])
    return RedactedText(text="".join(pieces), replacements=tuple(replacements))


def redact(text: str, spans: Iterable[Any]) -> str:
    """`text` with every span replaced by its typed placeholder ([EMAIL], [PHONE], ...)."""
    if not text:
        return text or ""
    return redact_with_offsets(text, spans).text
