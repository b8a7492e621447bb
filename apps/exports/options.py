"""Export options: one parser for the page, the API and the management command.

`parse_options(project, kind, fmt, raw)` turns loosely typed input (form strings, JSON,
command-line `key=value`) into an `ExportOptions`, resolving questions against the
project's schema. Every problem is reported at once, keyed by option name, with a
message that says what was expected.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from apps.exports.models import ExportFormat, ExportKind

HARMFUL_ACTIONS = ("keep", "drop_item", "mask", "weight_zero")
SFT_SOURCES = ("rewrites", "rated")
PREFERENCE_SOURCES = ("pairwise", "ranking", "rating", "rewrites")
KTO_SOURCES = ("rating", "verdict")
# Span labels treated as harmful or false unless the caller names them: values that say so.
_HARMFUL_LABEL_RE = re.compile(r"harm|false|toxic|unsafe|misinfo|hate|violen|halluc", re.IGNORECASE)
_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no", ""}
CHAT_KINDS = (ExportKind.SFT, ExportKind.OPENAI_CHAT)
PAIR_KINDS = (ExportKind.PREFERENCE, ExportKind.OPENAI_PREFERENCE)


@dataclass
class ExportOptionsError(Exception):
    errors: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{name}: {message}" for name, message in self.errors.items())


@dataclass
class ExportOptions:
    kind: str
    format: str
    # Split by prompt: a prompt's records all land in the same split.
    test_fraction: float = 0.0
    seed: int = 0
    # Item and annotation filters
    min_agreement: float | None = None
    min_confidence: float | None = None
    min_annotations: int = 1
    reviewed_only: bool = False
    exclude_gold: bool = True
    exclude_flagged: bool = True
    exclude_suspended: bool = True
    guideline_version: int | None = None
    date_from: str | None = None
    date_to: str | None = None
    # Safety and privacy
    redact_pii: bool = True
    pii_source: str = "scan"
    harmful_spans: str = "keep"
    harmful_labels: list[str] = field(default_factory=list)
    include_ids: bool = False
    # Compilation
    conversational: bool = False
    sft_format: str = "messages"
    sources: list[str] = field(default_factory=list)
    rating_question: str | None = None
    pairwise_question: str | None = None
    ranking_question: str | None = None
    rewrite_question: str | None = None
    verdict_question: str | None = None
    spans_question: str | None = None
    min_rating: float | None = None
    positive_values: list[str] = field(default_factory=list)
    margin: bool = False
    ranking_pairs: str = "all"
    ties: str = "drop"
    both_bad: str = "drop"
    min_rating_gap: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be true or false")


def _number(value: Any, *, low: float, high: float, integer: bool = False) -> float | int:
    span = f"{int(low)} to {int(high)}" if integer else f"{low:g} to {high:g}"
    if isinstance(value, bool):
        raise ValueError(f"must be a number from {span}")
    try:
        number = int(str(value).strip()) if integer else float(str(value).strip())
    except ValueError:
        raise ValueError(f"must be {'a whole number' if integer else 'a number'} from {span}") from None
    if (not integer and math.isnan(number)) or not low <= number <= high:
        raise ValueError(f"must be from {span}")
    return number


def _choice(value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value).strip()
    if text not in allowed:
        raise ValueError(f"must be one of {', '.join(allowed)}")
    return text


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value if str(part).strip()]
    raise ValueError("must be a list or a comma-separated string")


def _date(value: Any) -> str:
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ValueError("must be a date as YYYY-MM-DD") from None


def _questions_of(questions: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [q for q in questions if q.get("type") in types]


def _default_min_rating(question: dict[str, Any]) -> float:
    """The top quarter of the scale (4 on 1-5, 6 on 1-7): 'rated above the threshold' by default."""
    low, high = question.get("min", 1), question.get("max", 5)
    return float(math.ceil(low + 0.75 * (high - low)))


_NUMBERS: dict[str, tuple[float, float, bool]] = {
    "test_fraction": (0.0, 0.5, False),
    "seed": (0, 2**31 - 1, True),
    "min_agreement": (0.0, 1.0, False),
    "min_confidence": (0.0, 1.0, False),
    "min_annotations": (1, 1000, True),
    "guideline_version": (1, 10**6, True),
    "min_rating": (-100.0, 100.0, False),
    "min_rating_gap": (0.0, 100.0, False),
}
_BOOLS = ("reviewed_only", "exclude_gold", "exclude_flagged", "exclude_suspended", "redact_pii", "include_ids",
          "conversational", "margin")
_CHOICES: dict[str, tuple[str, ...]] = {
    "harmful_spans": HARMFUL_ACTIONS,
    "pii_source": ("scan", "detect"),
    "sft_format": ("messages", "prompt_completion"),
    "ranking_pairs": ("all", "adjacent"),
    "ties": ("drop", "keep"),
    "both_bad": ("drop", "keep"),
}
_LISTS = ("harmful_labels", "sources", "positive_values")
_QUESTION_KEYS = ("rating_question", "pairwise_question", "ranking_question", "rewrite_question",
                  "verdict_question", "spans_question")
_DATES = ("date_from", "date_to")
KNOWN_KEYS = set(_NUMBERS) | set(_BOOLS) | set(_CHOICES) | set(_LISTS) | set(_QUESTION_KEYS) | set(_DATES)


def parse_options(*, questions: list[dict[str, Any]], kind: Any, fmt: Any, raw: dict[str, Any]) -> ExportOptions:
    """Validate and normalise; raise ExportOptionsError naming every bad option."""
    errors: dict[str, str] = {}
    if kind not in ExportKind.values:
        errors["kind"] = f"must be one of {', '.join(ExportKind.values)}"
    if fmt not in ExportFormat.values:
        errors["format"] = f"must be one of {', '.join(ExportFormat.values)}"
    if errors:
        raise ExportOptionsError(errors)
    options = ExportOptions(kind=kind, format=fmt)
    options.harmful_spans = "mask" if kind in CHAT_KINDS else "keep"
    for name in sorted(set(raw) - KNOWN_KEYS - {"kind", "format"}):
        errors[name] = "is not an export option"
    for name, value in raw.items():
        if name not in KNOWN_KEYS or value is None or (value == "" and name not in _BOOLS):
            continue
        try:
            if name in _NUMBERS:
                low, high, integer = _NUMBERS[name]
                setattr(options, name, _number(value, low=low, high=high, integer=integer))
            elif name in _BOOLS:
                setattr(options, name, _bool(value))
            elif name in _CHOICES:
                setattr(options, name, _choice(value, _CHOICES[name]))
            elif name in _LISTS:
                setattr(options, name, _list(value))
            elif name in _DATES:
                setattr(options, name, _date(value))
            else:
                setattr(options, name, str(value).strip())
        except ValueError as exc:
            errors[name] = str(exc)
    if options.date_from and options.date_to and options.date_from > options.date_to:
        errors["date_to"] = "is before date_from"
    _resolve_for_kind(options, questions, raw, errors)
    if errors:
        raise ExportOptionsError(errors)
    return options


def _pick(options: ExportOptions, key: str, questions: list[dict[str, Any]], types: tuple[str, ...],
          errors: dict[str, str], *, required: bool) -> dict[str, Any] | None:
    """The question named by `key`, or the first of `types`; record an error when none fits."""
    candidates = _questions_of(questions, *types)
    wanted = getattr(options, key)
    if wanted:
        match = next((q for q in candidates if q["id"] == wanted), None)
        if match is None:
            ids = ", ".join(q["id"] for q in candidates) or "none in this project"
            errors[key] = f"'{wanted}' is not a {' or '.join(types)} question (choose from: {ids})"
        return match
    if candidates:
        setattr(options, key, candidates[0]["id"])
        return candidates[0]
    if required:
        errors[key] = f"this export needs a {' or '.join(types)} question and the project has none"
    return None


def _resolve_for_kind(options: ExportOptions, questions: list[dict[str, Any]], raw: dict[str, Any],
                      errors: dict[str, str]) -> None:
    kind = options.kind
    span_labels = [label["value"] for q in _questions_of(questions, "spans") for label in q.get("labels", [])]
    if "harmful_labels" not in raw or not options.harmful_labels:
        options.harmful_labels = sorted({v for v in span_labels if _HARMFUL_LABEL_RE.search(v)})
    elif unknown := [v for v in options.harmful_labels if v not in span_labels]:
        errors["harmful_labels"] = f"not span labels of this project: {', '.join(unknown)}"
    if options.harmful_spans == "weight_zero" and kind != ExportKind.OPENAI_CHAT:
        errors["harmful_spans"] = "weight_zero only applies to OpenAI chat fine-tuning; use mask or drop_item"
    if options.include_ids and kind in (ExportKind.OPENAI_CHAT, ExportKind.OPENAI_PREFERENCE):
        errors["include_ids"] = "OpenAI fine-tuning files may not carry extra keys"
    if kind == ExportKind.OPENAI_PREFERENCE:
        options.conversational = True
    if kind in CHAT_KINDS:
        _resolve_sources(options, SFT_SOURCES, errors)
        rating = _pick(options, "rating_question", questions, ("rating",), errors, required="rated" in options.sources)
        rewrite = _pick(options, "rewrite_question", questions, ("rewrite",), errors,
                        required="rewrites" in options.sources)
        if "sources" not in raw:
            options.sources = [s for s, q in (("rewrites", rewrite), ("rated", rating)) if q]
            errors.pop("rating_question", None)
            errors.pop("rewrite_question", None)
            if not options.sources:
                errors["sources"] = "the project has no rewrite or rating question to build SFT examples from"
        if rating and options.min_rating is None:
            options.min_rating = _default_min_rating(rating)
    elif kind in PAIR_KINDS:
        _resolve_sources(options, PREFERENCE_SOURCES, errors)
        picked = {
            "pairwise": _pick(options, "pairwise_question", questions, ("pairwise",), errors,
                              required="pairwise" in options.sources),
            "ranking": _pick(options, "ranking_question", questions, ("ranking",), errors,
                             required="ranking" in options.sources),
            "rating": _pick(options, "rating_question", questions, ("rating",), errors,
                            required="rating" in options.sources),
            "rewrites": _pick(options, "rewrite_question", questions, ("rewrite",), errors,
                              required="rewrites" in options.sources),
        }
        if "sources" not in raw:
            # One judgement source (pairwise > ranking > rating) so an item is not counted twice,
            # plus rewrites, which are a separate signal.
            for key in ("pairwise_question", "ranking_question", "rating_question", "rewrite_question"):
                errors.pop(key, None)
            first = next((s for s in ("pairwise", "ranking", "rating") if picked[s]), None)
            options.sources = [s for s in (first, "rewrites" if picked["rewrites"] else None) if s]
            if not options.sources:
                errors["sources"] = "the project has no pairwise, ranking, rating or rewrite question"
    elif kind == ExportKind.KTO:
        _resolve_sources(options, KTO_SOURCES, errors)
        if not options.sources:
            has_verdict = bool(options.verdict_question) or not _questions_of(questions, "rating")
            options.sources = ["verdict" if has_verdict else "rating"]
        if len(options.sources) != 1:
            errors["sources"] = "KTO labels come from one source: rating or verdict"
        elif options.sources[0] == "rating":
            rating = _pick(options, "rating_question", questions, ("rating",), errors, required=True)
            if rating and options.min_rating is None:
                options.min_rating = _default_min_rating(rating)
        else:
            verdict = _pick(options, "verdict_question", questions, ("single_choice",), errors, required=True)
            if verdict:
                values = [o["value"] for o in verdict.get("options", [])]
                if not options.positive_values:
                    errors["positive_values"] = f"name the answers that mean 'good' (from: {', '.join(values)})"
                elif unknown := [v for v in options.positive_values if v not in values]:
                    errors["positive_values"] = f"not answers of '{verdict['id']}': {', '.join(unknown)}"
    elif kind == ExportKind.SPANS:
        _pick(options, "spans_question", questions, ("spans",), errors, required=True)


def _resolve_sources(options: ExportOptions, allowed: tuple[str, ...], errors: dict[str, str]) -> None:
    unknown = [s for s in options.sources if s not in allowed]
    if unknown:
        errors["sources"] = f"unknown sources {', '.join(unknown)} (choose from {', '.join(allowed)})"
        options.sources = [s for s in options.sources if s in allowed]
    options.sources = list(dict.fromkeys(options.sources))


def options_from_dict(data: dict[str, Any]) -> ExportOptions:
    """Rebuild stored (already normalised) options."""
    names = {f.name for f in dataclasses.fields(ExportOptions)}
    return ExportOptions(**{k: v for k, v in data.items() if k in names})
