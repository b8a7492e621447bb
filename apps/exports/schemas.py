"""The columns and types of every export kind (DESIGN.md, "Export formats").

One Arrow schema per kind and option set. The Parquet writer writes exactly this
schema; JSONL rows carry exactly these keys; the dataset card and the Hugging Face
`dataset_info` are generated from it. Field names are what the consumers read:
TRL (`prompt`/`completion`, `messages`, `prompt`/`chosen`/`rejected`/`margin`,
`prompt`/`completion`/`label`) and OpenAI (`messages` with optional `weight`;
`input`/`preferred_output`/`non_preferred_output`).
"""

from __future__ import annotations

import pyarrow as pa

from apps.exports.models import ExportKind
from apps.exports.options import ExportOptions

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)
WEIGHTED_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string()), ("weight", pa.int64())]))
RESPONSE = pa.struct([("generation_id", pa.int64()), ("model", pa.string()), ("text", pa.string())])
SPAN = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("votes", pa.int64())])


def schema_for(options: ExportOptions) -> pa.Schema:
    kind = options.kind
    text_or_chat = MESSAGES if options.conversational else pa.string()
    fields: list[tuple[str, pa.DataType]]
    if kind == ExportKind.SFT:
        if options.sft_format == "messages":
            fields = [("messages", MESSAGES)]
        else:
            fields = [("prompt", text_or_chat), ("completion", text_or_chat)]
    elif kind == ExportKind.PREFERENCE:
        fields = [("prompt", text_or_chat), ("chosen", text_or_chat), ("rejected", text_or_chat)]
        if options.margin:
            fields.append(("margin", pa.float64()))
    elif kind == ExportKind.KTO:
        fields = [("prompt", text_or_chat), ("completion", text_or_chat), ("label", pa.bool_())]
    elif kind == ExportKind.OPENAI_CHAT:
        fields = [("messages", WEIGHTED_MESSAGES if options.harmful_spans == "weight_zero" else MESSAGES)]
    elif kind == ExportKind.OPENAI_PREFERENCE:
        fields = [
            ("input", pa.struct([("messages", MESSAGES)])),
            ("preferred_output", MESSAGES),
            ("non_preferred_output", MESSAGES),
        ]
    elif kind == ExportKind.LABELS:
        fields = [
            ("item_id", pa.int64()),
            ("prompt", pa.string()),
            ("responses", pa.list_(RESPONSE)),
            ("answers", pa.string()),
            ("confidence", pa.float64()),
            ("question_confidence", pa.string()),
            ("agreement", pa.float64()),
            ("annotation_count", pa.int64()),
            ("reviewed", pa.bool_()),
        ]
    elif kind == ExportKind.SPANS:
        fields = [
            ("item_id", pa.int64()),
            ("generation_id", pa.int64()),
            ("model", pa.string()),
            ("text", pa.string()),
            ("spans", pa.list_(SPAN)),
            ("annotation_count", pa.int64()),
        ]
    elif kind == ExportKind.RAW:
        fields = [
            ("annotation_id", pa.int64()),
            ("item_id", pa.int64()),
            ("prompt_id", pa.int64()),
            ("annotator", pa.string()),
            ("answers", pa.string()),
            ("time_spent_ms", pa.int64()),
            ("guideline_version", pa.int64()),
            ("submitted_at", pa.string()),
            ("too_fast", pa.bool_()),
        ]
    else:
        raise ValueError(f"unknown export kind {kind}")
    if options.include_ids and kind not in (ExportKind.LABELS, ExportKind.SPANS, ExportKind.RAW):
        fields.append(("item_id", pa.int64()))
    return pa.schema(fields)


def describe_type(data_type: pa.DataType) -> str:
    """A short human-readable type for the dataset card."""
    if pa.types.is_list(data_type):
        return f"list of {describe_type(data_type.value_type)}"
    if pa.types.is_struct(data_type):
        inner = ", ".join(f"{f.name}: {describe_type(f.type)}" for f in data_type)
        return "{" + inner + "}"
    return {"string": "string", "int64": "int64", "double": "float64", "bool": "bool"}.get(str(data_type), str(data_type))


def hf_features(schema: pa.Schema) -> list[dict]:
    """`dataset_info.features` for the README YAML header (the `datasets` library's YAML form)."""
    return [{"name": f.name, **_hf_type(f.type)} for f in schema]


def _hf_type(data_type: pa.DataType) -> dict:
    if pa.types.is_list(data_type):
        inner = data_type.value_type
        if pa.types.is_struct(inner):
            return {"list": [{"name": f.name, **_hf_type(f.type)} for f in inner]}
        return {"list": _hf_type(inner)["dtype"]}
    if pa.types.is_struct(data_type):
        return {"struct": [{"name": f.name, **_hf_type(f.type)} for f in data_type]}
    return {"dtype": {"string": "string", "int64": "int64", "double": "float64", "bool": "bool"}[str(data_type)]}
