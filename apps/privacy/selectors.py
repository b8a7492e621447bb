"""Reading personal-data spans, and applying a project's policy to what annotators see.

For the assignment engine and the workspace:

    exclude_pii_items(qs, project)             drop items with personal data under "exclude"
    text_for_annotator(text, spans, policy)    the text as the annotator may see it
    annotator_texts_for_item(item, policy)     prompt, chat messages and responses, policy applied
    pii_suggestions_for_item(item)             spans in the schema's span-answer format
    pii_suggestions_from_spans(spans)          the same for spans already loaded
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from apps.items.models import Item
from apps.privacy.detection import PII_TYPE_LABELS, RedactedText, redact, redact_with_offsets
from apps.privacy.models import PiiScanJob, PiiSpan
from apps.projects.models import PiiPolicy, Project

SUGGESTION_LABEL = "personal_data"


def exclude_pii_items(qs: QuerySet[Item], project: Project) -> QuerySet[Item]:
    """Under the "exclude" policy, items with personal data never reach annotators."""
    if project.pii_policy == PiiPolicy.EXCLUDE:
        return qs.filter(has_pii=False)
    return qs


def text_for_annotator(text: str, spans: Iterable[Any], policy: str) -> str:
    """`text` as an annotator may see it under `policy`.

    "show" leaves it as it is. "redact" replaces every span with its placeholder, and
    so does "exclude": such an item should never be assigned, and if it is anyway
    (the policy changed after the lease), redaction is the safe answer.
    """
    if policy == PiiPolicy.SHOW:
        return text
    return redact(text, spans)


@dataclass
class ItemSpans:
    prompt: list[PiiSpan] = field(default_factory=list)
    messages: dict[int, list[PiiSpan]] = field(default_factory=dict)
    generations: dict[int, list[PiiSpan]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.prompt or self.messages or self.generations)


def spans_for_item(item: Item) -> ItemSpans:
    """Every stored span of the item's prompt (text and chat messages) and responses. One query."""
    generation_ids = list(item.item_generations.values_list("generation_id", flat=True))
    found = ItemSpans()
    for span in PiiSpan.objects.filter(Q(prompt_id=item.prompt_id) | Q(generation_id__in=generation_ids)).order_by(
        "start"
    ):
        if span.generation_id is not None:
            found.generations.setdefault(span.generation_id, []).append(span)
        elif span.message_index is None:
            found.prompt.append(span)
        else:
            found.messages.setdefault(span.message_index, []).append(span)
    return found


@dataclass
class AnnotatorTexts:
    """What the workspace shows. `offsets` maps display offsets back to stored ones
    (RedactedText.to_original) for span answers; None where the text is unchanged."""

    prompt_text: str
    prompt_messages: list[dict[str, Any]]
    responses: dict[int, str]
    prompt_offsets: RedactedText | None
    response_offsets: dict[int, RedactedText]


def annotator_texts_for_item(item: Item, *, policy: str | None = None) -> AnnotatorTexts:
    """The item's prompt, messages and responses with the project's policy applied."""
    policy = policy or item.project.pii_policy
    spans = spans_for_item(item)
    prompt = item.prompt
    redacting = policy != PiiPolicy.SHOW
    prompt_offsets = redact_with_offsets(prompt.text, spans.prompt) if redacting and spans.prompt else None
    messages = []
    for index, message in enumerate(prompt.as_messages()):
        content = message.get("content", "")
        if redacting and isinstance(content, str):
            # A turn equal to prompt.text was scanned as the prompt text.
            own = spans.messages.get(index) or (spans.prompt if content == prompt.text else None)
            if own:
                content = redact(content, own)
        messages.append({**message, "content": content})
    responses: dict[int, str] = {}
    response_offsets: dict[int, RedactedText] = {}
    for generation in item.ordered_generations():
        own = spans.generations.get(generation.pk)
        if redacting and own:
            redacted = redact_with_offsets(generation.text, own)
            responses[generation.pk] = redacted.text
            response_offsets[generation.pk] = redacted
        else:
            responses[generation.pk] = generation.text
    return AnnotatorTexts(
        prompt_text=prompt_offsets.text if prompt_offsets else prompt.text,
        prompt_messages=messages,
        responses=responses,
        prompt_offsets=prompt_offsets,
        response_offsets=response_offsets,
    )


