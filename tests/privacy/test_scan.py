"""Scanning items: spans stored per text, Item.has_pii, and the policy applied for annotators."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.items.models import Item
from apps.privacy.models import PiiSpan
from apps.privacy.selectors import (
    annotator_texts_for_item,
    exclude_pii_items,
    pii_suggestions_for_item,
    text_for_annotator,
)
from apps.privacy.services import pii_scan_items
from apps.projects.models import PiiPolicy
from apps.projects.schema import validate_answers, validate_schema
from tests.factories import PromptFactory, make_item

pytestmark = pytest.mark.django_db

EMAIL_PROMPT = "Please draft a reply to jane.roe@example.org about the invoice."


def _item_with_pii(project, prompt_text: str = EMAIL_PROMPT):  # type: ignore[no-untyped-def]
    item = make_item(project, responses=2, prompt_text=prompt_text)
    first, second = item.ordered_generations()
    first.text = "Sure. I will also call her on +1 (415) 555-0132 tomorrow."
    first.save()
    second.text = "Here is a polite reply without any personal details."
    second.save()
    return item, first, second


def test_it_stores_spans_and_flags_the_item(project):
    item, first, second = _item_with_pii(project)
    clean = make_item(project, responses=1)

    counts = pii_scan_items(item_ids=[item.pk, clean.pk])

    assert (counts.items, counts.items_with_pii, counts.spans) == (2, 1, 2)
    item.refresh_from_db()
    clean.refresh_from_db()
    assert item.has_pii is True and clean.has_pii is False
    prompt_span = PiiSpan.objects.get(prompt=item.prompt)
    assert (prompt_span.type, EMAIL_PROMPT[prompt_span.start:prompt_span.end]) == ("EMAIL", "jane.roe@example.org")
    assert prompt_span.project_id == project.pk and prompt_span.message_index is None
    phone = PiiSpan.objects.get(generation=first)
    assert (phone.type, first.text[phone.start:phone.end]) == ("PHONE", "+1 (415) 555-0132")
    assert not PiiSpan.objects.filter(generation=second).exists()


def test_a_rescan_is_idempotent_and_clears_a_flag_that_no_longer_holds(project):
    item, first, _ = _item_with_pii(project)
    pii_scan_items(item_ids=[item.pk])
    pii_scan_items(item_ids=[item.pk])
    assert PiiSpan.objects.filter(prompt=item.prompt).count() == 1
    assert PiiSpan.objects.filter(generation=first).count() == 1

    # The data was cleaned at the source: the next scan removes spans and the flag.
    item.prompt.text = "Please draft a reply about the invoice."
    item.prompt.save()
    first.text = "Sure."
    first.save()
    pii_scan_items(item_ids=[item.pk])
    item.refresh_from_db()
    assert item.has_pii is False
    assert not PiiSpan.objects.filter(project=project).exists()


def test_items_sharing_a_prompt_are_all_flagged_in_any_batch(project):
    prompt = PromptFactory(project=project, text="My card is 4111 1111 1111 1111")
    items = []
    for _ in range(5):
        item = make_item(project, responses=1)
        Item.objects.filter(pk=item.pk).update(prompt=prompt)
        items.append(item.pk)
    pii_scan_items(item_ids=items, batch_size=2)
    assert Item.objects.filter(pk__in=items, has_pii=True).count() == 5
    assert PiiSpan.objects.filter(prompt=prompt).count() == 1


def test_chat_turns_are_scanned_and_redacted(project):
    item = make_item(project, responses=1, prompt_text="What should I do next?")
    prompt = item.prompt
    prompt.messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "I'm Jane, my IBAN is DE89 3704 0044 0532 0130 00."},
        {"role": "assistant", "content": "Thanks."},
        {"role": "user", "content": "What should I do next?"},
    ]
    prompt.save()
    pii_scan_items(item_ids=[item.pk])

    span = PiiSpan.objects.get(prompt=prompt)
    assert (span.message_index, span.type) == (1, "IBAN")
    item.refresh_from_db()
    assert item.has_pii is True
    texts = annotator_texts_for_item(item, policy=PiiPolicy.REDACT)
    assert texts.prompt_messages[1]["content"] == "I'm Jane, my IBAN is [IBAN]."
    assert texts.prompt_messages[3]["content"] == "What should I do next?"


def test_the_scan_of_a_batch_takes_a_fixed_number_of_queries(project):
    one = [_item_with_pii(project, f"{EMAIL_PROMPT} (0)")[0].pk]
    with CaptureQueriesContext(connection) as few:
        pii_scan_items(item_ids=one)
    more = [_item_with_pii(project, f"{EMAIL_PROMPT} ({n})")[0].pk for n in range(1, 7)]
    with CaptureQueriesContext(connection) as many:
        pii_scan_items(item_ids=more)
    assert len(many) == len(few)


def test_policy_redact_and_exclude_hide_values_show_keeps_them(project):
    item, first, _ = _item_with_pii(project)
    pii_scan_items(item_ids=[item.pk])
    spans = list(PiiSpan.objects.filter(prompt=item.prompt))

    assert text_for_annotator(EMAIL_PROMPT, spans, PiiPolicy.SHOW) == EMAIL_PROMPT
    redacted = "Please draft a reply to [EMAIL] about the invoice."
    assert text_for_annotator(EMAIL_PROMPT, spans, PiiPolicy.REDACT) == redacted
    assert text_for_annotator(EMAIL_PROMPT, spans, PiiPolicy.EXCLUDE) == redacted

    item = Item.objects.select_related("prompt", "project").get(pk=item.pk)
    texts = annotator_texts_for_item(item)  # the project default is "redact"
    assert texts.prompt_text == redacted
    assert texts.responses[first.pk] == "Sure. I will also call her on [PHONE] tomorrow."
    assert "jane.roe" not in str(texts.prompt_messages)
    # The workspace maps a selection in the redacted response back to the stored text.
    shown = texts.responses[first.pk]
    start, end = texts.response_offsets[first.pk].to_original(shown.index("tomorrow"), len(shown) - 1)
    assert first.text[start:end] == "tomorrow"

    shown_as_is = annotator_texts_for_item(item, policy=PiiPolicy.SHOW)
    assert shown_as_is.prompt_text == EMAIL_PROMPT
    assert shown_as_is.responses[first.pk] == first.text


def test_exclude_pii_items_filters_only_under_the_exclude_policy(project):
    item, _, _ = _item_with_pii(project)
    clean = make_item(project, responses=1)
    pii_scan_items(item_ids=[item.pk, clean.pk])
    everything = Item.objects.filter(project=project)

    assert set(exclude_pii_items(everything, project)) == {item, clean}
    project.pii_policy = PiiPolicy.EXCLUDE
    assert list(exclude_pii_items(everything, project)) == [clean]


def test_suggestions_are_valid_span_answers(project):
    item, first, second = _item_with_pii(project)
    pii_scan_items(item_ids=[item.pk])
    suggestions = pii_suggestions_for_item(item)

    assert {(s.get("generation"), s["label"], s["pii_type"]) for s in suggestions} == {
        (None, "personal_data", "EMAIL"),
        (first.pk, "personal_data", "PHONE"),
    }
    questions = validate_schema(
        [
            {"id": "harm", "type": "spans", "prompt": "Mark personal data", "applies_to": "item",
             "labels": [{"value": "personal_data", "label": "Personal data"}], "target": "response"},
            {"id": "prompt_pii", "type": "spans", "prompt": "Mark personal data", "applies_to": "item",
             "labels": [{"value": "personal_data", "label": "Personal data"}], "target": "prompt"},
        ]
    )
    cleaned = validate_answers(
        questions,
        {
            "harm": [s for s in suggestions if "generation" in s],
            "prompt_pii": [s for s in suggestions if "generation" not in s],
        },
        generation_ids=[first.pk, second.pk],
        texts={first.pk: first.text, second.pk: second.text},
        prompt_text=item.prompt.text,
    )
    assert cleaned["harm"][0]["generation"] == first.pk
    assert first.text[cleaned["harm"][0]["start"]:cleaned["harm"][0]["end"]] == "+1 (415) 555-0132"


def test_deleting_a_generation_removes_its_spans(project):
    item, first, _ = _item_with_pii(project)
    pii_scan_items(item_ids=[item.pk])
    generation_id = first.pk
    first.delete()
    assert not PiiSpan.objects.filter(generation_id=generation_id).exists()
    assert PiiSpan.objects.filter(prompt=item.prompt).exists()
