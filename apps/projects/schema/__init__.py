"""The question schema of a project, and validation of annotators' answers against it.

A schema is a list of questions (JSON). Every question has:

    id          slug, unique in the project: [a-z][a-z0-9_]{0,39}
    type        single_choice | multi_choice | rating | pairwise | ranking | text | rewrite | spans
    prompt      the question as annotators read it
    help        optional longer explanation
    required    default true (false for text)
    applies_to  item | each_response | pair        (default: item; pairwise is always "pair")
    shortcut    optional single key that focuses the question; not one of RESERVED_SHORTCUTS,
                which the annotator workspace keeps for its own actions
    condition   optional {"question": other_id, "equals": value} or {"question": other_id, "in": [values]}:
                the question is shown (and may be answered) only when the other answer matches.
                The other question must come earlier and apply to the item or the pair.

Per type:
    single_choice / multi_choice  options: [{"value", "label", "key"?}], 2..20 options
                                  multi_choice may set min_selected / max_selected
    rating      min, max (integers, 2..11 points), anchors: {"1": "Very poor", ...} (keys in range)
    pairwise    allow_tie (default true), allow_both_bad (default true), strength (default false)
    ranking     (no settings) — orders every response of the item
    text        min_length (default 0), max_length (default 5000)
    rewrite     max_length (default 50000) — applies to each response (or the item's only response)
    spans       labels: [{"value", "label", "key"?}], target: response | prompt (default response)

Answers are a JSON object keyed by question id. The value depends on the type and `applies_to`:

    item / pair       the value itself
    each_response     {"<generation_id>": value, ...} for every response of the item

    single_choice     "value"                multi_choice  ["value", ...]
    rating            integer in [min, max]   text          "string"
    pairwise          {"choice": "a" | "b" | "tie" | "both_bad", "strength": 1..3 (when enabled)}
                      "a" is the response shown first (display position 0), "b" the second.
    ranking           [generation_id, ...] best first: a permutation of the item's responses
    rewrite           "the edited response"
    spans             [{"start": int, "end": int, "label": "value", "generation": id}] over a response's
                      text (or without "generation" over the prompt text when target is prompt);
                      offsets are Python string indices, 0 <= start < end <= len(text).
"""

from apps.projects.schema.answers import AnswerError, validate_answers
from apps.projects.schema.questions import (
    APPLIES_TO,
    MAX_QUESTIONS,
    PAIRWISE_CHOICES,
    QUESTION_TYPES,
    RESERVED_SHORTCUTS,
    SchemaError,
    questions_in_reading_order,
    validate_schema,
)

__all__ = [
    "APPLIES_TO",
    "MAX_QUESTIONS",
    "PAIRWISE_CHOICES",
    "QUESTION_TYPES",
    "RESERVED_SHORTCUTS",
    "AnswerError",
    "SchemaError",
    "questions_in_reading_order",
    "validate_answers",
    "validate_schema",
]
