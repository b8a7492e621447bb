"""Reads for the annotator workspace and the annotation API.

Everything an annotator is shown passes through here, so this module is where the
rules of DESIGN.md invariant 5 live: no gold answers, no model names, no item
metadata, and other annotators' answers only where the project is not blind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q
from django.http import Http404
from django.utils import timezone

from apps.accounts.models import OrganizationMembership, ProjectMembership
from apps.annotations.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Draft,
    WorkspacePreference,
)
from apps.core.sql import columns, fetch_models
from apps.items.models import Generation, Item, ItemGeneration, ItemState, Prompt
from apps.privacy.detection import PII_TYPE_LABELS, RedactedText, redact, redact_with_offsets
from apps.privacy.models import PiiSpan
from apps.privacy.selectors import SUGGESTION_LABEL, pii_suggestions_from_spans, text_for_annotator
from apps.projects.models import GuidelineVersion, PiiPolicy, Project

# "1000+ left" rather than counting a million rows on every page.
PROGRESS_COUNT_LIMIT = 1000


def display_text_for_annotator(generation_or_prompt: Generation | Prompt, project: Project) -> str:
    """The text of one prompt or model output as this project's annotators may see it.

    Under "show" the text as it is; otherwise personal data that apps.privacy found is
    replaced by typed placeholders ([EMAIL], [PHONE], ...). (Under "exclude" such items
    are never leased; if one was, redacting is the safe answer.) The workspace itself
    uses the batched `item_content`, which applies the same rule to a whole item.
    """
    text = generation_or_prompt.text
    if project.pii_policy == PiiPolicy.SHOW:
        return text
    if isinstance(generation_or_prompt, Generation):
        spans = PiiSpan.objects.filter(generation_id=generation_or_prompt.pk)
    else:
        spans = PiiSpan.objects.filter(prompt_id=generation_or_prompt.pk, message_index__isnull=True)
    return text_for_annotator(text, list(spans), project.pii_policy)


def _redacted_texts(content: ItemContent, *, prompt_id: int) -> None:
    """Apply the project's PII policy to an item's texts (one query, only for items with
    personal data). Keeps the offset maps so span answers given over the redacted text
    are stored against the original (`ItemContent.spans_to_original`)."""
    spans = list(
        PiiSpan.objects.filter(Q(prompt_id=prompt_id) | Q(generation_id__in=content.generation_ids)).order_by("start")
    )
    content.pii_spans = spans  # the suggestions reuse them
    prompt_spans = [s for s in spans if s.prompt_id is not None and s.message_index is None]
    if prompt_spans:
        redacted = redact_with_offsets(content.original_prompt_text, prompt_spans)
        content.prompt_text = redacted.text
        content.display_maps[None] = redacted
    for response in content.responses:
        own = [s for s in spans if s.generation_id == response["id"]]
        if own:
            redacted = redact_with_offsets(content.original_texts[response["id"]], own)
            response["text"] = redacted.text
            content.display_maps[response["id"]] = redacted
    if content.prompt_messages:
        for index, message in enumerate(content.prompt_messages):
            own = [s for s in spans if s.message_index == index]
            if not own and message["content"] == content.original_prompt_text:
                own = prompt_spans  # a turn equal to the prompt text was scanned as the prompt
            if own:
                message["content"] = redact(message["content"], own)


@dataclass
class DraftState:
    answers: dict[str, Any]
    active_ms: int
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"answers": self.answers, "active_ms": self.active_ms, "updated_at": self.updated_at}


@dataclass
class ItemContent:
    """What an annotator sees of one item, in display order. No gold, no metadata, no model names."""

    item_id: int
    is_harmful: bool
    prompt_text: str
    prompt_messages: list[dict[str, str]] | None
    responses: list[dict[str, Any]] = field(default_factory=list)  # {"id", "label", "text"}
    original_texts: dict[int, str] = field(default_factory=dict)
    original_prompt_text: str = ""
    guideline_version: int = 0
    draft: DraftState | None = None
    submitted_id: int | None = None
    submitted_fingerprint: str = ""
    # Redacted text → original offsets, per generation id (None: the prompt text).
    display_maps: dict[int | None, RedactedText] = field(default_factory=dict)
    has_pii: bool = False
    prompt_id: int | None = None
    # The item's PiiSpan rows once loaded (by the redaction, or by `pii_suggestions`).
    pii_spans: list[PiiSpan] | None = None

    @cached_property
    def pii_suggestions(self) -> list[dict[str, Any]]:
        """Detected personal data as span suggestions over the texts as shown (see
        `pii_suggestions_for_content`). Computed on first use, so the submit path,
        which never reads it, pays nothing."""
        return pii_suggestions_for_content(self)

    def spans_to_original(self, questions: list[dict[str, Any]], answers: Any) -> Any:
        """Span answers are given over the text as shown; store them over the original.

        A selection touching a placeholder covers the whole original value. Malformed
        entries are left for validation to report.
        """
        if not self.display_maps or not isinstance(answers, dict):
            return answers
        mapped = dict(answers)
        for question in questions:
            value = answers.get(question["id"])
            if question.get("type") != "spans" or not isinstance(value, list):
                continue
            converted = []
            for span in value:
                if isinstance(span, dict) and isinstance(span.get("start"), int) and isinstance(span.get("end"), int):
                    key = None if question.get("target") == "prompt" else _generation_key(span.get("generation"))
                    if key in self.display_maps:
                        start, end = self.display_maps[key].to_original(span["start"], span["end"])
                        span = {**span, "start": start, "end": end}
                converted.append(span)
            mapped[question["id"]] = converted
        return mapped

    @property
    def generation_ids(self) -> list[int]:
        return [response["id"] for response in self.responses]


def _generation_key(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def response_label(position: int) -> str:
    return chr(ord("A") + position) if position < 26 else str(position + 1)


# The hot path's one query (next and submit both read it): the item's generations in
# display order joined with the item and its prompt, the guideline version in force, the
# assignment's draft and, when asked, the annotation already stored for it. LEFT JOINs
# keep an item without generations (one row of NULLs). Raw SQL: the ORM spent more time
# compiling the equivalent subqueries than PostgreSQL spends running them. jsonb arrives
# as text (Django's psycopg2 setup), hence json.loads below.
_ITEM_CONTENT_SQL = f"""
SELECT ig.generation_id, g.text, i.is_harmful, i.has_pii, i.prompt_id, p.text, p.messages,
       (SELECT v.version FROM {GuidelineVersion._meta.db_table} v
         WHERE v.project_id = %(project)s ORDER BY v.version DESC LIMIT 1),
       d.answers, d.active_ms, d.updated_at, a.id, a.request_fingerprint
