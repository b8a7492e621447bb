"""manage.py import_items: mapping as JSON or flags, progress output, a clear failure."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.items.models import Item
from tests.items.conftest import ALPACA_MAPPING, jsonl_bytes


def _file(tmp_path, rows):  # type: ignore[no-untyped-def]
    path = tmp_path / "rows.jsonl"
    path.write_bytes(jsonl_bytes(rows))
    return path


ROWS = [{"prompt_id": f"p{n}", "prompt": f"Q{n}", "model": m, "response": f"{m}{n}"} for n in range(3) for m in "ab"]


def test_import_with_a_json_mapping_prints_progress(project, tmp_path):
    out = io.StringIO()
    call_command("import_items", project.pk, str(_file(tmp_path, ROWS)), "--mapping",
                 json.dumps({**ALPACA_MAPPING, "item_mode": "all_pairs"}), stdout=out)
    text = out.getvalue()
    assert "100%" in text and "succeeded: 6 rows read, 0 rejected" in text and "3 items created" in text
    assert Item.objects.filter(project=project, kind="pair").count() == 3


def test_import_with_flags_and_a_guess(project, tmp_path, shared_data):
    out = io.StringIO()
    call_command("import_items", project.pk, str(shared_data / "hh-rlhf-harmless-test.jsonl.gz"),
                 "--shape", "preference", "--chosen", "chosen", "--rejected", "rejected", "--item-mode", "all_pairs",
                 stdout=out)
    assert "2,312 items created" in out.getvalue()
    guessed = io.StringIO()
    call_command("import_items", project.pk, str(_file(tmp_path, ROWS)), stdout=guessed)
    assert '"prompt_id": "prompt_id"' in guessed.getvalue() and "6 items created" in guessed.getvalue()


def test_errors_are_reported(project, tmp_path):
    with pytest.raises(CommandError, match="No project with id"):
        call_command("import_items", 999999, str(_file(tmp_path, ROWS)))
    with pytest.raises(CommandError, match="No file at"):
        call_command("import_items", project.pk, str(tmp_path / "missing.jsonl"))
    with pytest.raises(CommandError, match="Bad mapping: response: is required"):
        call_command("import_items", project.pk, str(_file(tmp_path, ROWS)), "--mapping", '{"prompt": "prompt"}')
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(CommandError, match="The file is empty"):
        call_command("import_items", project.pk, str(empty), "--mapping", json.dumps(ALPACA_MAPPING), stdout=io.StringIO())
