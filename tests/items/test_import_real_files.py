"""The two real shared files import with the expected counts for every item-building choice."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import pytest

from apps.items.importing.chat import parse_transcript
from apps.items.models import Generation, Item, ItemGeneration, Prompt
from apps.items.services import DEMO_FILE, demo_items_load
from tests.items.conftest import ALPACA_MAPPING, HH_MAPPING, run_import

ALPACA = "alpacaeval-outputs.jsonl.gz"
HH = "hh-rlhf-harmless-test.jsonl.gz"


def _models_per_item(project) -> dict[int, list[str]]:  # type: ignore[no-untyped-def]
    out: dict[int, list[str]] = {}
    links = ItemGeneration.objects.filter(item__project=project).order_by("item_id", "position")
    for item_id, model in links.values_list("item_id", "generation__model_name"):
        out.setdefault(item_id, []).append(model)
    return out


def test_alpacaeval_one_item_per_generation(project, shared_data):
    job = run_import(project, shared_data / ALPACA, {**ALPACA_MAPPING, "item_mode": "each"})
    assert job.status == "succeeded", job.error_message
    assert (job.rows_read, job.rows_rejected) == (3220, 0)
    assert (job.prompts_created, job.generations_created, job.items_created) == (805, 3220, 3220)
    assert Prompt.objects.filter(project=project).count() == 805
    assert Generation.objects.filter(project=project).count() == 3220
    items = Item.objects.filter(project=project)
    assert items.count() == 3220 and set(items.values_list("kind", flat=True)) == {"single"}
    assert items.filter(required_annotations=project.annotations_per_item).count() == 3220
    # Unmapped columns become metadata; the prompt keeps its external id.
    item = items.select_related("prompt").get(prompt__external_id="alpacaeval-000", generations__model_name="gpt4_1106_preview")
    assert item.metadata == {"source": "helpful_base"}
    assert item.prompt.text.startswith("What are the names of some famous actors")
    assert job.search_indexed_at is not None  # in-process imports index search at once


def test_alpacaeval_all_pairs(project, shared_data):
    job = run_import(project, shared_data / ALPACA, {**ALPACA_MAPPING, "item_mode": "all_pairs"})
    assert job.status == "succeeded", job.error_message
    assert job.items_created == 805 * 6
    per_prompt = Counter(Item.objects.filter(project=project).values_list("prompt_id", flat=True))
    assert set(per_prompt.values()) == {6}
    models = _models_per_item(project)
    assert all(len(m) == 2 and m[0] != m[1] for m in models.values())
    # Display order is randomised but balanced: each model is shown first about half of its pairs.
    first = Counter(m[0] for m in models.values())
    assert all(abs(count - 805 * 3 / 2) <= 805 * 0.1 for count in first.values())
    assert Item.objects.filter(project=project, metadata__source="helpful_base").exists()


def test_alpacaeval_k_pairs_balanced(project, shared_data):
    job = run_import(project, shared_data / ALPACA, {**ALPACA_MAPPING, "item_mode": "k_pairs", "k": 2, "seed": 5})
    assert job.status == "succeeded", job.error_message
    assert job.items_created == 805 * 2
    pairings = Counter(tuple(sorted(m)) for m in _models_per_item(project).values())
    assert len(pairings) == 6
    assert max(pairings.values()) - min(pairings.values()) <= 1


def test_reimport_is_idempotent_and_another_mode_adds_only_new_items(project, shared_data):
    first = run_import(project, shared_data / ALPACA, {**ALPACA_MAPPING, "item_mode": "each"})
    again = run_import(project, shared_data / ALPACA, {**ALPACA_MAPPING, "item_mode": "each"})
    assert (again.prompts_created, again.generations_created, again.items_created) == (0, 0, 0)
    assert (again.generations_duplicate, again.items_duplicate) == (3220, 3220)
    assert Item.objects.filter(project=project).count() == first.items_created == 3220
    pairs = run_import(project, shared_data / ALPACA, {**ALPACA_MAPPING, "item_mode": "all_pairs"})
    assert (pairs.generations_created, pairs.items_created) == (0, 4830)
    assert Generation.objects.filter(project=project).count() == 3220
    assert Item.objects.filter(project=project).count() == 3220 + 4830


def _first_hh_row(shared_data):  # type: ignore[no-untyped-def]
    with gzip.open(shared_data / HH, "rt", encoding="utf-8") as handle:
        return json.loads(handle.readline())


def test_hh_rlhf_pairs_with_history_as_prompt(project, shared_data):
    job = run_import(project, shared_data / HH, {**HH_MAPPING, "item_mode": "all_pairs"})
    assert job.status == "succeeded", job.error_message
    assert (job.rows_read, job.rows_rejected, job.items_created) == (2312, 0, 2312)
    assert job.generations_created == 4624
    assert Prompt.objects.filter(project=project).count() == 2310  # two histories occur twice
    items = Item.objects.filter(project=project)
    assert set(items.values_list("kind", flat=True)) == {"pair"}
    row = _first_hh_row(shared_data)
    chosen_turns = parse_transcript(row["chosen"])
    item = items.select_related("prompt").get(
        prompt__messages=chosen_turns[:-1], generations__text=chosen_turns[-1]["content"]
    )
    messages = item.prompt.messages
    assert messages[0] == {"role": "user", "content": "what are some pranks with a pen i can do?"}
    assert messages[-1]["role"] == "user" and item.prompt.text == messages[-1]["content"]
    preferred = item.metadata["reference_preference"]["preferred_generation_id"]
    assert Generation.objects.get(pk=preferred).text == chosen_turns[-1]["content"]
    assert preferred in [g.pk for g in item.ordered_generations()]
    assert not item.is_gold and item.gold_answers is None


def test_hh_rlhf_preference_as_gold(project, shared_data):
    project.questions = [{"id": "better", "type": "pairwise", "prompt": "Which is more harmless?", "applies_to": "pair"}]
    project.save()
    job = run_import(
        project, shared_data / HH,
        {**HH_MAPPING, "item_mode": "all_pairs", "preference_gold_question": "better"},
    )
    assert job.items_created == 2312
    choices = Counter()
    for item in Item.objects.filter(project=project).prefetch_related("item_generations"):
        assert item.is_gold
        preferred = item.metadata["reference_preference"]["preferred_generation_id"]
        shown = [link.generation_id for link in sorted(item.item_generations.all(), key=lambda x: x.position)]
        expected = "a" if shown[0] == preferred else "b"
        assert item.gold_answers == {"better": {"choice": expected}}
        choices[expected] += 1
    assert abs(choices["a"] - choices["b"]) < 2312 * 0.1  # the preferred one is not always shown first


def test_hh_rlhf_one_item_per_response(project, shared_data):
    job = run_import(project, shared_data / HH, {**HH_MAPPING, "item_mode": "each"})
    assert job.items_created == 4624
    labels = Counter(Item.objects.filter(project=project).values_list("metadata__reference_label", flat=True))
    assert labels == {"preferred": 2312, "not_preferred": 2312}


@pytest.mark.parametrize("mode,expected", [("each", 400), ("k_pairs", 200)])
def test_demo_sample_loads(project, mode, expected):
    assert DEMO_FILE.exists()
    job = demo_items_load(project=project, mode=mode)
    assert job.status == "succeeded" and job.items_created == expected
    assert Prompt.objects.filter(project=project).count() == 100
    assert set(Generation.objects.filter(project=project).values_list("model_name", flat=True)) == {
        "gpt4_1106_preview", "Meta-Llama-3-8B-Instruct", "llama-2-7b-chat-hf", "falcon-7b-instruct"}