def pii_suggestions_for_item(item: Item) -> list[dict[str, Any]]:
    """Detected spans as span answers (apps.projects.schema): label "personal_data",
    offsets into the stored texts; responses carry "generation", prompt spans do not.
    Annotators confirm or remove them. Spans inside chat turns other than the prompt
    text are left out: span questions target the prompt text or a response.
    """
    spans = spans_for_item(item)
    return pii_suggestions_from_spans(
        [*spans.prompt, *(span for own in spans.generations.values() for span in own)]
    )


def pii_suggestions_from_spans(spans: Iterable[PiiSpan]) -> list[dict[str, Any]]:
    """`pii_suggestions_for_item` for spans already loaded (chat-turn spans are skipped)."""
    suggestions = []
    for span in spans:
        if span.generation_id is not None:
            suggestions.append({"start": span.start, "end": span.end, "label": SUGGESTION_LABEL,
                                "generation": span.generation_id, "pii_type": span.type})
        elif span.message_index is None:
            suggestions.append({"start": span.start, "end": span.end, "label": SUGGESTION_LABEL,
                                "pii_type": span.type})
    return suggestions


# --- researcher page ---------------------------------------------------------------


def pii_counts_by_type(project: Project) -> list[dict[str, Any]]:
    rows = (
        PiiSpan.objects.filter(project=project).values("type").annotate(count=Count("id")).order_by("-count", "type")
    )
    return [{"type": row["type"], "label": PII_TYPE_LABELS.get(row["type"], row["type"]), "count": row["count"]}
            for row in rows]


def pii_summary_for_project(project: Project) -> dict[str, Any]:
    items = Item.objects.filter(project=project).aggregate(total=Count("id"), with_pii=Count("id", filter=Q(has_pii=True)))
    return {
        "policy": project.pii_policy,
        "items_total": items["total"],
        "items_with_pii": items["with_pii"],
        "by_type": pii_counts_by_type(project),
        "latest_scan": latest_scan_job(project),
    }


def latest_scan_job(project: Project) -> PiiScanJob | None:
    return PiiScanJob.objects.filter(project=project).order_by("-created_at").first()


def pii_items_for_project(project: Project, *, pii_type: str | None = None) -> QuerySet[Item]:
    """Items with personal data, newest first, with their prompt (for the listing)."""
    qs = Item.objects.filter(project=project, has_pii=True).select_related("prompt").order_by("-id")
    if pii_type:
        # Values come from the allowlist PII_TYPE_LABELS (checked by the caller).
        qs = qs.filter(
            Q(prompt__pii_spans__type=pii_type) | Q(item_generations__generation__pii_spans__type=pii_type)
        ).distinct()
    return qs


def pii_types_for_items(items: Iterable[Item]) -> dict[int, list[str]]:
    """The PII types found in each item (prompt or responses), for a page of items. Two queries."""
    items = list(items)
    prompt_ids = {item.prompt_id for item in items}
    from apps.items.models import ItemGeneration

    links = list(ItemGeneration.objects.filter(item__in=items).values_list("item_id", "generation_id"))
    generation_ids = {generation_id for _, generation_id in links}
    by_prompt: dict[int, set[str]] = {}
    by_generation: dict[int, set[str]] = {}
    for prompt_id, generation_id, kind in PiiSpan.objects.filter(
        Q(prompt_id__in=prompt_ids) | Q(generation_id__in=generation_ids)
    ).values_list("prompt_id", "generation_id", "type"):
        if prompt_id is not None:
            by_prompt.setdefault(prompt_id, set()).add(kind)
        else:
            by_generation.setdefault(generation_id, set()).add(kind)
    result = {item.pk: set(by_prompt.get(item.prompt_id, set())) for item in items}
    for item_id, generation_id in links:
        result[item_id] |= by_generation.get(generation_id, set())
    return {item_id: sorted(kinds) for item_id, kinds in result.items()}
