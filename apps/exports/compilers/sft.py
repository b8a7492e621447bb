"""Demonstration data: TRL SFT, OpenAI chat fine-tuning, and TRL KTO.

SFT examples come from two sources: annotators' rewrites (the corrected response)
and responses whose aggregated rating reaches `min_rating`. A response shown in
several items of one prompt (pairs) is used once. KTO labels a response good or
bad from a rating threshold or a verdict question.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apps.exports.compilers.context import Context, Record, per_response_values
from apps.exports.models import ExportKind
from apps.exports.source import Bundle, Response


def _demonstrations(ctx: Context, bundle: Bundle) -> Iterator[tuple[str, Response, str, bool]]:
    """(completion text, the response it came from, source, harmful?) per SFT example."""
    options = ctx.options
    if "rewrites" in options.sources and options.rewrite_question:
        question = ctx.by_id[options.rewrite_question]
        seen: set[str] = set()
        for annotation in bundle.annotations:
            for response, rewrite in per_response_values(question, annotation.answers, bundle):
                if not isinstance(rewrite, str) or not rewrite.strip() or rewrite in seen:
                    continue
                seen.add(rewrite)
                # The rewrite is the annotator's own text: harmful spans of the original do not apply.
                yield ctx.clean(rewrite), response, "rewrite", False
    if "rated" in options.sources and options.rating_question:
        answers = ctx.aggregate(bundle).answers
        for response, rating in per_response_values(ctx.by_id[options.rating_question], answers, bundle):
            if isinstance(rating, int | float) and rating >= options.min_rating:
                if ctx.first_in_prompt(bundle, ("rated", response.id)):
                    yield ctx.response_text(bundle, response), response, "rated", ctx.is_harmful(bundle, response)


def compile_sft(ctx: Context, bundle: Bundle) -> Iterator[Record]:
    options = ctx.options
    for completion, response, source, _harmful in _demonstrations(ctx, bundle):
        if options.sft_format == "messages":
            row: dict[str, Any] = {
                "messages": ctx.prompt_messages(bundle) + [{"role": "assistant", "content": completion}]
            }
        else:
            row = {"prompt": ctx.prompt_for(bundle), "completion": ctx.completion_for(completion)}
        yield Record(ctx.with_ids(row, bundle), (response.model,), (("source", source),))


def compile_openai_chat(ctx: Context, bundle: Bundle) -> Iterator[Record]:
    weighted = ctx.options.harmful_spans == "weight_zero"
    for completion, response, source, harmful in _demonstrations(ctx, bundle):
        messages: list[dict[str, Any]] = ctx.prompt_messages(bundle)
        if weighted:
            # Earlier assistant turns come from the prompt, not from a judged response: not trained on.
            for message in messages:
                if message["role"] == "assistant":
                    message["weight"] = 0
        final: dict[str, Any] = {"role": "assistant", "content": completion}
        if weighted:
            final["weight"] = 0 if harmful else 1
            if harmful:
                ctx.counters["assistant messages given weight 0"] += 1
        labels = (("source", source),) + ((("weight", str(final["weight"])),) if weighted else ())
        yield Record({"messages": messages + [final]}, (response.model,), labels)


def compile_kto(ctx: Context, bundle: Bundle) -> Iterator[Record]:
    options = ctx.options
    answers = ctx.aggregate(bundle).answers
    if options.sources == ["rating"]:
        question = ctx.by_id.get(options.rating_question or "")
        judged = [(r, isinstance(v, int | float) and v >= options.min_rating)
                  for r, v in per_response_values(question, answers, bundle) if isinstance(v, int | float)]
    else:
        question = ctx.by_id.get(options.verdict_question or "")
        positive = set(options.positive_values)
        judged = [(r, v in positive) for r, v in per_response_values(question, answers, bundle)]
    for response, good in judged:
        if not ctx.first_in_prompt(bundle, ("kto", response.id)):
            continue
        row = {
            "prompt": ctx.prompt_for(bundle),
            "completion": ctx.completion_for(ctx.response_text(bundle, response)),
            "label": bool(good),
        }
        yield Record(ctx.with_ids(row, bundle), (response.model,), (("label", str(bool(good)).lower()),))


COMPILERS = {
    ExportKind.SFT: compile_sft,
    ExportKind.OPENAI_CHAT: compile_openai_chat,
    ExportKind.KTO: compile_kto,
}
