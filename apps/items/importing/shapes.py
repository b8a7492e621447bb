"""One raw row -> a ParsedRow, per shape. Pure: raises RowRejected naming the field.

Every check that can reject a row happens here, before anything is written, so
a rejected row leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings

from apps.items.importing.chat import messages_parse, prompt_text_for, split_preference
from apps.items.importing.checks import (
    check_json,
    check_text,
    set_field_limit,
    type_name,
)
from apps.items.importing.errors import RowRejected
from apps.items.importing.mapping import Mapping
from apps.projects.schema import AnswerError, validate_answers

_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}


@dataclass
class ParsedGeneration:
    model_name: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    finish_reason: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""

    _metadata_json: str | None = None

    def metadata_json(self) -> str:
        if self._metadata_json is None:
            self._metadata_json = orjson.dumps(self.metadata).decode() if self.metadata else "{}"
        return self._metadata_json


@dataclass
class ParsedRow:
    line: int
    prompt_text: str
    prompt_messages: list[dict[str, str]] | None
    external_id: str
    generations: list[ParsedGeneration]
    item_metadata: dict[str, Any] = field(default_factory=dict)
    is_gold: bool = False
    gold_answers: dict[str, Any] | None = None
    preferred: int | None = None  # index into generations of the originally preferred response
    prompt_hash: str = ""


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _get(data: dict[str, Any], column: str, *, required: bool = True) -> Any:
    if column not in data:
        if required:
            raise RowRejected(f"missing column '{column}'", field=column)
        return None
    return data[column]


def _text(data: dict[str, Any], column: str, *, required: bool = True, allow_empty: bool = False) -> str:
    value = _get(data, column, required=required)
    if value is None:
        if required:
            raise RowRejected(f"'{column}' is empty (null); expected text", field=column)
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowRejected(f"'{column}' must be text, got {type_name(value)}", field=column)
    text = str(value)
    if required and not allow_empty and not text.strip():
        raise RowRejected(f"'{column}' is empty; expected text", field=column)
    return check_text(text, column)


def _optional_int(data: dict[str, Any], column: str) -> int | None:
    if not column:
        return None
    value = _get(data, column, required=False)
    if value in (None, ""):
        return None
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < 0 or number > 2**31 - 1 or (isinstance(value, float) and not value.is_integer()):
        raise RowRejected(f"'{column}' must be a whole number ≥ 0, got {str(value)[:40]!r}", field=column)
    return number


def _as_bool(value: Any, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise RowRejected(f"'{column}' must be true or false, got {str(value)[:40]!r}", field=column)


def _as_object(value: Any, column: str) -> dict[str, Any] | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RowRejected(f"'{column}' must be a JSON object", field=column) from None
    if not isinstance(value, dict):
        raise RowRejected(f"'{column}' must be a JSON object, got {type_name(value)}", field=column)
    return check_json(value, column)


class RowParser:
    """Parses rows of one import; holds the mapping, metadata columns and the project's questions."""

    def __init__(self, mapping: Mapping, *, columns: list[str], questions: list[dict[str, Any]]):
        set_field_limit(settings.MAX_FIELD_BYTES)
        self.mapping = mapping
        self.m = mapping.data  # plain dict lookups: this runs for every row of the file
        self.questions = questions
        self.metadata_columns = mapping.metadata_columns(columns)
        self.used = mapping.used_columns()

    def parse(self, line: int, data: dict[str, Any]) -> ParsedRow:
        m = self.m
        shape = m["shape"]
        if shape == "rows":
            row = self._rows(line, data)
        elif shape == "multi":
            row = self._multi(line, data)
        elif shape == "preference":
            row = self._preference(line, data)
        else:
            row = self._messages_row(line, data)
        metadata = self._metadata(data)
        if shape in ("rows", "messages"):  # rows are generations: metadata goes with each
            for generation in row.generations:
                generation.metadata = metadata
        else:
            row.item_metadata = metadata
        if m["is_gold"]:
            row.is_gold = _as_bool(_get(data, m["is_gold"], required=False), m["is_gold"])
        if m["gold_answers"]:
            row.gold_answers = self._gold(row, _as_object(_get(data, m["gold_answers"], required=False), m["gold_answers"]))
            if row.gold_answers and not m["is_gold"]:
                row.is_gold = True
        self._hash(row)
        return row

    # --- shapes ---

    def _prompt(self, data: dict[str, Any], column: str) -> tuple[str, list[dict[str, str]] | None]:
        value = _get(data, column)
        if isinstance(value, list):
            messages = messages_parse(value, column)
            return prompt_text_for(messages), messages
        if isinstance(value, str) and value.lstrip().startswith("[{"):
            try:  # a CSV cell holding a JSON message list; plain text that merely looks like one stays text
                messages = messages_parse(value, column)
                return prompt_text_for(messages), messages
            except RowRejected:
                pass
        return _text(data, column), None

    def _model(self, data: dict[str, Any]) -> str:
        m = self.m
        if m["model"]:
            name = _text(data, m["model"], required=not m["model_name"]).strip()
            if name:
                return name[:200]
        return m["model_name"]

    def _generation_extras(self, data: dict[str, Any], generation: ParsedGeneration) -> None:
        m = self.m
        generation.prompt_tokens = _optional_int(data, m["prompt_tokens"])
        generation.completion_tokens = _optional_int(data, m["completion_tokens"])
        generation.latency_ms = _optional_int(data, m["latency_ms"])
        if m["finish_reason"]:
            generation.finish_reason = _text(data, m["finish_reason"], required=False)[:40]
        if m["parameters"]:
            generation.parameters = _as_object(_get(data, m["parameters"], required=False), m["parameters"]) or {}

    def _external_id(self, data: dict[str, Any]) -> str:
        column = self.mapping["prompt_id"]
        if not column:
            return ""
        value = _get(data, column)
        if value is None or isinstance(value, dict | list | bool) or str(value).strip() == "":
            raise RowRejected(f"'{column}' must be an id (text or number), got {type_name(value)}", field=column)
        text = str(value).strip()
        if len(text) > 200:
            raise RowRejected(f"'{column}' is longer than 200 characters", field=column)
        return check_text(text, column)

    def _rows(self, line: int, data: dict[str, Any]) -> ParsedRow:
        m = self.m
        text, messages = self._prompt(data, m["prompt"])
        generation = ParsedGeneration(model_name=self._model(data), text=_text(data, m["response"]))
        self._generation_extras(data, generation)
        return ParsedRow(line, text, messages, self._external_id(data), [generation])

    def _multi(self, line: int, data: dict[str, Any]) -> ParsedRow:
        m = self.m
        text, messages = self._prompt(data, m["prompt"])
        names = m["response_models"]
        generations = []
        if isinstance(m["responses"], list):
            for index, column in enumerate(m["responses"]):
                value = _text(data, column, required=True)
                generations.append(ParsedGeneration(model_name=names[index] if names else column, text=value))
        else:
            column = m["responses"]
            values = _get(data, column)
            if isinstance(values, str):
                try:
                    values = json.loads(values)
                except ValueError:
                    values = None
            if not isinstance(values, list) or not values:
                raise RowRejected(f"'{column}' must be a non-empty list of responses", field=column)
            for index, value in enumerate(values):
                default = names[index] if index < len(names) else f"{m['model_name'] or 'response'}-{index + 1}"
                if isinstance(value, dict):
                    body = value.get("text", value.get("response", value.get("content")))
                    model = value.get("model") or default
                else:
                    body, model = value, default
                if not isinstance(body, str) or not body.strip() or not isinstance(model, str):
                    raise RowRejected(f"'{column}' response {index + 1} must be non-empty text", field=column)
                generations.append(ParsedGeneration(model_name=model[:200], text=check_text(body, column)))
        return ParsedRow(line, text, messages, self._external_id(data), generations)

    def _preference(self, line: int, data: dict[str, Any]) -> ParsedRow:
        m = self.m
        model = self._model(data) or "unknown-model"
        if m["prompt"]:
            text, messages = self._prompt(data, m["prompt"])
            chosen, rejected = _text(data, m["chosen"]), _text(data, m["rejected"])
        else:
            history, chosen, rejected = split_preference(_text(data, m["chosen"]), _text(data, m["rejected"]))
            text, messages = prompt_text_for(history), history
        if chosen == rejected:
            raise RowRejected("'chosen' and 'rejected' are the same response", field=m["chosen"])
        generations = [ParsedGeneration(model_name=model, text=chosen), ParsedGeneration(model_name=model, text=rejected)]
        return ParsedRow(line, text, messages, self._external_id(data), generations, preferred=0)

    def _messages_row(self, line: int, data: dict[str, Any]) -> ParsedRow:
        m = self.m
        messages = messages_parse(_get(data, m["messages"]), m["messages"])
        if messages[-1]["role"] != "assistant":
            raise RowRejected(f"'{m['messages']}' must end with an assistant message (the response)", field=m["messages"])
        history = messages[:-1]
        if not any(turn["role"] == "user" for turn in history):
            raise RowRejected(f"'{m['messages']}' has no user message before the response", field=m["messages"])
        if not messages[-1]["content"].strip():
            raise RowRejected(f"'{m['messages']}' ends with an empty assistant message", field=m["messages"])
        generation = ParsedGeneration(model_name=self._model(data) or "unknown-model", text=messages[-1]["content"])
        self._generation_extras(data, generation)
        return ParsedRow(line, prompt_text_for(history), history, self._external_id(data), [generation])

    # --- metadata, gold, identity ---

    def _metadata(self, data: dict[str, Any]) -> dict[str, Any]:
        metadata = {}
        for column in self.metadata_columns:
            if column in data and column not in self.used:
                value = data[column]
                if isinstance(value, str):
                    check_text(value, column)
                elif value is not None and not isinstance(value, int | float | bool):
                    value = check_json(value, column)  # nested, or a Parquet date/decimal: as JSON
                metadata[column] = value
        return metadata

    def _gold(self, row: ParsedRow, answers: dict[str, Any] | None) -> dict[str, Any] | None:
        if not answers:
            return None
        pairwise = {q["id"] for q in self.questions if q.get("type") == "pairwise"}
        if pairwise & set(answers) and len(row.generations) != 2:
            raise RowRejected(
                f"'{self.mapping['gold_answers']}' answers a pairwise question, which needs exactly two responses",
                field=self.mapping["gold_answers"],
            )
        # Gold answers from a file refer to responses by their 1-based position in the row
        # (ranking [2, 1], per-response {"1": 4, "2": 3}); positions become ids once stored.
        placeholder_ids = [i + 1 for i in range(len(row.generations))]
        try:
            return validate_answers(
                self.questions,
                answers,
                generation_ids=placeholder_ids,
                texts={gid: g.text for gid, g in zip(placeholder_ids, row.generations, strict=True)},
                prompt_text=row.prompt_text,
                partial=True,
            )
        except AnswerError as exc:
            raise RowRejected(f"'{self.mapping['gold_answers']}' does not fit the questions: {exc}",
                              field=self.mapping["gold_answers"]) from None

    def _hash(self, row: ParsedRow) -> None:
        body = json.dumps(row.prompt_messages, ensure_ascii=False) if row.prompt_messages else row.prompt_text
        row.prompt_hash = _sha("prompt", row.external_id, body)
        for generation in row.generations:
            generation.content_hash = _sha("gen", row.prompt_hash, generation.model_name, generation.text)
