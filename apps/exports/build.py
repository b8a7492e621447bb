"""Building a dataset folder: stream bundles → compile → write per split → card, manifest, zip.

`build_dataset` writes into a local directory and knows nothing about jobs or
storage (the export service uploads the result); `preview_records` compiles the
first records the same way, for the export page.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from apps.exports.card import CardInputs, known_limitations, render_card, text_sha256
from apps.exports.compilers import COMPILERS, Context
from apps.exports.compilers.context import pseudonymizer
from apps.exports.models import ExportFormat
from apps.exports.options import ExportOptions
from apps.exports.redaction import PiiRedactor
from apps.exports.schemas import describe_type, schema_for
from apps.exports.source import iter_bundles, uses_quality_aggregates
from apps.exports.stats import ExportStats
from apps.exports.writers import SplitWriters, csv_cell, data_file_name, sha256_file, split_for
from apps.projects.models import GuidelineVersion, Project

FILTER_KEYS = ("min_agreement", "min_confidence", "min_annotations", "reviewed_only", "exclude_gold",
               "exclude_flagged", "exclude_suspended", "guideline_version", "date_from", "date_to",
               "harmful_spans", "harmful_labels", "redact_pii", "pii_source")
PREVIEW_MAX_ITEMS = 2000


@dataclass
class BuildResult:
    files: list[dict[str, Any]]  # name, bytes, sha256, split?, rows?
    split_counts: dict[str, int]
    record_count: int
    card: str
    manifest: dict[str, Any]
    stats: dict[str, Any]


def project_snapshot(project: Project) -> dict[str, Any]:
    current = project.current_guidelines()
    config = {
        name: getattr(project, name)
        for name in ("questions", "annotations_per_item", "min_annotations", "max_annotations",
                     "confidence_threshold", "gold_ratio", "per_annotator_cap", "blind_mode",
                     "min_seconds_per_item", "pii_policy", "content_warning", "allow_harmful_opt_out",
                     "dataset_license")
    }
    config["guidelines_version"] = current.version if current else None
    config["guidelines_sha256"] = text_sha256(current.text) if current else None
    return {"id": project.pk, "name": project.name, "organization": project.organization.name, "config": config}


def _context(project: Project, options: ExportOptions, salt: str) -> Context:
    redactor = PiiRedactor(source=options.pii_source) if options.redact_pii else None
    return Context(options, list(project.questions), redactor=redactor, pseudonym=pseudonymizer(salt))


def build_dataset(
    *,
    project: Project,
    options: ExportOptions,
    export_id: int,
    created_at: datetime,
    snapshot_at: datetime,
    out_dir: Path,
    salt: str,
    on_chunk: Callable[[int, int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> BuildResult:
    """Write data files, README.md and manifest.json into out_dir. `on_chunk(items, records)` may raise to stop;
    `on_total(items)` learns how many items there are once the first ones arrive."""
    schema = schema_for(options)
    ctx = _context(project, options, salt)
    compile_bundle = COMPILERS[options.kind]
    stats = ExportStats()
    writers = SplitWriters(out_dir, options.format, schema)
    records = 0
    prompt_id, writer = None, writers.get("train")
    observe_record = stats.observe_record

    def chunk_done(items: int) -> None:
        if on_chunk:
            on_chunk(items, records)

    try:
        for bundle in iter_bundles(project, options, snapshot_at, on_chunk=chunk_done, on_total=on_total):
            if not ctx.admit(bundle):
                continue
            aggregate = ctx.aggregate(bundle)
            if bundle.prompt_id != prompt_id:
                prompt_id = bundle.prompt_id
                writer = writers.get(split_for(bundle.prompt_hash, seed=options.seed,
                                               test_fraction=options.test_fraction))
            written = 0
            for record in compile_bundle(ctx, bundle):
                writer.write(record.row)
                observe_record(record)
                written += 1
            records += written
            stats.observe_bundle(bundle, aggregate, written)
    finally:
        split_counts = writers.close()
    digests = writers.digests()

    # Splits without records are left out (an empty JSONL file does not load), unless all are empty.
    data_files: dict[str, str] = {}
    for split_name in sorted(split_counts, key=lambda s: (s != "train", s)):
        name = data_file_name(options.format, split_name)
        if split_counts[split_name] or (split_name == "train" and not records):
            data_files[split_name] = name
        else:
            (out_dir / name).unlink(missing_ok=True)
    splits = {s: split_counts[s] for s in data_files}

    stats_dict = stats.as_dict()
    snapshot = project_snapshot(project)
    versions_used = {int(v): n for v, n in stats_dict["guideline_versions"].items()}
    texts = dict(GuidelineVersion.objects.filter(project=project, version__in=versions_used)
                 .values_list("version", "text"))
    guidelines = {
        "current_version": snapshot["config"]["guidelines_version"],
        "current_text_sha256": snapshot["config"]["guidelines_sha256"],
        "versions_used": {str(v): {"annotations": n, "text_sha256": text_sha256(texts[v]) if v in texts else None}
                          for v, n in sorted(versions_used.items())},
    }
    filters: dict[str, Any] = {k: getattr(options, k) for k in FILTER_KEYS}
    filters.update({k: v for k, v in sorted(ctx.counters.items()) if k.startswith(("skipped", "pairs dropped"))})
    redactions: dict[str, Any] = {
        "pii_redaction": f"on ({'stored privacy-scan spans' if options.pii_source == 'scan' else 'detected now'})"
        if options.redact_pii else "off"}
    if ctx.redactor:
        redactions.update({f"PII {t}": n for t, n in sorted(ctx.redactor.counts.items())})
        redactions["texts with personal data replaced"] = ctx.redactor.texts_changed
    redactions.update({k: v for k, v in sorted(ctx.counters.items())
                       if k.startswith(("harmful", "assistant messages"))})
    inputs = CardInputs(
        export_id=export_id, created_at=created_at.isoformat(), snapshot_at=snapshot_at.isoformat(),
        project=snapshot, options=options, schema=schema, splits=splits, data_files=data_files,
        data_bytes={split: (out_dir / name).stat().st_size for split, name in data_files.items()},
        stats=stats_dict, guidelines=guidelines, filters=filters, redactions=redactions,
    )
    inputs.limitations = known_limitations(inputs, dict(ctx.counters))
    card = render_card(inputs)
    (out_dir / "README.md").write_text(card, encoding="utf-8")

    split_of = {name: split_name for split_name, name in data_files.items()}
    files = []
    for name in [*data_files.values(), "README.md"]:
        path = out_dir / name
        entry: dict[str, Any] = {"name": name, "bytes": path.stat().st_size,
                                 "sha256": digests.get(name) or sha256_file(path)}
        if name in split_of:
            entry.update({"split": split_of[name], "rows": splits[split_of[name]]})
        files.append(entry)
    manifest = {
        "manifest_version": 1,
        "generator": "Verity",
        "export_id": export_id,
        "created_at": created_at.isoformat(),
        "snapshot_at": snapshot_at.isoformat(),
        "kind": options.kind,
        "format": options.format,
        "options": options.as_dict(),
        "fields": [{"name": f.name, "type": describe_type(f.type)} for f in schema],
        "files": files,
        "splits": splits,
        "record_count": records,
        "source_models": stats_dict["source_models"],
        "guidelines": guidelines,
        "annotator_pool_size": stats_dict["annotator_pool_size"],
        "aggregation": "quality app aggregates" if uses_quality_aggregates(options) else "majority vote",
        "agreement": stats_dict["agreement"],
        "confidence": stats_dict["confidence"],
        "margin": stats_dict["margin"],
        "label_distributions": stats_dict["label_distributions"],
        "items": {"used": stats_dict["items_used"], "without_records": stats_dict["items_without_records"]},
        "filters": filters,
        "redactions": redactions,
        "license": snapshot["config"]["dataset_license"] or None,
        "known_limitations": inputs.limitations,
        "project": snapshot,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str),
                                           encoding="utf-8")
    files.append({"name": "manifest.json", "bytes": (out_dir / "manifest.json").stat().st_size,
                  "sha256": sha256_file(out_dir / "manifest.json")})
    return BuildResult(files=files, split_counts=splits, record_count=records, card=card, manifest=manifest,
                       stats=stats_dict)


# Deflate runs at ~50 MB/s here: text files are compressed while that stays a few seconds,
# larger ones are stored as they are (Parquet is compressed inside already).
DEFLATE_MAX_BYTES = 256 * 1024**2


def write_archive(out_dir: Path, files: list[dict[str, Any]], archive: Path, folder: str) -> None:
    """Zip the folder under one top-level directory."""
    text_bytes = sum(f["bytes"] for f in files if not f["name"].endswith(".parquet"))
    with zipfile.ZipFile(archive, "w", allowZip64=True) as zf:
        for entry in files:
            deflate = not entry["name"].endswith(".parquet") and text_bytes <= DEFLATE_MAX_BYTES
            zf.write(out_dir / entry["name"], f"{folder}/{entry['name']}",
                     compress_type=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED, compresslevel=1)


def preview_records(*, project: Project, options: ExportOptions, snapshot_at: datetime, salt: str,
                    limit: int = 5) -> dict[str, Any]:
    """The first `limit` records as they will be written, scanning at most PREVIEW_MAX_ITEMS items."""
    schema = schema_for(options)
    ctx = _context(project, options, salt)
    compile_bundle = COMPILERS[options.kind]
    shown: list[dict[str, Any]] = []
    scanned = 0
    bundles = iter_bundles(project, options, snapshot_at, chunk_size=200, prefetch=False)
    try:
        for bundle in bundles:
            scanned += 1
            if scanned > PREVIEW_MAX_ITEMS or len(shown) >= limit:
                break
            if not ctx.admit(bundle):
                continue
            split = split_for(bundle.prompt_hash, seed=options.seed, test_fraction=options.test_fraction)
            for record in compile_bundle(ctx, bundle):
                shown.append({"split": split, "row": record.row})
                if len(shown) >= limit:
                    break
    finally:
        bundles.close()
    if options.format == ExportFormat.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(schema.names)
        rendered = []
        for entry in shown:
            line = io.StringIO()
            csv.writer(line).writerow([csv_cell(entry["row"].get(n)) for n in schema.names])
            rendered.append({"split": entry["split"], "text": line.getvalue()})
        return {"header": buffer.getvalue(), "records": rendered, "fields": schema.names}
    return {
        "header": None,
        "records": [{"split": e["split"], "text": json.dumps(e["row"], ensure_ascii=False, indent=2)} for e in shown],
        "fields": schema.names,
    }
