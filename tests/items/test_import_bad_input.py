"""Bad input gets a clear row-level or file-level error, and nothing half-written for a rejected row."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.items.models import Generation, Item, Prompt
from tests.items.conftest import jsonl_bytes, run_import

ROWS = {"shape": "rows", "prompt": "prompt", "prompt_id": "id", "model": "model", "response": "response"}


def _row(n: int, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"id": f"p{n}", "prompt": f"Question {n}?", "model": "m1", "response": f"Answer {n}.", **extra}


def _errors(job) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return list(job.row_errors.order_by("line").values_list("line", "reason"))


def _csv(lines: list[str], newline: str = "\n") -> bytes:
    return newline.join(lines).encode() + newline.encode()


@pytest.mark.parametrize(
    "data,name,message",
    [
        (b"", "data.jsonl", "The file is empty."),
        (gzip.compress(b""), "data.jsonl.gz", "The file is empty."),
        (b"\n\n  \r\n", "data.jsonl", "no data rows"),
        (b"prompt,model,response\n", "data.csv", "no data rows"),
    ],
)
def test_empty_files_fail_clearly(project, data, name, message):
    job = run_import(project, data, ROWS if name.endswith("jsonl") or name.endswith(".gz") else {
        **ROWS, "prompt_id": ""}, name=name)
    assert job.status == "failed"
    assert message in job.error_message
    assert not Item.objects.filter(project=project).exists()


def test_truncated_last_line_is_rejected_and_the_rest_kept(project):
    body = jsonl_bytes([_row(1), _row(2)]) + b'{"id": "p3", "prompt": "Question 3?", "mod'
    job = run_import(project, body, ROWS)
    assert job.status == "succeeded"
    assert (job.rows_read, job.rows_rejected, job.items_created) == (3, 1, 2)
    [(line, reason)] = _errors(job)
    assert line == 3 and "invalid JSON" in reason and "truncated" in reason


def test_truncated_gzip_keeps_rows_before_and_says_so(project):
    rows = [_row(n, response="x" * 200 + str(n)) for n in range(3000)]
    compressed = gzip.compress(jsonl_bytes(rows))
    job = run_import(project, compressed[: len(compressed) // 2], ROWS, name="data.jsonl.gz")
    assert job.status == "failed"
    assert "truncated after line" in job.error_message
    assert 0 < Item.objects.filter(project=project).count() < 3000


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_bom_and_crlf_in_jsonl_and_csv(project, newline, bom):
    jsonl = bom + "".join(json.dumps(_row(n)) + newline for n in range(3)).encode()
    job = run_import(project, jsonl, ROWS)
    assert (job.status, job.items_created, job.rows_rejected) == ("succeeded", 3, 0)
    csv_body = bom + _csv(["id,prompt,model,response", 'c1,"Line one\nline two",m1,Fine.', "c2,Short,m1,Also fine."],
                          newline)
    job = run_import(project, csv_body, ROWS, name="data.csv")
    assert (job.status, job.items_created, job.rows_rejected) == ("succeeded", 2, 0), _errors(job)
    texts = set(Generation.objects.filter(project=project).values_list("text", flat=True))
    assert {"Answer 0.", "Fine.", "Also fine."} <= texts  # no stray \r, the BOM not part of a column name
    assert Prompt.objects.get(project=project, external_id="c1").text == "Line one\nline two"


def test_invalid_utf8_names_the_line_and_byte(project):
    good = jsonl_bytes([_row(1)])
    bad = b'{"id": "p2", "prompt": "caf' + b"\xff" + b'", "model": "m1", "response": "x"}\n'
    body = good + bad + json.dumps(_row(3, prompt="Déjà vu?"), ensure_ascii=False).encode() + b"\n"
    job = run_import(project, body, ROWS)
    assert (job.status, job.items_created) == ("succeeded", 2)
    [(line, reason)] = _errors(job)
    assert line == 2 and reason == "invalid UTF-8: byte 0xFF at byte 28"
    assert not Prompt.objects.filter(project=project, external_id="p2").exists()


def test_invalid_utf8_in_csv(project):
    body = "id,prompt,model,response\nc1,naïve,m1,fine\n".encode() + b"c2,bad \xe9 byte,m1,fine\n"
    job = run_import(project, body, ROWS, name="data.csv")
    assert job.items_created == 1
    [(line, reason)] = _errors(job)
    assert line == 3 and reason == "invalid UTF-8: byte 0xE9 in column 'prompt'"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_is_detected(project, encoding):
    text = "".join(json.dumps(_row(n, prompt="Ça va? ✓"), ensure_ascii=False) + "\n" for n in range(4))
    job = run_import(project, text.encode(encoding), ROWS)
    assert (job.status, job.items_created, job.encoding) == ("succeeded", 4, encoding if encoding != "utf-16-le" else "utf-16-le")
    assert Prompt.objects.filter(project=project, text="Ça va? ✓").count() == 4


def test_latin1_is_rejected_clearly_unless_chosen(project):
    body = "id,prompt,model,response\nc1,Café crème,m1,Très bien\n".encode("latin-1")
    job = run_import(project, body, ROWS, name="data.csv")
    assert job.status == "failed"
    assert "not UTF-8" in job.error_message and "line 2" in job.error_message and "0xE9" in job.error_message
    assert "latin-1" in job.error_message or "cp1252" in job.error_message
    job = run_import(project, body, {**ROWS, "encoding": "latin-1"}, name="data.csv")
    assert job.status == "succeeded" and job.encoding == "latin-1"
    assert Prompt.objects.get(project=project).text == "Café crème"


def test_nul_characters_reject_the_row_and_say_so(project):
    body = jsonl_bytes([_row(1, response="bad \u0000 text"), _row(2)])
    job = run_import(project, body, ROWS)
    assert job.items_created == 1
    [(line, reason)] = _errors(job)
    assert line == 1 and "NUL" in reason and "'response'" in reason and "rejected" in reason
    csv_job = run_import(project, b"id,prompt,model,response\nc1,a\x00b,m1,x\n", ROWS, name="data.csv")
    assert "NUL" in _errors(csv_job)[0][1]


def test_nul_in_metadata_is_rejected_too(project):
    job = run_import(project, jsonl_bytes([_row(1, note={"deep": "x\u0000"})]), ROWS)
    assert job.rows_rejected == 1 and "NUL" in _errors(job)[0][1]


def test_a_10_mb_field_is_rejected_with_the_limit(project, settings):
    assert settings.MAX_FIELD_BYTES == 1024**2
    body = jsonl_bytes([_row(1), _row(2, response="x" * (10 * 1024**2)), _row(3)])
    job = run_import(project, body, ROWS)
    assert (job.items_created, job.rows_rejected) == (2, 1)
    [(line, reason)] = _errors(job)
    assert line == 2 and "MAX_FIELD_BYTES" in reason and "1.0 MB" in reason


def test_field_over_a_configured_limit(project, settings):
    settings.MAX_FIELD_BYTES = 4096
    job = run_import(project, jsonl_bytes([_row(1, response="é" * 3000), _row(2)]), ROWS)
    [(line, reason)] = _errors(job)
    assert line == 1 and reason == "'response' is 5.9 KB; a field may be at most 4.0 KB (MAX_FIELD_BYTES)"


def test_missing_mapped_columns(project):
    rows = [_row(1), {"id": "p2", "prompt": "Q?", "model": "m1"}]
    job = run_import(project, jsonl_bytes(rows), ROWS)
    assert job.items_created == 1
    assert _errors(job) == [(2, "missing column 'response'")]
    # A CSV declares its columns: a mapped column that is not there fails the whole file at once.
    job = run_import(project, b"id,prompt,model,answer\nc1,Q,m1,A\n", ROWS, name="data.csv")
    assert job.status == "failed"
    assert "'response' is not in the file" in job.error_message and "id, prompt, model, answer" in job.error_message


def test_every_row_rejected_fails_the_job_with_the_common_reason(project):
    rows = [{"id": f"p{n}", "question": "Q?", "model": "m1", "response": "A"} for n in range(5)]
    job = run_import(project, jsonl_bytes(rows), ROWS)
    assert job.status == "failed"
    assert "All rows were rejected" in job.error_message and "missing column 'prompt'" in job.error_message


def test_wrong_types(project):
    rows = [
        _row(1, response={"text": "nested"}),
        _row(2, response=None),
        _row(3, prompt=["not", "messages"]),
        {**_row(4), "tokens": "many"},
        {**_row(5), "gold": "maybe"},
        _row(6, response=42),  # numbers are fine as text
        ["a", "list"],
    ]
    mapping = {**ROWS, "completion_tokens": "tokens", "is_gold": "gold"}
    job = run_import(project, b"".join(json.dumps(r).encode() + b"\n" for r in rows), mapping)
    errors = dict(_errors(job))
    assert errors[1] == "'response' must be text, got an object"
    assert errors[2] == "'response' is empty (null); expected text"
    assert "message 1 needs a role" in errors[3]
    assert errors[4] == "'tokens' must be a whole number ≥ 0, got 'many'"
    assert errors[5] == "'gold' must be true or false, got 'maybe'"
    assert errors[7] == "expected a JSON object, got list"
    assert job.items_created == 1 and Generation.objects.get(project=project).text == "42"


def test_ragged_csv_rows(project):
    body = _csv(["id,prompt,model,response", "c1,Q1,m1,A1", "c2,Q2,m1", "c3,Q3,m1,A3,extra", "c4,Q4,m1,A4"])
    job = run_import(project, body, ROWS, name="data.csv")
    assert job.items_created == 2
    assert _errors(job) == [(3, "the row has 3 fields; the header has 4"), (4, "the row has 5 fields; the header has 4")]


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_parquet_nested_column_mapped_to_text_fails_clearly(project):
    table = pa.table({
        "id": ["p1"], "prompt": [{"text": "Q?", "lang": "en"}], "model": ["m1"], "response": ["A"],
    })
    job = run_import(project, _parquet(table), ROWS, name="data.parquet")
    assert job.status == "failed"
    assert "Column 'prompt' is a nested Parquet column (struct<text: string, lang: string>)" in job.error_message


def test_parquet_nested_unmapped_columns_become_metadata(project):
    table = pa.table({
        "id": ["p1", "p2"], "prompt": ["Q1?", "Q2?"], "model": ["m1", "m1"], "response": ["A1", "A2"],
        "tags": [["a", "b"], []], "info": [{"lang": "en"}, {"lang": "fr"}],
    })
    job = run_import(project, _parquet(table), ROWS, name="data.parquet")
    assert (job.status, job.items_created, job.file_format) == ("succeeded", 2, "parquet")
    item = Item.objects.get(project=project, prompt__external_id="p1")
    assert item.metadata == {"tags": ["a", "b"], "info": {"lang": "en"}}


def test_line_numbers_count_blank_lines(project):
    body = jsonl_bytes([_row(1)]) + b"\n\n" + b"{not json}\n" + jsonl_bytes([_row(2)])
    job = run_import(project, body, ROWS)
    assert _errors(job)[0][0] == 4 and job.items_created == 2


def test_lone_surrogates_are_rejected_but_escaped_pairs_are_fine(project):
    body = (b'{"id": "p1", "prompt": "Q", "model": "m", "response": "bad \\ud800 half"}\n'
            b'{"id": "p2", "prompt": "Q", "model": "m", "response": "emoji \\ud83d\\ude00"}\n')
    job = run_import(project, body, ROWS)
    assert job.items_created == 1 and Generation.objects.get(project=project).text == "emoji 😀"
    assert _errors(job) == [(1, "invalid JSON: no low surrogate in string at column 60")]


def test_one_damaged_line_in_a_long_ascii_file_is_a_row_error(project):
    lines = [json.dumps(_row(n)).encode() for n in range(30)]
    lines[10] = lines[10].replace(b"Answer", b"Answ\xe9r")
    job = run_import(project, b"\n".join(lines) + b"\n", ROWS)
    assert job.status == "succeeded" and job.items_created == 29
    offset = lines[10].index(b"\xe9") + 1
    assert _errors(job) == [(11, f"invalid UTF-8: byte 0xE9 at byte {offset}")]


def test_early_stop_when_the_first_thousand_rows_are_all_rejected(project, monkeypatch):
    from apps.items.importing import pipeline

    monkeypatch.setattr(pipeline, "BATCH_ROWS", 500)
    rows = [{"id": f"p{n}", "question": "Q", "model": "m", "response": "A"} for n in range(3000)]
    job = run_import(project, jsonl_bytes(rows), ROWS)
    assert job.status == "failed"
    assert job.error_message.startswith("The first 1,000 rows were rejected")
    assert job.rows_read == 1000  # it stopped instead of reading on