FROM {Item._meta.db_table} i
JOIN {Prompt._meta.db_table} p ON p.id = i.prompt_id
LEFT JOIN {ItemGeneration._meta.db_table} ig ON ig.item_id = i.id
LEFT JOIN {Generation._meta.db_table} g ON g.id = ig.generation_id
LEFT JOIN {Draft._meta.db_table} d ON d.assignment_id = %(assignment)s
LEFT JOIN {Annotation._meta.db_table} a ON a.assignment_id = %(assignment)s AND %(with_submission)s
WHERE i.id = %(item)s
ORDER BY ig.position
"""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def item_content(
    *, item_id: int, project: Project, assignment_id: int | None = None, with_submission: bool = False
) -> ItemContent:
    """One query: the item's generations in display order with the item, its prompt, the
    guideline version in force and (with `assignment_id`) the assignment's draft and,
    `with_submission`, the id and answer fingerprint of an annotation already stored for it.
    Raises Item.DoesNotExist for an item that is gone."""
    with connection.cursor() as cursor:
        cursor.execute(
            _ITEM_CONTENT_SQL,
            {"item": item_id, "project": project.pk, "assignment": assignment_id,
             "with_submission": bool(with_submission and assignment_id is not None)},
        )
        rows = cursor.fetchall()
    if not rows:
        raise Item.DoesNotExist(f"No item {item_id}")
    first = rows[0]
    shared = {
        "item__is_harmful": first[2], "item__has_pii": first[3], "item__prompt_id": first[4],
        "item__prompt__text": first[5], "item__prompt__messages": _json(first[6]), "guideline_version": first[7],
        "draft_answers": _json(first[8]), "draft_active_ms": first[9], "draft_updated_at": first[10],
        "submitted_id": first[11], "submitted_fingerprint": first[12],
    }
    rows = [row for row in rows if row[0] is not None]
    raw_messages = shared["item__prompt__messages"]
    prompt_text = shared["item__prompt__text"]
    messages = None
    if raw_messages:
        # Chat prompts: roles and text only; message-level extras are not shown.
        messages = [
            {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
            for m in raw_messages
            if isinstance(m, dict)
        ]
    content = ItemContent(
        item_id=item_id,
        is_harmful=shared["item__is_harmful"],
        prompt_text=prompt_text,
        prompt_messages=messages,
        original_prompt_text=prompt_text,
        guideline_version=shared["guideline_version"] or 0,
        has_pii=shared["item__has_pii"],
        prompt_id=shared["item__prompt_id"],
    )
    content.submitted_id = shared.get("submitted_id")
    content.submitted_fingerprint = shared.get("submitted_fingerprint") or ""
    if shared.get("draft_updated_at") is not None:
        content.draft = DraftState(
            answers=shared["draft_answers"], active_ms=shared["draft_active_ms"], updated_at=shared["draft_updated_at"]
        )
    for position, (generation_id, text, *_) in enumerate(rows):
        content.responses.append({"id": generation_id, "label": response_label(position), "text": text})
        content.original_texts[generation_id] = text
    if shared["item__has_pii"] and project.pii_policy != PiiPolicy.SHOW:
        _redacted_texts(content, prompt_id=shared["item__prompt_id"])
    return content


def pii_suggestions_for_content(content: ItemContent) -> list[dict[str, Any]]:
    """apps.privacy's suggestions (`pii_suggestions_from_spans`) for the item on screen,
    with offsets into the text AS SHOWN and a readable `pii_label`.

    Under "redact" a suggestion covers its placeholder ("[EMAIL]") exactly, so
    `ItemContent.spans_to_original` maps a kept suggestion back to the stored value on
    submit; under "show" the offsets are the stored ones. No query for an item without
    personal data or when the redaction loaded the spans already; one otherwise.
    """
    if not content.has_pii:
        return []
    if content.pii_spans is None:
        content.pii_spans = list(
            PiiSpan.objects.filter(
                Q(prompt_id=content.prompt_id, message_index__isnull=True)
                | Q(generation_id__in=content.generation_ids)
            ).order_by("start")
        )
    shown: list[dict[str, Any]] = []
    seen: set[tuple[Any, int, int]] = set()
    for suggestion in pii_suggestions_from_spans(content.pii_spans):
        key = suggestion.get("generation")
        if key is not None and key not in content.original_texts:
            continue
        display = content.display_maps.get(key)
        if display is not None:
            start, end = display.to_display(suggestion["start"], suggestion["end"])
            suggestion = {**suggestion, "start": start, "end": end}
        # Overlapping values share one placeholder: suggest it once.
        if (key, suggestion["start"], suggestion["end"]) in seen:
            continue
        seen.add((key, suggestion["start"], suggestion["end"]))
        suggestion["pii_label"] = PII_TYPE_LABELS.get(suggestion["pii_type"], suggestion["pii_type"])
        shown.append(suggestion)
    return shown


def suggestions_for_question(question: dict[str, Any], suggestions: Any) -> list[dict[str, Any]]:
    """The suggestions a spans question starts with: only a question whose labels include
    SUGGESTION_LABEL gets any (a missing label is never invented), and only those over its
    target (the prompt text, or the responses)."""
    if question.get("type") != "spans" or not isinstance(suggestions, list) or not suggestions:
        return []
    labels = {label.get("value") for label in question.get("labels") or [] if isinstance(label, dict)}
    if SUGGESTION_LABEL not in labels:
        return []
    on_prompt = question.get("target", "response") == "prompt"
    return [s for s in suggestions if isinstance(s, dict) and ("generation" in s) != on_prompt]


# The assignment with its project (as select_related would give it), only when it is the
# caller's and the caller still belongs to the project (a membership, or the organization).
_OWN_ASSIGNMENT_SQL = f"""
SELECT {columns("a", Assignment)}, {columns("p", Project)}
FROM {Assignment._meta.db_table} a
JOIN {Project._meta.db_table} p ON p.id = a.project_id
WHERE a.id = %(id)s AND a.annotator_id = %(user)s
  AND (EXISTS (SELECT 1 FROM {ProjectMembership._meta.db_table} m
                WHERE m.project_id = a.project_id AND m.user_id = %(user)s)
       OR EXISTS (SELECT 1 FROM {OrganizationMembership._meta.db_table} o
                   WHERE o.organization_id = p.organization_id AND o.user_id = %(user)s))
