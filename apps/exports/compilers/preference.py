"""Preference pairs: TRL DPO / ORPO / reward modelling and OpenAI preference fine-tuning.

Sources (from the aggregated answers):
    pairwise  "a" is the response at display position 0; ties and "both bad" are dropped or,
              when kept, written as (a, b) with margin 0
    ranking   best-first order expanded to all pairs or adjacent pairs
    rating    every two responses whose mean ratings differ by at least `min_rating_gap`
              (equal means are ties)
    rewrites  (the annotator's rewrite chosen, the original response rejected)

Margins: pairwise → mean strength of the winning votes (1-3) when the question asks for
strength, else the winning share of votes; ranking → Borda-point gap per annotator;
rating → difference of mean ratings; rewrites → 1.0; kept ties → 0.0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from apps.exports.compilers.context import Context, Record, per_response_values
from apps.exports.models import ExportKind
from apps.exports.source import Bundle, Response


@dataclass(slots=True)
class Pair:
    chosen: str
    rejected: str
    chosen_model: str
    rejected_model: str
    margin: float
    source: str
    tie: bool = False


def _response_pair(ctx: Context, bundle: Bundle, better: Response, worse: Response, margin: float,
                   source: str, tie: bool = False) -> Pair:
    return Pair(ctx.response_text(bundle, better), ctx.response_text(bundle, worse), better.model, worse.model,
                float(margin), source, tie)


def _pairwise(ctx: Context, bundle: Bundle, answers: dict[str, Any]) -> Iterator[Pair]:
    question = ctx.by_id[ctx.options.pairwise_question]
    value = answers.get(question["id"])
    if not isinstance(value, dict) or len(bundle.responses) != 2:
        return
    a, b = bundle.responses
    choice = value.get("choice")
    if choice in ("a", "b"):
        if question.get("strength") and value.get("strength") is not None:
            margin = float(value["strength"])
        else:
            aggregate = ctx.aggregate(bundle)
            margin = float(value.get("share", aggregate.question_confidence.get(question["id"], aggregate.confidence)))
        better, worse = (a, b) if choice == "a" else (b, a)
        yield _response_pair(ctx, bundle, better, worse, margin, "pairwise")
    elif choice in ("tie", "both_bad"):
        keep = ctx.options.ties if choice == "tie" else ctx.options.both_bad
        if keep == "keep":
            yield _response_pair(ctx, bundle, a, b, 0.0, f"pairwise {choice}", tie=True)
        else:
            ctx.counters[f"pairs dropped: {choice}"] += 1


def _ranking(ctx: Context, bundle: Bundle, answers: dict[str, Any]) -> Iterator[Pair]:
    aggregate = ctx.aggregate(bundle)
    qid = ctx.options.ranking_question
    order = answers.get(qid)
    if not isinstance(order, list):
        return
    by_id = {r.id: r for r in bundle.responses}
    ranked = [by_id[int(g)] for g in order if int(g) in by_id]
    points = aggregate.borda.get(qid, {})
    annotators = max(aggregate.annotation_count, 1)
    if ctx.options.ranking_pairs == "adjacent":
        pairs = list(zip(ranked, ranked[1:], strict=False))
    else:
        pairs = list(combinations(ranked, 2))
    for better, worse in pairs:
        if points:
            margin = (points.get(better.id, 0.0) - points.get(worse.id, 0.0)) / annotators
        else:
            margin = float(ranked.index(worse) - ranked.index(better))
        yield _response_pair(ctx, bundle, better, worse, margin, "ranking")


def _rating(ctx: Context, bundle: Bundle, answers: dict[str, Any]) -> Iterator[Pair]:
    rated = [(r, float(v)) for r, v in per_response_values(ctx.by_id[ctx.options.rating_question], answers, bundle)
             if isinstance(v, int | float)]
    for (first, first_rating), (second, second_rating) in combinations(rated, 2):
        gap = abs(first_rating - second_rating)
        if gap == 0:
            if ctx.options.ties == "keep":
                yield _response_pair(ctx, bundle, first, second, 0.0, "rating tie", tie=True)
            else:
                ctx.counters["pairs dropped: tie"] += 1
        elif gap >= ctx.options.min_rating_gap:
            better, worse = (first, second) if first_rating > second_rating else (second, first)
            yield _response_pair(ctx, bundle, better, worse, gap, "rating")
        else:
            ctx.counters["pairs dropped: rating gap below min_rating_gap"] += 1


def _rewrites(ctx: Context, bundle: Bundle) -> Iterator[Pair]:
    question = ctx.by_id[ctx.options.rewrite_question]
    seen: set[tuple[int, str]] = set()
    for annotation in bundle.annotations:
        for response, rewrite in per_response_values(question, annotation.answers, bundle):
            if not isinstance(rewrite, str) or not rewrite.strip() or rewrite.strip() == response.text.strip():
                continue
            if (response.id, rewrite) in seen:
                continue
            seen.add((response.id, rewrite))
            yield Pair(ctx.clean(rewrite), ctx.response_text(bundle, response), f"{response.model} (rewritten)",
                       response.model, 1.0, "rewrite")


def preference_pairs(ctx: Context, bundle: Bundle) -> Iterator[Pair]:
    sources = ctx.options.sources
    needs_aggregate = "pairwise" in sources or "ranking" in sources or "rating" in sources
    answers = ctx.aggregate(bundle).answers if needs_aggregate else {}
    if "pairwise" in sources:
        yield from _pairwise(ctx, bundle, answers)
    if "ranking" in sources:
        yield from _ranking(ctx, bundle, answers)
    if "rating" in sources:
        yield from _rating(ctx, bundle, answers)
    if "rewrites" in sources:
        yield from _rewrites(ctx, bundle)


def _labels(pair: Pair) -> tuple[tuple[str, str], ...]:
    return (("source", pair.source), ("winner", pair.chosen_model if not pair.tie else "(tie kept)"))


def compile_preference(ctx: Context, bundle: Bundle) -> Iterator[Record]:
    prompt = None
    for pair in preference_pairs(ctx, bundle):
        if prompt is None:
            prompt = ctx.prompt_for(bundle)
        row: dict[str, Any] = {
            "prompt": prompt,
            "chosen": ctx.completion_for(pair.chosen),
            "rejected": ctx.completion_for(pair.rejected),
        }
        if ctx.options.margin:
            row["margin"] = pair.margin
        yield Record(ctx.with_ids(row, bundle), (pair.chosen_model, pair.rejected_model), _labels(pair), pair.margin)


def compile_openai_preference(ctx: Context, bundle: Bundle) -> Iterator[Record]:
    messages = None
    for pair in preference_pairs(ctx, bundle):
        if messages is None:
            messages = ctx.prompt_messages(bundle)
        row = {
            "input": {"messages": messages},
            "preferred_output": [{"role": "assistant", "content": pair.chosen}],
            "non_preferred_output": [{"role": "assistant", "content": pair.rejected}],
        }
        yield Record(row, (pair.chosen_model, pair.rejected_model), _labels(pair), pair.margin)


COMPILERS = {
    ExportKind.PREFERENCE: compile_preference,
    ExportKind.OPENAI_PREFERENCE: compile_openai_preference,
}
