"""Human-readable renderings of answers (review pages, training feedback). Returns plain
text: templates escape it."""

from __future__ import annotations

from typing import Any

PAIRWISE_TEXT = {"a": "Response A is better", "b": "Response B is better", "tie": "Tie", "both_bad": "Both are bad"}
STRENGTH_TEXT = {1: "slightly", 2: "clearly", 3: "much"}


def response_labels(generation_ids: list[int]) -> dict[int, str]:
    return {g: chr(65 + i) for i, g in enumerate(generation_ids)}


def _value_text(question: dict[str, Any], value: Any, labels: dict[int, str], texts: dict[int, str], prompt_text: str) -> str:
    qtype = question["type"]
    if value is None or value == "":
        return "—"
    if qtype == "single_choice":
        names = {o["value"]: o.get("label", o["value"]) for o in question.get("options", [])}
        return str(names.get(value, value))
    if qtype == "multi_choice":
        names = {o["value"]: o.get("label", o["value"]) for o in question.get("options", [])}
        return ", ".join(str(names.get(v, v)) for v in value) if value else "(none)"
    if qtype == "rating":
        anchors = question.get("anchors", {}) or {}
        anchor = anchors.get(str(value)) if isinstance(value, int) else None
        return f"{value} ({anchor})" if anchor else str(value)
    if qtype == "pairwise":
        if not isinstance(value, dict):
            return str(value)
        text = PAIRWISE_TEXT.get(value.get("choice"), str(value.get("choice")))
        strength = value.get("strength")
        return f"{text} ({STRENGTH_TEXT[strength]})" if strength in STRENGTH_TEXT else text
    if qtype == "ranking":
        return " > ".join(labels.get(int(g), str(g)) for g in value)
    if qtype == "spans":
        if not value:
            return "(no spans)"
        parts = []
        for span in value:
            generation = span.get("generation")
            source = prompt_text if generation is None else texts.get(int(generation), "")
            excerpt = source[span["start"]:span["end"]]
            if len(excerpt) > 80:
                excerpt = excerpt[:77] + "…"
            where = "prompt" if generation is None else f"response {labels.get(int(generation), generation)}"
            parts.append(f"{span['label']}: “{excerpt}” ({where}, {span['start']}–{span['end']})")
        return "; ".join(parts)
    return str(value)


def answer_text(question: dict[str, Any], value: Any, *, labels: dict[int, str], texts: dict[int, str] | None = None,
                prompt_text: str = "") -> str:
    """One answer as text; per-response answers as "A: …; B: …"."""
    texts = texts or {}
    if question.get("applies_to") == "each_response" and question["type"] != "ranking":
        if not isinstance(value, dict) or not value:
            return "—"
        ordered = sorted(value.items(), key=lambda kv: labels.get(int(kv[0]), kv[0]))
        return "; ".join(
            f"{labels.get(int(k), k)}: {_value_text(question, v, labels, texts, prompt_text)}" for k, v in ordered
        )
    return _value_text(question, value, labels, texts, prompt_text)