"""


def assignment_for_annotator(*, user, assignment_id: int | str) -> Assignment:  # type: ignore[no-untyped-def]
    """The caller's own assignment in a project they still belong to; anything else is a 404.

    One query: ownership and current membership are checked together, so another
    annotator's (or another tenant's) assignment id is indistinguishable from a
    missing one.
    """
    try:
        pk = int(assignment_id)
    except (TypeError, ValueError):
        raise Http404("No such assignment") from None
    if not user.is_authenticated or not 0 < pk < 2**63:
        raise Http404("No such assignment")
    found = fetch_models(_OWN_ASSIGNMENT_SQL, {"id": pk, "user": user.pk}, Assignment, Project)
    if found is None:
        raise Http404("No such assignment")
    assignment, project = found
    assignment.project = project
    return assignment


def current_guidelines(project: Project) -> GuidelineVersion | None:
    return GuidelineVersion.objects.filter(project=project).order_by("-version").first()


def previous_answers_for(*, assignment: Assignment, project: Project) -> list[dict[str, Any]]:
    """Other annotators' answers on this item — only in a non-blind project, never on gold items."""
    if project.blind_mode or assignment.is_gold:
        return []
    rows = (
        Annotation.objects.filter(item_id=assignment.item_id, surplus=False)
        .exclude(annotator_id=assignment.annotator_id)
        .order_by("submitted_at")
        .values_list("answers", flat=True)[:20]
    )
    return [{"label": f"Annotator {n}", "answers": answers} for n, answers in enumerate(rows, start=1)]


