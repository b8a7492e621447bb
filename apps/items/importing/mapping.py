"""The column mapping of an import: which columns mean what, and how items are made.

A mapping is a flat JSON object (the same from the form, the API and the
management command). `mapping_clean` validates it and returns it normalised,
or raises MappingError with one message per field.

Shapes:
    rows        one row per (prompt, response); rows of one prompt are grouped by
                `prompt_id` (or by identical prompt text) wherever they are in the file
    multi       one row holding several responses: `responses` is a list of columns,
                or one column holding a list (strings, or objects with model/text)
    preference  `chosen` / `rejected`: either two responses to `prompt`, or (no prompt
                column) two full `\\n\\nHuman: … \\n\\nAssistant: …` transcripts whose shared
                history is the prompt; the preferred response is kept on the item
    messages    an OpenAI-style `messages` list; the final assistant turn is the response,
                the turns before it the prompt; grouped by prompt like `rows`
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.items.building import ITEM_MODES
from apps.items.importing.readers import ENCODINGS, FORMATS

SHAPES = ("rows", "multi", "preference", "messages")
COLUMN_FIELDS = (
    "prompt", "prompt_id", "model", "response", "chosen", "rejected", "messages", "is_gold", "gold_answers",
    "prompt_tokens", "completion_tokens", "latency_ms", "finish_reason", "parameters",
)
REQUIRED_BY_SHAPE = {
    "rows": ("prompt", "response"),
    "multi": ("prompt", "responses"),
    "preference": ("chosen", "rejected"),
    "messages": ("messages",),
}
GROUPED_SHAPES = ("rows", "messages")
MAX_K = 50

# Column-name guesses, most specific first.
_GUESSES = {
    "prompt": ("prompt", "instruction", "question", "input", "query"),
    "prompt_id": ("prompt_id", "instruction_id", "question_id", "id", "uid"),
    "model": ("model", "model_name", "generator"),
    "response": ("response", "output", "completion", "answer", "generation"),
    "chosen": ("chosen",),
    "rejected": ("rejected",),
    "messages": ("messages", "conversation", "conversations"),
    "is_gold": ("is_gold", "gold"),
    "gold_answers": ("gold_answers",),
    "responses": ("responses", "outputs", "completions"),
}


class MappingError(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{key}: {value}" for key, value in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Mapping:
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data.get(key)

    @property
    def shape(self) -> str:
        return self.data["shape"]

    @property
    def item_mode(self) -> str:
        return self.data["item_mode"]

    @property
    def grouped(self) -> bool:
        """Items need rows from anywhere in the file: built after all rows are read."""
        return self.shape in GROUPED_SHAPES and self.item_mode != "each"

    def used_columns(self) -> set[str]:
        used = {self.data[f] for f in COLUMN_FIELDS if self.data.get(f)}
        responses = self.data.get("responses")
        if isinstance(responses, list):
            used.update(responses)
        elif responses:
            used.add(responses)
        return used

    def metadata_columns(self, columns: list[str]) -> list[str]:
        chosen = self.data.get("metadata")
        if chosen is not None:
            return list(chosen)
        used = self.used_columns()
        return [c for c in columns if c not in used]


def _column(value: Any, key: str, errors: dict[str, str]) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 200:
        errors[key] = "must be a column name"
        return ""
    return value


def mapping_clean(raw: Any, *, questions: list[dict[str, Any]] | None = None) -> Mapping:
    """Validate a mapping dict; unknown keys are errors so typos do not pass silently."""
    if not isinstance(raw, dict):
        raise MappingError({"mapping": "must be a JSON object"})
    errors: dict[str, str] = {}
    known = {
        *COLUMN_FIELDS, "format", "encoding", "delimiter", "shape", "model_name", "responses", "response_models",
        "preference_gold_question", "metadata", "item_mode", "k", "seed", "priority",
    }
    for key in raw:
        if key not in known:
            errors[str(key)] = "unknown mapping key"
    data: dict[str, Any] = {}
    data["format"] = raw.get("format") or "auto"
    if data["format"] not in ("auto", *FORMATS):
        errors["format"] = f"must be one of auto, {', '.join(FORMATS)}"
    data["encoding"] = raw.get("encoding") or "auto"
    if data["encoding"] not in ENCODINGS:
        errors["encoding"] = f"must be one of {', '.join(ENCODINGS)}"
    data["delimiter"] = raw.get("delimiter") or ""
    if data["delimiter"] not in ("", ",", ";", "\t", "|"):
        errors["delimiter"] = "must be one of , ; | or a tab"
    data["shape"] = raw.get("shape") or "rows"
    if data["shape"] not in SHAPES:
        errors["shape"] = f"must be one of {', '.join(SHAPES)}"
    for key in COLUMN_FIELDS:
        data[key] = _column(raw.get(key), key, errors)
    responses = raw.get("responses")
    if isinstance(responses, list):
        if not all(isinstance(c, str) and c for c in responses) or len(responses) < 1:
            errors["responses"] = "must be a list of column names, or one column holding a list"
    elif responses not in (None, "") and not isinstance(responses, str):
        errors["responses"] = "must be a list of column names, or one column holding a list"
    data["responses"] = responses or ""
    models = raw.get("response_models") or []
    if not isinstance(models, list) or not all(isinstance(m, str) and m.strip() for m in models):
        errors["response_models"] = "must be a list of model names"
        models = []
    elif isinstance(responses, list) and models and len(models) != len(responses):
        errors["response_models"] = f"gives {len(models)} names for {len(responses)} response columns"
    data["response_models"] = [m.strip()[:200] for m in models]
    model_name = raw.get("model_name") or ""
    if not isinstance(model_name, str) or len(model_name) > 200:
        errors["model_name"] = "must be a model name (at most 200 characters)"
        model_name = ""
    data["model_name"] = model_name.strip()
    metadata = raw.get("metadata")
    if metadata is not None and (not isinstance(metadata, list) or not all(isinstance(c, str) for c in metadata)):
        errors["metadata"] = "must be a list of column names (or left out to keep every unmapped column)"
        metadata = None
    data["metadata"] = metadata
    data["item_mode"] = raw.get("item_mode") or "each"
    if data["item_mode"] not in ITEM_MODES:
        errors["item_mode"] = f"must be one of {', '.join(ITEM_MODES)}"
    data["k"] = _int(raw.get("k", 1), "k", errors, low=1, high=MAX_K)
    data["seed"] = _int(raw.get("seed", 0), "seed", errors, low=0, high=2**31 - 1)
    data["priority"] = _int(raw.get("priority", 0), "priority", errors, low=-1000, high=1000)
    shape = data["shape"]
    for key in REQUIRED_BY_SHAPE.get(shape, ()):
        if not data.get(key):
            errors.setdefault(key, f"is required for the '{shape}' shape")
    if shape == "rows" and not (data["model"] or data["model_name"]):
        errors.setdefault("model", "map a model column or give a model_name for every row")
    if shape in GROUPED_SHAPES and data["item_mode"] != "each" and (data["is_gold"] or data["gold_answers"]):
        errors.setdefault(
            "is_gold",
            "gold columns need one item per row: use item mode 'each', or a shape with all responses in one row",
        )
    gold_question = raw.get("preference_gold_question") or ""
    data["preference_gold_question"] = gold_question
    if gold_question:
        if shape != "preference":
            errors["preference_gold_question"] = "only applies to the 'preference' shape"
        elif data["item_mode"] == "each":
            errors["preference_gold_question"] = "needs pairs: choose item mode all_pairs or k_pairs"
        elif questions is not None:
            question = next((q for q in questions if q.get("id") == gold_question), None)
            if question is None or question.get("type") != "pairwise":
                errors["preference_gold_question"] = f"'{gold_question}' is not a pairwise question of this project"
    if errors:
        raise MappingError(errors)
    return Mapping(data)


def _int(value: Any, key: str, errors: dict[str, str], *, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[key] = "must be a whole number"
        return low
    if isinstance(value, bool) or not low <= number <= high:
        errors[key] = f"must be between {low} and {high}"
        return low
    return number


def mapping_guess(columns: list[str]) -> dict[str, Any]:
    """A starting mapping from column names (the form pre-fills it; the user corrects it)."""
    lowered = {c.lower(): c for c in columns}
    guess: dict[str, Any] = {}
    for field, names in _GUESSES.items():
        for name in names:
            if name in lowered and lowered[name] not in guess.values():
                guess[field] = lowered[name]
                break
    if "chosen" in guess and "rejected" in guess:
        shape = "preference"
    elif "messages" in guess and "response" not in guess:
        shape = "messages"
    elif "responses" in guess and "response" not in guess:
        shape = "multi"
    else:
        shape = "rows"
    guess["shape"] = shape
    if shape != "multi":
        guess.pop("responses", None)
    if shape == "preference":
        guess.pop("response", None)
        if "prompt" not in lowered:
            guess.pop("prompt", None)
    if shape in ("rows", "messages") and "model" not in guess:
        guess["model_name"] = "unknown-model"
    if shape == "preference" and "model" not in guess:
        guess["model_name"] = "unknown-model"
    guess["item_mode"] = "all_pairs" if shape == "preference" else "each"
    return guess
