"""Benchmark: personal-data scan of real model outputs (apps.privacy.services.pii_scan_items).

    .venv/bin/python bench/pii_scan.py --scale small   # AlpacaEval once: 805 prompts, 3,220 items
    .venv/bin/python bench/pii_scan.py --scale full    # AlpacaEval x8 + HH-RLHF: ~30,000 items

Runs in a throw-away database `<DATABASE_URL's name>_bench_pii` (created, migrated, dropped).
Items are real prompts and responses from ../shared/data beside the repo; into 5% of the responses a
known email, phone number, card number or IBAN is written at a random position, so the
run measures recall on those as well as speed. Prints one JSON object on its last line:
items/s and MB/s of text scanned, the seeded recall, and how many unseeded items were
flagged (real addresses and numbers in the data, or false positives).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
DATA = ROOT.parent / "shared" / "data"

SCALES = {"small": {"alpaca_copies": 1, "hh_rlhf": False}, "full": {"alpaca_copies": 8, "hh_rlhf": True}}
SEEDS = [
    "You can reach me at maria.keller{n}@example.com.",
    "Call +1 (415) 555-{n:04d} after 6pm.",
    "My card is 4111 1111 1111 1111, please charge it.",
    "Transfer it to DE89 3704 0044 0532 0130 00.",
]


@contextlib.contextmanager
def bench_database() -> Iterator[None]:
    import psycopg2

    base = os.environ["DATABASE_URL"]
    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/')}_bench_pii"
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield
    finally:
        from django.db import connections

        connections.close_all()
        os.environ["DATABASE_URL"] = base
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _rows(scale: dict) -> list[tuple[str, str, str]]:
    """(prompt, model, response) triples."""
    rows = []
    with gzip.open(DATA / "alpacaeval-outputs.jsonl.gz", "rt", encoding="utf-8") as handle:
        alpaca = [json.loads(line) for line in handle]
    for copy in range(scale["alpaca_copies"]):
        suffix = "" if copy == 0 else f" (variant {copy})"
        rows += [(row["prompt"] + suffix, row["model"], row["response"]) for row in alpaca]
    if scale["hh_rlhf"]:
        with gzip.open(DATA / "hh-rlhf-harmless-test.jsonl.gz", "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                prompt, _, chosen = row["chosen"].rpartition("\n\nAssistant:")
                rows.append((prompt.strip(), "hh-chosen", chosen.strip()))
    return rows


def _load(rows: list[tuple[str, str, str]], rng: random.Random) -> tuple[list[int], set[int], int]:
    from apps.accounts.models import Organization
    from apps.items.models import Generation, Item, ItemGeneration, Prompt
    from apps.projects.models import Project

    def digest(*parts: object) -> str:
        return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()

    organization = Organization.objects.create(name="Bench", slug="bench")
    project = Project.objects.create(organization=organization, name="PII bench", questions=[])
    prompts: dict[str, Prompt] = {}
    for prompt_text, _, _ in rows:
        if prompt_text not in prompts:
            prompts[prompt_text] = Prompt(project=project, text=prompt_text, content_hash=digest("p", prompt_text))
    Prompt.objects.bulk_create(prompts.values(), batch_size=2000)
    generations = []
    seeded_rows = set()
    for index, (prompt_text, model, response) in enumerate(rows):
        if rng.random() < 0.05:
            seed = SEEDS[index % len(SEEDS)].format(n=index % 10000)
            cut = rng.randint(0, len(response))
            cut = response.rfind(" ", 0, cut) + 1 if " " in response[:cut] else 0
            response = f"{response[:cut]}{seed} {response[cut:]}"
            seeded_rows.add(index)
        generations.append(
            Generation(project=project, prompt=prompts[prompt_text], model_name=model, text=response,
                       content_hash=digest("g", index))
        )
    Generation.objects.bulk_create(generations, batch_size=2000)
    items = [
        Item(project=project, prompt=g.prompt, content_hash=digest("i", index), required_annotations=1)
        for index, g in enumerate(generations)
    ]
    Item.objects.bulk_create(items, batch_size=2000)
    ItemGeneration.objects.bulk_create(
        [ItemGeneration(item=item, generation=g, position=0) for item, g in zip(items, generations, strict=True)],
        batch_size=2000,
    )
    characters = sum(len(p.text) for p in prompts.values()) + sum(len(g.text) for g in generations)
    return [item.pk for item in items], {items[i].pk for i in seeded_rows}, characters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    args = parser.parse_args()
    rng = random.Random(20261128)
    rows = _rows(SCALES[args.scale])
    with bench_database():
        from apps.items.models import Item
        from apps.privacy.detection import warm_up
        from apps.privacy.models import PiiSpan
        from apps.privacy.services import pii_scan_items

        item_ids, seeded, characters = _load(rows, rng)
        warm_up()  # presidio and spaCy imports: once per worker process, not per scan
        started = time.perf_counter()
        counts = pii_scan_items(item_ids=item_ids)
        elapsed = time.perf_counter() - started
        flagged = set(Item.objects.filter(has_pii=True).values_list("pk", flat=True))
        by_type = {}
        for kind in PiiSpan.objects.values_list("type", flat=True):
            by_type[kind] = by_type.get(kind, 0) + 1
        result = {
            "benchmark": "pii_scan",
            "scale": args.scale,
            "items": counts.items,
            "texts_mb": round(characters / 1e6, 2),
            "seconds": round(elapsed, 2),
            "items_per_s": round(counts.items / elapsed, 1),
            "mb_per_s": round(characters / 1e6 / elapsed, 3),
            "seeded_items": len(seeded),
            "seeded_recall": round(len(seeded & flagged) / len(seeded), 4) if seeded else None,
            "unseeded_flagged": len(flagged - seeded),
            "spans_by_type": by_type,
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