def workspace_preference_for(*, annotator, project: Project) -> WorkspacePreference | None:  # type: ignore[no-untyped-def]
    return WorkspacePreference.objects.filter(project=project, annotator=annotator).first()


@dataclass
class Progress:
    done_today: int
    done_total: int
    left: int
    left_is_lower_bound: bool
    cap: int | None
    # Items marked possibly harmful leased to the annotator today, and the project's daily cap.
    harmful_today: int = 0
    harmful_cap: int | None = None

    @property
    def left_display(self) -> str:
        return f"{self.left}+" if self.left_is_lower_bound else str(self.left)


def progress_for(  # type: ignore[no-untyped-def]
    *, annotator, project: Project, now: datetime | None = None, harmful_today: int | None = None
) -> Progress:
    """Done today, done in total, how many items are left for this annotator, and how many
    harmful items they saw today (pass `harmful_today` from `lease_next`'s outcome, which
    counts it anyway, to save the query).

    "Left" counts open items that still need answers and that this annotator has not
    been given, stopping at PROGRESS_COUNT_LIMIT so the cost does not grow with the
    project.
    """
    now = now or timezone.now()
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    mine = Annotation.objects.filter(annotator=annotator, project=project)
    done_total = mine.count()
    done_today = mine.filter(submitted_at__gte=day_start).count() if done_total else 0
    taken = Assignment.objects.filter(item_id=OuterRef("pk"), annotator=annotator)
    eligible = (
        Item.objects.filter(project=project, state=ItemState.OPEN, active_count__lt=F("required_annotations"))
        .filter(~Exists(taken))
        .values("pk")[: PROGRESS_COUNT_LIMIT + 1]
    )
    left = len(eligible)
    lower_bound = left > PROGRESS_COUNT_LIMIT
    left = min(left, PROGRESS_COUNT_LIMIT)
    cap = project.per_annotator_cap
    if cap is not None:
        used = Assignment.objects.filter(
            project=project, annotator=annotator, status__in=[AssignmentStatus.LIVE, AssignmentStatus.SUBMITTED]
        ).count()
        remaining = max(cap - used, 0)
        if remaining <= left:
            left, lower_bound = remaining, False
    if harmful_today is None:
        harmful_today = Assignment.objects.filter(
            project=project, annotator=annotator, is_harmful=True, leased_at__gte=day_start
        ).count()
    return Progress(
        done_today=done_today,
        done_total=done_total,
        left=left,
        left_is_lower_bound=lower_bound,
        cap=cap,
        harmful_today=harmful_today,
        harmful_cap=project.harmful_exposure_cap,
    )


def no_work_reason(*, annotator, project: Project) -> str:  # type: ignore[no-untyped-def]
    """Why lease_next_item found nothing, in words the annotator can act on."""
    if project.archived_at is not None:
        return "archived"
    cap = project.per_annotator_cap
    if cap is not None:
        used = Assignment.objects.filter(
            project=project, annotator=annotator, status__in=[AssignmentStatus.LIVE, AssignmentStatus.SUBMITTED]
        ).count()
        if used >= cap:
            return "cap"
    waiting = Item.objects.filter(project=project, state=ItemState.OPEN).filter(
        ~Q(active_count__lt=F("required_annotations"))
    )
    if waiting.exclude(Exists(Assignment.objects.filter(item_id=OuterRef("pk"), annotator=annotator))).exists():
        # Items exist but others hold them: leases may come back when they expire.
        return "leased"
    return "done"


def lease_seconds(project: Project) -> int:
    return int(timedelta(minutes=project.lease_minutes).total_seconds())
