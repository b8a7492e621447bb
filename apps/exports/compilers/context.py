"""What every compiler shares: options, aggregation, the text pipeline, counters.

The text pipeline for model-written text is: mask harmful/false spans (when asked;
offsets refer to the original text) → redact personal data. Annotator-written text
(rewrites, rationales) only goes through redaction.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.exports.aggregation import Aggregate, apply_review, from_quality, majority_vote
from apps.exports.options import ExportOptions
from apps.exports.redaction import PiiRedactor
from apps.exports.source import Bundle, Response
from apps.exports.textops import Edited, Replacement, apply_replacements, placeholder_for


@dataclass(slots=True)
class Record:
    row: dict[str, Any]
    models: tuple[str, ...] = ()
    # Categorical facts for the card's label distributions, e.g. (("source", "pairwise"),).
    labels: tuple[tuple[str, str], ...] = ()
    margin: float | None = None


def pseudonymizer(salt: str) -> Callable[[int], str]:
    """Annotator id → stable pseudonym within a project (HMAC-SHA256 with the project's salt)."""
    cache: dict[int, str] = {}
    key = salt.encode()

    def pseudonym(user_id: int) -> str:
        value = cache.get(user_id)
        if value is None:
            value = "ann_" + hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()[:16]
            cache[user_id] = value
        return value

    return pseudonym


class Context:
    def __init__(self, options: ExportOptions, questions: list[dict[str, Any]], *,
                 redactor: PiiRedactor | None, pseudonym: Callable[[int], str]):
        self.options = options
        self.questions = questions
        self.by_id = {q["id"]: q for q in questions}
        self.redactor = redactor
        # Without fresh detection, text with no stored spans and no harm comes out unchanged.
        self.stored_spans_only = redactor is None or redactor.source == "scan"
        self.pseudonym = pseudonym
        self.harmful_labels = set(options.harmful_labels)
        self.span_questions = [q for q in questions if q["type"] == "spans"]
        self.aggregate_questions = self._aggregated(options, questions)
        self.counters: Counter[str] = Counter()
        self._prompt_id: int | None = None
        self._seen: set[Any] = set()

    @staticmethod
    def _aggregated(options: ExportOptions, questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The questions whose aggregate this export reads (all of them for label exports). The card's
        agreement and confidence figures are about these, the labels the dataset is built from."""
        if options.kind in ("labels", "spans", "raw"):
            return questions
        sources = set(options.sources)
        used = {
            options.pairwise_question if "pairwise" in sources else None,
            options.ranking_question if "ranking" in sources else None,
            options.rating_question if sources & {"rating", "rated"} else None,
            options.verdict_question if "verdict" in sources else None,
        }
        return [q for q in questions if q["id"] in used]

    # --- selection ---------------------------------------------------------------

    def aggregate(self, bundle: Bundle) -> Aggregate:
        if bundle.aggregate is None:
            if bundle.quality is not None:
                aggregate = from_quality(bundle.quality)
            else:
                aggregate = majority_vote(self.aggregate_questions, [a.answers for a in bundle.annotations],
                                          bundle.generation_ids)
            if bundle.review is not None:
                aggregate = apply_review(aggregate, bundle.review, {a.id: a.answers for a in bundle.annotations})
            bundle.aggregate = aggregate
        return bundle.aggregate

    def admit(self, bundle: Bundle) -> bool:
        """Apply the item-level filters that need the aggregate; count why items are left out."""
        options = self.options
        if len(bundle.annotations) < options.min_annotations:
            return self._skip("fewer annotations than min_annotations")
        if not bundle.responses:
            return self._skip("no responses")
        if options.reviewed_only or options.min_agreement is not None or options.min_confidence is not None:
            aggregate = self.aggregate(bundle)
            if options.reviewed_only and not aggregate.reviewed:
                return self._skip("not reviewed")
            if options.min_agreement is not None and (
                aggregate.agreement is None or aggregate.agreement < options.min_agreement
            ):
                return self._skip("agreement below min_agreement")
            if options.min_confidence is not None and aggregate.confidence < options.min_confidence:
                return self._skip("confidence below min_confidence")
        if self.harmful_labels:
            bundle.harm = self._harmful_spans(bundle)
            if bundle.harm:
                if options.harmful_spans == "drop_item":
                    return self._skip("harmful or false spans (drop_item)")
                self.counters[f"harmful items ({options.harmful_spans})"] += 1
        return True

    def _skip(self, reason: str) -> bool:
        self.counters[f"skipped: {reason}"] += 1
        return False

    def _harmful_spans(self, bundle: Bundle) -> dict[Any, list[tuple[int, int, str]]]:
        """Union of every included annotator's harmful/false spans: a span one person marked is masked."""
        harm: dict[Any, list[tuple[int, int, str]]] = {}
        for question in self.span_questions:
            for annotation in bundle.annotations:
                for span in annotation.answers.get(question["id"]) or []:
                    if span.get("label") not in self.harmful_labels:
                        continue
                    target = "prompt" if question.get("target") == "prompt" else int(span["generation"])
                    harm.setdefault(target, []).append((span["start"], span["end"], span["label"]))
        return harm

    def first_in_prompt(self, bundle: Bundle, key: Any) -> bool:
        """True the first time `key` is seen for this prompt (items arrive grouped by prompt)."""
        if bundle.prompt_id != self._prompt_id:
            self._prompt_id = bundle.prompt_id
            self._seen = set()
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    # --- text pipeline ---------------------------------------------------------------

    def edit_model_text(self, text: str, *, pii: list[tuple[int, int, str]] | None,
                        harm: list[tuple[int, int, str]] | None = None) -> Edited:
        """Model-written text: harmful spans masked (when asked) and personal data redacted, in one
        pass over the original offsets; the result maps original offsets into the new text."""
        if not harm and not pii and self.stored_spans_only:
            return Edited(text, [])  # the common case: nothing to replace
        replacements: list[Replacement] = []
        if harm and self.options.harmful_spans == "mask":
            self.counters["harmful spans masked"] += len(harm)
            replacements += [Replacement(s, e, placeholder_for(label)) for s, e, label in harm]
        if self.redactor:
            replacements += self.redactor.replacements(text, pii)
        return apply_replacements(text, replacements)

    def clean(self, text: str) -> str:
        """Annotator-written text (rewrites, rationales): personal data detected now and redacted."""
        if not self.redactor or not text:
            return text
        return apply_replacements(text, self.redactor.replacements(text, None, written_by_annotator=True)).text

    def model_text(self, text: str, *, pii: list[tuple[int, int, str]] | None,
                   harm: list[tuple[int, int, str]] | None = None) -> str:
        """`edit_model_text(...).text`; the common case (nothing to replace) returns `text` at once,
        as this runs for every prompt and response written."""
        if not harm and not pii and self.stored_spans_only:
            return text
        return self.edit_model_text(text, pii=pii, harm=harm).text

    def response_text(self, bundle: Bundle, response: Response) -> str:
        return self.model_text(response.text, pii=bundle.pii_generations.get(response.id),
                               harm=bundle.harm.get(response.id))

    def is_harmful(self, bundle: Bundle, response: Response) -> bool:
        return bool(bundle.harm.get(response.id))

    def _prompt_text(self, bundle: Bundle) -> str:
        """The plain prompt text with its spans (harmful and stored PII) applied."""
        return self.model_text(bundle.prompt_text, pii=bundle.pii_prompt.get(None), harm=bundle.harm.get("prompt"))

    def prompt_messages(self, bundle: Bundle) -> list[dict[str, Any]]:
        if not bundle.prompt_messages:
            return [{"role": "user", "content": self._prompt_text(bundle)}]
        messages = bundle.prompt_messages
        # Prompt spans (harmful and stored PII) are offsets into the plain prompt text: the chat
        # turn equal to it takes those; other turns have their own stored PII spans.
        target = max((i for i, m in enumerate(messages) if m.get("content") == bundle.prompt_text), default=None)
        cleaned = []
        for position, message in enumerate(messages):
            content = str(message.get("content", ""))
            if position == target:
                content = self.model_text(content, pii=bundle.pii_prompt.get(None), harm=bundle.harm.get("prompt"))
            else:
                content = self.model_text(content, pii=bundle.pii_prompt.get(position))
            cleaned.append({"role": str(message.get("role", "user")), "content": content})
        return cleaned

    def prompt_plain(self, bundle: Bundle) -> str:
        if not bundle.prompt_messages:
            return self._prompt_text(bundle)
        messages = self.prompt_messages(bundle)
        if len(messages) == 1:
            return messages[0]["content"]
        self.counters["chat prompts flattened"] += 1
        # A chat prompt as one string, for the plain (non-conversational) formats.
        return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)

    def prompt_for(self, bundle: Bundle) -> Any:
        return self.prompt_messages(bundle) if self.options.conversational else self.prompt_plain(bundle)

    def completion_for(self, text: str) -> Any:
        return [{"role": "assistant", "content": text}] if self.options.conversational else text

    def with_ids(self, row: dict[str, Any], bundle: Bundle) -> dict[str, Any]:
        if self.options.include_ids:
            row["item_id"] = bundle.item_id
        return row


def per_response_values(question: dict[str, Any] | None, answers: dict[str, Any], bundle: Bundle
                        ) -> list[tuple[Response, Any]]:
    """(response, value) for a question about each response, or about the item's only response."""
    if question is None or question["id"] not in answers:
        return []
    value = answers[question["id"]]
    if question.get("applies_to") == "each_response":
        if not isinstance(value, dict):
            return []
        return [(r, value[str(r.id)]) for r in bundle.responses if str(r.id) in value]
    if len(bundle.responses) == 1:
        return [(bundle.responses[0], value)]
    return []
