"""Presidio recognizers that work offline, without a spaCy model.

Presidio's pattern recognizers need no model download. Two gaps are filled here:

* its EmailRecognizer validates the domain with `tldextract.extract`, whose default
  extractor fetches the Public Suffix List over the network on first use (a hang
  or a stack trace on a machine without internet); ours uses the snapshot that
  ships inside tldextract;
* presidio has no address recognizer without an NER model, so street addresses come
  from pyap2's regular expressions (US, Canadian and British formats).

Imported lazily by apps.privacy.detection: presidio pulls in spaCy and
transformers, which takes seconds.
"""

from __future__ import annotations

import re
from functools import cache

import tldextract
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer


@cache
def _offline_tld_extractor() -> tldextract.TLDExtract:
    # No suffix-list URLs: use the snapshot bundled with tldextract, never the network.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class OfflineEmailRecognizer(EmailRecognizer):
    def validate_result(self, pattern_text: str) -> bool:
        return _offline_tld_extractor()(pattern_text).fqdn != ""


# A street address starts with a house number followed by a capitalised word or an
# ordinal street ("12 Main St", "350 5th Avenue"). Only those positions are tried:
# pyap2's full-text regexes backtrack badly on long inputs (seconds per megabyte).
_CANDIDATE = re.compile(r"(?<![\w.,/:-])\d{1,6}[A-Za-z]?\s+(?=[A-Z]|\d{1,3}(?:st|nd|rd|th)\b)")
_WINDOW = 160  # longest address considered, in characters
_MAX_CANDIDATES = 200  # per text and country: bounds the work on adversarial input
_LINE_BREAKS = re.compile(r"[\r\n\t\f\v]")
_DASHES = re.compile("[\u2010-\u2015]")


@cache
def _address_rules() -> dict[str, re.Pattern[str]]:
    from pyap.source_CA import data as ca
    from pyap.source_GB import data as gb
    from pyap.source_US import data as us

    return {
        country: re.compile(module.full_address, re.VERBOSE | re.UNICODE)
        for country, module in (("US", us), ("CA", ca), ("GB", gb))
    }


def find_street_addresses(text: str) -> list[tuple[int, int]]:
    """(start, end) of street addresses that carry a postal code.

    The postal code requirement keeps precision high: without it pyap2 also
    matches prose such as "412 Monterey Ave, nestled in".
    """
    found: list[tuple[int, int]] = []
    for rule in _address_rules().values():
        last_end = -1
        for tried, candidate in enumerate(_CANDIDATE.finditer(text)):
            if tried >= _MAX_CANDIDATES:
                break
            start = candidate.start()
            if start < last_end:
                continue
            # Same-length normalisation keeps offsets valid in the original text.
            window = _DASHES.sub("-", _LINE_BREAKS.sub(" ", text[start : start + _WINDOW]))
            match = rule.match(window)
            if not match:
                continue
            groups = match.groupdict()
            if not any(value for key, value in groups.items() if key.startswith("postal_code")):
                continue
            end = start + len(match.group(0).rstrip(" ,"))
            found.append((start, end))
            last_end = end
    return found


class StreetAddressRecognizer(EntityRecognizer):
    ENTITY = "STREET_ADDRESS"
    SCORE = 0.7

    def __init__(self) -> None:
        super().__init__(supported_entities=[self.ENTITY], name="StreetAddressRecognizer")

    def load(self) -> None:
        _address_rules()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if self.ENTITY not in entities:
            return []
        return [
            RecognizerResult(self.ENTITY, start, end, self.SCORE)
            for start, end in find_street_addresses(text)
        ]


# A phone number has at least 7 digits within a short stretch of digits and separators.
_PHONE_CANDIDATE = re.compile(r"[+(]?\d[\d \t().\-/\u2010-\u2015]{5,24}\d")
_PHONE_MARGIN = 3  # keep a "+" or "(" just before a candidate
_PHONE_MAX_WINDOW = 64  # merged neighbours stop growing here (a wall of digits stays cheap)
_PHONE_MAX_WINDOWS = 500  # per text: bounds the work on adversarial input (a wall of digits)


def _phone_windows(text: str) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for match in _PHONE_CANDIDATE.finditer(text):
        if len(windows) >= _PHONE_MAX_WINDOWS:
            break
        if sum(ch.isdigit() for ch in match.group(0)) < 7:
            continue
        start, end = max(0, match.start() - _PHONE_MARGIN), min(len(text), match.end() + _PHONE_MARGIN)
        if windows and start <= windows[-1][1] and end - windows[-1][0] <= _PHONE_MAX_WINDOW:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def make_phone_recognizer(regions: tuple[str, ...]) -> EntityRecognizer:
    """Presidio's PhoneRecognizer (libphonenumber), run only where digits cluster.

    libphonenumber's matcher scans the whole text once per region and dominated the
    scan time (70% on AlpacaEval); the windows give the same matches.
    """
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class WindowedPhoneRecognizer(PhoneRecognizer):
        def analyze(self, text, entities, nlp_artifacts=None):  # type: ignore[no-untyped-def]
            results = []
            for start, end in _phone_windows(text):
                for result in super().analyze(text[start:end], entities, None):
                    result.start += start
                    result.end += start
                    results.append(result)
            return results

    return WindowedPhoneRecognizer(supported_regions=regions)
