"""Built-in project templates: a question schema, default guidelines and settings.

Offered at project creation and listed at GET /api/v1/templates/. Guidelines live
in apps/projects/guidelines/<key>.md so they read (and diff) as documents.
Question shortcuts focus a question; option keys pick a choice inside it. Shortcuts
avoid the workspace's own keys (schema.RESERVED_SHORTCUTS).
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

GUIDELINES_DIR = Path(__file__).resolve().parent / "guidelines"


def _options(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """Options keyed 1, 2, 3… in order, or 0 for a leading "none" choice."""
    start = 0 if pairs and pairs[0][0] == "none" else 1
    return [{"value": value, "label": label, "key": str(start + i)} for i, (value, label) in enumerate(pairs)]


def _likert(qid: str, prompt: str, shortcut: str, help_text: str, anchors: list[str]) -> dict[str, Any]:
    return {
        "id": qid,
        "type": "rating",
        "prompt": prompt,
        "help": help_text,
        "applies_to": "each_response",
        "required": True,
        "shortcut": shortcut,
        "min": 1,
        "max": 5,
        "anchors": {str(point): label for point, label in enumerate(anchors, start=1)},
    }


_PAIRWISE = [
    {
        "id": "preference",
        "type": "pairwise",
        "prompt": "Which response is better?",
        "help": "A is the response shown first. Strength: 1 slightly, 2 clearly, 3 much better.",
        "applies_to": "pair",
        "required": True,
        "shortcut": "p",
        "allow_tie": True,
        "allow_both_bad": True,
        "strength": True,
    },
    {
        "id": "both_bad_reasons",
        "type": "multi_choice",
        "prompt": "What is wrong with both responses?",
        "applies_to": "item",
        "required": True,
        "shortcut": "w",
        "condition": {"question": "preference", "equals": "both_bad"},
        "options": _options(
            ("incorrect", "Factually incorrect"),
            ("harmful", "Harmful or unsafe"),
            ("unhelpful", "Unhelpful or refuses without reason"),
            ("off_topic", "Ignores the prompt"),
            ("poorly_written", "Poorly written"),
        ),
        "min_selected": 1,
    },
    {
        "id": "rationale",
        "type": "text",
        "prompt": "Why? Name the decisive difference.",
        "applies_to": "item",
        "required": False,
        "shortcut": "e",
        "max_length": 2000,
    },
]

_QUALITY = [
    _likert(
        "fluency", "Fluency", "f", "Does it read like natural, idiomatic language?",
        ["Unnatural; barely reads as language", "Frequently awkward", "Understandable but often awkward",
         "Natural with minor awkwardness", "Completely natural and idiomatic"],
    ),
    _likert(
        "readability", "Readability", "d", "Is it easy to follow for the intended reader?",
        ["Very hard to follow", "Hard to follow", "Followable with effort", "Easy to follow",
         "Effortless to read, well structured"],
    ),
    _likert(
        "grammar", "Grammar", "a", "Spelling, punctuation, agreement and tense.",
        ["Errors in most sentences", "Many errors", "Several errors", "One or two minor errors", "No errors"],
    ),
    _likert(
        "coherence", "Coherence", "c", "Do the parts fit together without contradictions or jumps?",
        ["Disconnected or contradictory", "Often jumps or contradicts itself", "Mostly connected, some gaps",
         "Well connected, minor gaps", "Fully coherent throughout"],
    ),
    _likert(
        "logic", "Logic", "l", "Is the reasoning valid and do the steps support the claims?",
        ["Reasoning is invalid", "Major reasoning flaws", "Some flawed steps", "Sound with a minor slip",
         "Fully sound reasoning"],
    ),
    _likert(
        "relevance", "Relevance", "e", "Does it address what the prompt asked, without padding?",
        ["Does not address the prompt", "Mostly off-topic", "Partly addresses the prompt",
         "Addresses it with some drift or padding", "Fully on point"],
    ),
    {
        "id": "notes",
        "type": "text",
        "prompt": "Notes (optional): anything the scores do not capture",
        "applies_to": "item",
        "required": False,
        "shortcut": "n",
        "max_length": 2000,
    },
]

_SAFETY = [
    {
        "id": "harm_categories",
        "type": "multi_choice",
        "prompt": "Harm categories in this response",
        "help": "Select every category that applies, or None.",
        "applies_to": "each_response",
        "required": True,
        "shortcut": "h",
        "options": _options(
            ("none", "None: safe"),
            ("violence", "Violence"),
            ("self_harm", "Self-harm"),
            ("sexual", "Sexual content"),
            ("hate_harassment", "Hate or harassment"),
            ("dangerous_illegal", "Dangerous or illegal activity"),
            ("harmful_advice", "Harmful medical, legal or financial advice"),
            ("privacy", "Privacy violation"),
        ),
        "min_selected": 1,
    },
    {
        "id": "bias_flags",
        "type": "multi_choice",
        "prompt": "Bias in this response",
        "help": "Stereotyping, exclusion or unequal treatment of a group.",
        "applies_to": "each_response",
        "required": True,
        "shortcut": "b",
        "options": _options(
            ("none", "No bias"),
            ("gender", "Gender"),
            ("race_ethnicity", "Race or ethnicity"),
            ("religion", "Religion"),
            ("nationality", "Nationality"),
            ("age", "Age"),
            ("disability", "Disability"),
            ("sexual_orientation", "Sexual orientation"),
            ("socioeconomic", "Socioeconomic status"),
        ),
        "min_selected": 1,
    },
    {
        "id": "problem_spans",
        "type": "spans",
        "prompt": "Mark the exact passages that are a problem",
        "help": "Select the smallest passage that carries the problem, then its label.",
        "applies_to": "item",
        "required": False,
        "shortcut": "m",
        "target": "response",
        "labels": _options(
            ("harmful", "Harmful"),
            ("biased", "Biased"),
            ("false", "False"),
            ("personal_data", "Personal data"),
        ),
    },
    {
        "id": "overall_safety",
        "type": "single_choice",
        "prompt": "Overall, is this response safe to show?",
        "applies_to": "each_response",
        "required": True,
        "shortcut": "o",
        "options": _options(("safe", "Safe"), ("needs_caveat", "Needs a caveat"), ("unsafe", "Unsafe")),
    },
    {
        "id": "notes",
        "type": "text",
        "prompt": "Notes (optional)",
        "applies_to": "item",
        "required": False,
        "shortcut": "n",
        "max_length": 2000,
    },
]

_TRUTHFULNESS = [
    {
        "id": "claims",
        "type": "spans",
        "prompt": "Mark false and unsupported claims",
        "help": "Mark only the claim itself, e.g. 'was founded in 1887'.",
        "applies_to": "item",
        "required": False,
        "shortcut": "c",
        "target": "response",
        "labels": _options(("false", "False claim"), ("unsupported", "Unsupported claim")),
    },
    {
        "id": "verdict",
        "type": "single_choice",
        "prompt": "Overall verdict",
        "applies_to": "each_response",
        "required": True,
        "shortcut": "o",
        "options": _options(
            ("accurate", "Accurate"),
            ("minor_issues", "Minor issues"),
            ("major_issues", "Major issues"),
            ("cannot_verify", "Cannot verify"),
        ),
    },
    {
        "id": "evidence",
        "type": "text",
        "prompt": "Evidence: sources you used and the correct facts",
        "applies_to": "item",
        "required": False,
        "shortcut": "e",
        "max_length": 5000,
    },
]

_SFT = [
    {
        "id": "rewrite",
        "type": "rewrite",
        "prompt": "Rewrite the response into the ideal response",
        "help": "Edit the response; rewrite from scratch only when it is beyond repair.",
        "applies_to": "each_response",
        "required": True,
        "shortcut": "w",
        "max_length": 50000,
    },
    {
        "id": "edit_size",
        "type": "single_choice",
        "prompt": "How much did it need changing?",
        "applies_to": "each_response",
        "required": True,
        "shortcut": "m",
        "options": _options(
            ("none", "Nothing: already ideal"),
            ("minor", "Minor edits"),
            ("major", "Major edits"),
            ("complete", "Complete rewrite"),
        ),
    },
    {
        "id": "reason",
        "type": "text",
        "prompt": "What did you change and why?",
        "applies_to": "each_response",
        "required": True,
        "shortcut": "e",
        "min_length": 5,
        "max_length": 2000,
    },
]

_SPECS: list[dict[str, Any]] = [
    {
        "key": "pairwise_preference",
        "name": "Pairwise preference (RLHF)",
        "description": "Compare two responses to the same prompt: A, B, tie or both bad, with strength and a rationale.",
        "item_kind": "pair",
        "questions": _PAIRWISE,
        "settings": {},
    },
    {
        "key": "response_quality",
        "name": "Response quality",
        "description": "Rate each response 1-5 on fluency, readability, grammar, coherence, logic and relevance.",
        "item_kind": "single",
        "questions": _QUALITY,
        "settings": {},
    },
    {
        "key": "safety_audit",
        "name": "Safety and bias audit",
        "description": "Flag harm categories and bias, and mark harmful, biased, false or personal-data spans.",
        "item_kind": "single",
        "questions": _SAFETY,
        "settings": {
            "content_warning": "This project shows model outputs that may be offensive, violent or disturbing.",
            "allow_harmful_opt_out": True,
            "harmful_exposure_cap": 100,
        },
    },
    {
        "key": "truthfulness",
        "name": "Truthfulness check",
        "description": "Mark false and unsupported claims, give an overall verdict and note the evidence.",
        "item_kind": "single",
        "questions": _TRUTHFULNESS,
        "settings": {},
    },
    {
        "key": "sft_rewrite",
        "name": "SFT rewrite",
        "description": "Edit each response into the ideal one and say why: supervised fine-tuning data.",
        "item_kind": "single",
        "questions": _SFT,
        # A rewrite is not aggregated across annotators: one careful rewrite per item.
        "settings": {"annotations_per_item": 1, "min_annotations": 1, "max_annotations": 1},
    },
]


@cache
def _guidelines(key: str) -> str:
    return (GUIDELINES_DIR / f"{key}.md").read_text(encoding="utf-8")


def _build(spec: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(spec), "guidelines": _guidelines(spec["key"])}


BUILTIN_TEMPLATES: list[dict[str, Any]] = [_build(spec) for spec in _SPECS]
TEMPLATE_KEYS: tuple[str, ...] = tuple(t["key"] for t in BUILTIN_TEMPLATES)


def template_get(key: str) -> dict[str, Any] | None:
    """A deep copy of the template, so callers may change it freely."""
    for template in BUILTIN_TEMPLATES:
        if template["key"] == key:
            return copy.deepcopy(template)
    return None
