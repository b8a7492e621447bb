"""The files themselves: `datasets.load_dataset` reads them offline, hashes match, CSV is safe."""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile

import pytest
import yaml

from apps.exports.build import write_archive
from apps.privacy.services import pii_scan_items
from tests.exports.conftest import HARMFUL, annotate, answers_for
from tests.exports.helpers import build
from tests.factories import make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def load_dataset(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """datasets.load_dataset with no network and a private cache."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True, raising=False)
    datasets.disable_progress_bars()

    def load(*args, **kwargs):  # type: ignore[no-untyped-def]
        return datasets.load_dataset(*args, cache_dir=str(tmp_path / "hf-cache"), **kwargs)

    return load


def test_load_dataset_reads_jsonl_parquet_and_the_folder(dataset, tmp_path, load_dataset):
    options = {"test_fraction": "0.4", "seed": "3", "conversational": "true", "margin": "true"}
    for fmt in ("jsonl", "parquet", "csv"):
        result, out = build(dataset.project, tmp_path, "preference", fmt, **options)
        assert set(result.split_counts) == {"train", "test"}
        for entry in result.files:  # JSONL is hashed while written, the rest after
            assert hashlib.sha256((out / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
        loaded = load_dataset(str(out))  # README.md's YAML `configs` names the files
        assert {s: loaded[s].num_rows for s in loaded} == result.split_counts
        if fmt != "csv":
            explicit = load_dataset("json" if fmt == "jsonl" else "parquet",
                                    data_files={s: str(out / f"{s}.{fmt}") for s in result.split_counts})
            assert {s: explicit[s].num_rows for s in explicit} == result.split_counts
            assert loaded["train"].features["chosen"].feature["role"].dtype == "string"
            assert isinstance(loaded["train"][0]["margin"], float)
            assert loaded["train"][0]["prompt"][0]["role"] == "user"
        else:
            assert json.loads(loaded["train"][0]["prompt"])[0]["role"] == "user"


def test_hugging_face_folder_zip_loads_and_hashes_match(dataset, tmp_path, load_dataset):
    result, out = build(dataset.project, tmp_path, "kto", "hf", test_fraction="0.3", sources="verdict",
                        positive_values="good")
    archive = tmp_path / "dataset.zip"
    write_archive(out, result.files, archive, "my-dataset")
    target = tmp_path / "unzipped"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(target)
    folder = target / "my-dataset"
    names = {f["name"] for f in result.files}
    assert {"README.md", "manifest.json", "data/train-00000-of-00001.parquet",
            "data/test-00000-of-00001.parquet"} == names
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        assert hashlib.sha256((folder / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    assert "manifest.json" not in {f["name"] for f in manifest["files"]}
    loaded = load_dataset(str(folder))
    assert {s: loaded[s].num_rows for s in loaded} == manifest["splits"] == result.split_counts
    assert sum(manifest["splits"].values()) == manifest["record_count"] == 24
    assert loaded["train"].features["label"].dtype == "bool"
    train_prompts = set(loaded["train"]["prompt"])
    assert train_prompts and not train_prompts & set(loaded["test"]["prompt"])


def test_card_and_manifest_describe_the_export(dataset, tmp_path):
    result, out = build(dataset.project, tmp_path, "labels", "parquet", test_fraction="0.2")
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "cc-by-4.0"
    assert [c["split"] for c in header["configs"][0]["data_files"]] == list(result.split_counts)
    manifest = json.loads((out / "manifest.json").read_text())
    guideline = dataset.project.current_guidelines()
    assert manifest["guidelines"]["current_text_sha256"] == hashlib.sha256(guideline.text.encode()).hexdigest()
    assert manifest["annotator_pool_size"] == 3
    assert manifest["project"]["config"]["questions"][0]["id"] == "preference"
    assert manifest["label_distributions"]["preference"] == {"a": 8, "b": 4}
    assert manifest["filters"]["exclude_suspended"] is True
    assert manifest["redactions"]["pii_redaction"] == "on (stored privacy-scan spans)"
    assert manifest["agreement"]["count"] == 12 and manifest["license"] == "cc-by-4.0"
    assert manifest["known_limitations"]
    for text in ("Annotator pool: 3".lower(), "## known limitations", "cc-by-4.0", "model-a"):
        assert text in card.lower()


def test_csv_cells_cannot_start_formulas(export_project, annotator, tmp_path):
    item = make_item(export_project, responses=2, prompt_text='=HYPERLINK("http://evil.example","x")')
    a, b = item.ordered_generations()
    a.text, b.text = "+SUM(A1:A9)", "@cmd|' /C calc'!A0"
    a.save()
    b.save()
    annotate(item, annotator, answers_for(item, choice="a", ratings=(5, 1), why="-2+3"))
    result, out = build(export_project, tmp_path, "labels", "csv", redact_pii="false")
    with open(out / "train.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["prompt"].startswith("'=HYPERLINK")
    responses = json.loads(rows[0]["responses"])
    assert responses[0]["text"] == "+SUM(A1:A9)"  # inside JSON text, which starts with '['
    raw_result, raw_out = build(export_project, tmp_path, "raw", "csv")
    with open(raw_out / "train.csv", newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
    _, sft_out = build(export_project, tmp_path, "sft", "csv", sources="rated", sft_format="prompt_completion",
                       redact_pii="false")
    with open(sft_out / "train.csv", newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert row["completion"] == "'+SUM(A1:A9)" and row["prompt"].startswith("'=")


def test_span_offsets_follow_the_redacted_text(export_project, annotator, tmp_path):
    item = make_item(export_project, responses=2)
    a, _ = item.ordered_generations()
    a.text = f"Mail me at someone@example.com. Then {HARMFUL}, it works."
    a.save()
    start = a.text.index(HARMFUL)
    spans = [{"start": start, "end": start + len(HARMFUL), "label": "harmful", "generation": a.pk},
             {"start": 11, "end": 30, "label": "bias", "generation": a.pk}]
    annotate(item, annotator, answers_for(item, choice="a", ratings=(5, 1), spans=spans))
    pii_scan_items(item_ids=[item.pk])
    result, out = build(export_project, tmp_path, "spans", "jsonl")
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    (row,) = [r for r in rows if r["generation_id"] == a.pk]
    assert "someone@example.com" not in row["text"]
    texts = {s["label"]: row["text"][s["start"]:s["end"]] for s in row["spans"]}
    assert texts == {"harmful": HARMFUL, "bias": "[EMAIL]"}
    assert all(s["votes"] == 1 for s in row["spans"])
    assert result.manifest["label_distributions"]["label"] == {"bias": 1, "harmful": 1}
