"""pii_detect and redact: what is found, what is not, and offsets that stay exact."""

from __future__ import annotations

import time

import pytest

from apps.privacy.detection import pii_detect, redact, redact_with_offsets

FOUND = [
    ("Write to jane.roe@uni-example.edu today", "EMAIL", "jane.roe@uni-example.edu"),
    ("Call me on +1 (415) 555-0132 after six", "PHONE", "+1 (415) 555-0132"),
    ("my number is 020 7946 0958", "PHONE", "020 7946 0958"),
    ("call 07700900123 please", "PHONE", "07700900123"),
    ("Card: 4111 1111 1111 1111, exp 12/29", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("IBAN DE89 3704 0044 0532 0130 00 for the rent", "IBAN", "DE89 3704 0044 0532 0130 00"),
    ("pay GB82WEST12345698765432 now", "IBAN", "GB82WEST12345698765432"),
    ("the server at 192.168.14.20 went down", "IP_ADDRESS", "192.168.14.20"),
    ("reach 2001:db8::8a2e:370:7334 over v6", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
    ("My SSN is 536-22-8726.", "US_SSN", "536-22-8726"),
    ("NI number AB123456C on file", "UK_NINO", "AB123456C"),
    ("device 00:1B:44:11:3A:B7 joined", "MAC_ADDRESS", "00:1B:44:11:3A:B7"),
    (
        "Ship it to 1600 Pennsylvania Avenue NW, Washington, DC 20500 by Friday.",
        "ADDRESS",
        "1600 Pennsylvania Avenue NW, Washington, DC 20500",
    ),
    ("Our office: 10 Downing Street, London SW1A 2AA.", "ADDRESS", "10 Downing Street, London SW1A 2AA"),
    ("Visit 24 Sussex Drive, Ottawa, ON K1M 1M4 soon", "ADDRESS", "24 Sussex Drive, Ottawa, ON K1M 1M4"),
]


@pytest.mark.parametrize(("text", "kind", "value"), FOUND)
def test_it_finds_each_type(text, kind, value):
    spans = pii_detect(text)
    assert [(s["type"], text[s["start"]:s["end"]]) for s in spans] == [(kind, value)]
    assert 0 < spans[0]["score"] <= 1


NOT_PII = [
    "The French Revolution (1789-1799) changed Europe; Newton lived 1642–1727.",
    "3^19 = 1162261467, and 2^31 - 1 = 2147483647.",
    "Step 1. Preheat the oven. Step 2. Mix 200 g flour with 3 eggs.",
    "See the docs at https://docs.python.org/3/library/re.html for details.",
    "Card 4111 1111 1111 1112 fails the Luhn check.",
    "The ticket number is 12345.",
    "412 Monterey Ave, nestled in the hills, is lovely.",
    "",
]


@pytest.mark.parametrize("text", NOT_PII)
def test_it_leaves_ordinary_text_alone(text):
    assert pii_detect(text) == []


def test_urls_are_only_detected_when_switched_on(settings):
    text = "My profile: https://social.example.com/jane.roe.1985"
    assert pii_detect(text) == []
    settings.PII_DETECT_URLS = True
    assert [s["type"] for s in pii_detect(text)] == ["URL"]


def test_an_email_is_one_span_not_an_email_plus_a_url(settings):
    settings.PII_DETECT_URLS = True
    text = "mail john.doe@example.com"
    assert [(s["type"], text[s["start"]:s["end"]]) for s in pii_detect(text)] == [("EMAIL", "john.doe@example.com")]


def test_spans_are_sorted_and_do_not_overlap():
    text = "a@b.org, +44 20 7946 0958, 4111 1111 1111 1111 and 10.0.0.1, again a@b.org"
    spans = pii_detect(text)
    assert [s["type"] for s in spans] == ["EMAIL", "PHONE", "CREDIT_CARD", "IP_ADDRESS", "EMAIL"]
    for left, right in zip(spans, spans[1:], strict=False):
        assert left["end"] <= right["start"]


def test_offsets_are_python_string_indices_with_non_ascii_text():
    text = "Grüße 🙂 an jörg@example.de, Tel. +49 30 901820"
    spans = pii_detect(text)
    assert [text[s["start"]:s["end"]] for s in spans] == ["jörg@example.de", "+49 30 901820"]


def test_redact_uses_typed_placeholders():
    text = "Mail jane@example.org or call +1 415 555 0132; card 4111-1111-1111-1111."
    assert redact(text, pii_detect(text)) == "Mail [EMAIL] or call [PHONE]; card [CREDIT_CARD]."


def test_redact_accepts_objects_merges_overlaps_and_clips():
    class Span:
        def __init__(self, start, end, type):  # type: ignore[no-untyped-def]
            self.start, self.end, self.type = start, end, type

    text = "0123456789"
    assert redact(text, [Span(2, 5, "EMAIL"), Span(4, 7, "PHONE")]) == "01[EMAIL]789"
    assert redact(text, [{"start": 8, "end": 99, "type": "IBAN"}]) == "01234567[IBAN]"
    assert redact(text, [{"start": 3, "end": 4, "type": "SOMETHING_NEW"}]) == "012[PII]456789"
    assert redact(text, []) == text


def test_redacted_offsets_map_both_ways():
    text = "Hi, I am at jane@example.org and +1 415 555 0132 today"
    spans = pii_detect(text)
    redacted = redact_with_offsets(text, spans)
    assert redacted.text == "Hi, I am at [EMAIL] and [PHONE] today"
    # A selection of "today" in what the annotator sees maps back to the stored text.
    shown = redacted.text.index("today")
    start, end = redacted.to_original(shown, shown + 5)
    assert text[start:end] == "today"
    # A selection touching a placeholder covers the whole original value.
    placeholder = redacted.text.index("[PHONE]")
    start, end = redacted.to_original(placeholder + 2, placeholder + 4)
    assert text[start:end] == "+1 415 555 0132"
    # Stored spans are shown over their placeholders.
    for span in spans:
        d_start, d_end = redacted.to_display(span["start"], span["end"])
        assert redacted.text[d_start:d_end] in {"[EMAIL]", "[PHONE]"}
    unchanged = text.index("Hi")
    assert redacted.to_display(unchanged, unchanged + 2) == (0, 2)


@pytest.mark.parametrize(
    "text",
    [
        "A" * 1_000_000,
        "12 Main " * 10_000,
        "a@" * 200_000,
        "1 " * 100_000,
    ],
    ids=["1MB-token", "many-address-candidates", "many-at-signs", "wall-of-digits"],
)
def test_hostile_input_is_scanned_in_bounded_time(text):
    pii_detect("warm up 1")
    started = time.monotonic()
    pii_detect(text)
    assert time.monotonic() - started < 20


def test_a_long_contact_list_is_redacted_line_by_line():
    text = "\n".join(f"Contact {n}: +44 20 7946 {n:04d}, contact{n}@example.org" for n in range(300))
    redacted = redact(text, pii_detect(text))
    assert redacted.count("[PHONE]") == 300 and redacted.count("[EMAIL]") == 300
    assert "7946" not in redacted and "@" not in redacted
