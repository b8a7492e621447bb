"""Build an export folder in-process (no Celery) for tests that inspect the files."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from django.utils import timezone

from apps.exports.build import BuildResult, build_dataset
from apps.exports.services import export_options_parse, export_salt_for


def build(project, tmp_path: Path, kind: str, fmt: str = "jsonl", **raw) -> tuple[BuildResult, Path]:  # type: ignore[no-untyped-def]
    options = export_options_parse(project=project, kind=kind, fmt=fmt, raw=raw)
    out = Path(tempfile.mkdtemp(prefix=f"{kind}-{fmt}-", dir=tmp_path))
    now = timezone.now()
    result = build_dataset(project=project, options=options, export_id=1, created_at=now, snapshot_at=now,
                           out_dir=out, salt=export_salt_for(project=project))
    return result, out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
