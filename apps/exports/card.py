"""The dataset card (README.md with a Hugging Face YAML header) and manifest.json.

The YAML header's `configs` points each split at its data files and `dataset_info`
states the features, so `datasets.load_dataset(folder)` needs no arguments. The
manifest lists the SHA-256 of every file (the manifest excepted) and snapshots the
project's configuration, so an export can be audited and rebuilt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import yaml

from apps.exports.models import ExportFormat, ExportKind
from apps.exports.options import ExportOptions
from apps.exports.schemas import describe_type, hf_features

HF_LICENSES = {
    "apache-2.0", "mit", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0",
    "cc-by-nc-nd-4.0", "cc-by-nd-4.0", "odc-by", "odbl", "pddl", "openrail", "gpl-3.0", "lgpl-3.0",
    "bsd-3-clause", "bsd-2-clause", "cdla-permissive-2.0", "cdla-sharing-1.0", "unlicense", "other", "unknown",
}
TRAINERS = {
    ExportKind.SFT: "trl.SFTTrainer",
    ExportKind.PREFERENCE: "trl.DPOTrainer, trl.ORPOTrainer or trl.RewardTrainer",
    ExportKind.KTO: "trl.KTOTrainer",
    ExportKind.OPENAI_CHAT: "OpenAI supervised fine-tuning (upload the JSONL)",
    ExportKind.OPENAI_PREFERENCE: "OpenAI preference (DPO) fine-tuning (upload the JSONL)",
}


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class CardInputs:
    export_id: int
    created_at: str
    snapshot_at: str
    project: dict[str, Any]  # id, name, organization, config (snapshot)
    options: ExportOptions
    schema: pa.Schema
    splits: dict[str, int]
    data_files: dict[str, str]  # split -> path inside the folder
    data_bytes: dict[str, int]  # split -> size of its file
    stats: dict[str, Any]
    guidelines: dict[str, Any]
    filters: dict[str, Any]
    redactions: dict[str, Any]
    limitations: list[str] = field(default_factory=list)


def license_yaml(value: str) -> dict[str, str]:
    slug = value.strip().lower().replace(" ", "-")
    if not slug:
        return {}
    if slug in HF_LICENSES:
        return {"license": slug}
    return {"license": "other", "license_name": slug[:80]}


def csv_schema(schema: pa.Schema) -> pa.Schema:
    """What a CSV holds: nested values are JSON text."""
    return pa.schema([(f.name, pa.string() if pa.types.is_nested(f.type) else f.type) for f in schema])


def yaml_header(inputs: CardInputs) -> dict[str, Any]:
    options = inputs.options
    schema = csv_schema(inputs.schema) if options.format == ExportFormat.CSV else inputs.schema
    header: dict[str, Any] = {**license_yaml(inputs.project["config"].get("dataset_license", ""))}
    header["pretty_name"] = f"{inputs.project['name']} ({options.kind})"
    header["tags"] = ["verity", "human-feedback", options.kind.replace("_", "-")]
    header["configs"] = [{
        "config_name": "default",
        "data_files": [{"split": split, "path": path} for split, path in inputs.data_files.items()],
    }]
    header["dataset_info"] = {
        "features": hf_features(schema),
        "splits": [{"name": split, "num_bytes": inputs.data_bytes[split], "num_examples": inputs.splits[split]}
                   for split in inputs.data_files],
    }
    return header


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_card(inputs: CardInputs) -> str:
    options, stats = inputs.options, inputs.stats
    header = yaml.safe_dump(yaml_header(inputs), sort_keys=False, allow_unicode=True)
    license_value = inputs.project["config"].get("dataset_license") or "not set (ask the project owner before sharing)"
    sections = [
        f"---\n{header}---",
        f"# {inputs.project['name']}: {ExportKind(options.kind).label}",
        (f"Built by Verity (export {inputs.export_id}, {inputs.created_at}) from human judgements of model "
         f"outputs in project {inputs.project['name']!r}. Annotations submitted after {inputs.snapshot_at} "
         "are not included."),
        "## Loading\n\n```python\nfrom datasets import load_dataset\n\n"
        "dataset = load_dataset(\"path/to/this/folder\")\n```"
        + (f"\n\nReady for {TRAINERS[options.kind]} without conversion." if options.kind in TRAINERS else ""),
        "## Fields\n\n" + _table(["field", "type"], [[f.name, describe_type(f.type)] for f in inputs.schema]),
        ("## Splits\n\n" + _table(["split", "records", "file"],
                                 [[s, inputs.splits[s], inputs.data_files[s]] for s in inputs.data_files])
         + f"\n\nSplit by prompt (no prompt appears in two splits), test fraction {options.test_fraction:g}, "
           f"seed {options.seed}."),
        "## Provenance\n\n" + "\n".join([
            f"- Items used: {stats['items_used']}; annotator pool: {stats['annotator_pool_size']} "
            "(pseudonymous, never named here)",
            f"- Aggregation: {', '.join(f'{k} ({v} items)' for k, v in stats['aggregation'].items()) or 'none'}",
            f"- Guidelines: current version {inputs.guidelines.get('current_version')} "
            f"(SHA-256 {inputs.guidelines.get('current_text_sha256')}); versions used: "
            + (", ".join(f"v{v} ({d['annotations']} annotations)" for v, d in inputs.guidelines["versions_used"].items())
               or "none"),
        ]) + "\n\n" + _table(["source model", "records"], [[m, n] for m, n in stats["source_models"].items()]),
        "## Agreement\n\n" + _table(["figure", "items", "mean", "min", "max"], [
            ["agreement (pairwise, categorical answers)", stats["agreement"]["count"], stats["agreement"]["mean"],
             stats["agreement"]["min"], stats["agreement"]["max"]],
            ["confidence (share agreeing with the label)", stats["confidence"]["count"],
             stats["confidence"]["mean"], stats["confidence"]["min"], stats["confidence"]["max"]],
        ]),
        "## Label distributions\n\n" + ("\n\n".join(
            f"**{name}**: " + ", ".join(f"{value} {count}" for value, count in counts.items())
            for name, counts in stats["label_distributions"].items()) or "None recorded."),
        "## Filters applied\n\n" + _table(["filter", "value"], [[k, v] for k, v in inputs.filters.items()]),
        "## Redactions\n\n" + _table(["what", "count"], [[k, v] for k, v in inputs.redactions.items()]),
        f"## Licence\n\n{license_value}",
        "## Known limitations\n\n" + "\n".join(f"- {line}" for line in inputs.limitations),
        "## Questions asked\n\n" + _table(
            ["id", "type", "applies to", "question"],
            [[q["id"], q["type"], q.get("applies_to", "item"), q.get("prompt", "")]
             for q in inputs.project["config"].get("questions", [])]),
    ]
    return "\n\n".join(sections) + "\n"


def known_limitations(inputs: CardInputs, counters: dict[str, int]) -> list[str]:
    options, stats = inputs.options, inputs.stats
    lines = []
    if options.redact_pii:
        lines.append("Personal data was redacted with pattern recognizers (e-mail, phone, payment card, IBAN, IP "
                     "address, SSN/NINO, street addresses with a postal code). Person names are not detected and "
                     "may remain.")
        if options.pii_source == "scan":
            lines.append("Prompts and responses were redacted with the spans of the project's privacy scan; text "
                         "imported but not yet scanned would not be redacted (pii_source=detect re-detects).")
    else:
        lines.append("Personal data was NOT redacted: review before sharing.")
    if stats["aggregation"].get("majority_vote"):
        lines.append("Labels are an unweighted majority vote (mean for ratings); annotator reliability is not "
                     "modelled.")
    if stats["single_annotation_items"]:
        lines.append(f"{stats['single_annotation_items']} items have a single annotation: no agreement figure.")
    mean_agreement = stats["agreement"]["mean"]
    if mean_agreement is not None and mean_agreement < 0.6:
        lines.append(f"Agreement is low (mean {mean_agreement}); consider min_agreement.")
    if counters.get("harmful items (keep)") and options.kind not in (ExportKind.SPANS, ExportKind.RAW):
        lines.append(f"{counters['harmful items (keep)']} items have spans marked harmful or false that were kept "
                     "as written (harmful_spans=keep).")
    if any(k.startswith("pairs dropped") for k in counters):
        lines.append("Ties and 'both bad' judgements were dropped: the pairs over-represent clear preferences.")
    if counters.get("chat prompts flattened"):
        lines.append("Chat prompts with several turns are flattened to 'Role: text' paragraphs in plain format.")
    if options.format == ExportFormat.CSV:
        lines.append("CSV cells starting with = + - @ (or tab/CR) carry a leading ' against formula injection; "
                     "nested fields are JSON text.")
    if options.kind == ExportKind.RAW:
        lines.append("Span offsets in raw answers refer to the original, unredacted texts (not included).")
    lines.append("Model outputs may contain factual errors or offensive text that annotators did not mark.")
    return lines
