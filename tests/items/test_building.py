"""The shared item-building contract: planning is pure and balanced, inserting is idempotent."""

from __future__ import annotations

import hashlib
from collections import Counter
from itertools import combinations

import pytest

from apps.items import building
from apps.items.building import item_content_hash, items_insert, plan_item_groups
from apps.items.models import Item, ItemGeneration
from tests.factories import GenerationFactory, PromptFactory

MODELS = ["m1", "m2", "m3", "m4"]


def _fake(prompts: int, models=MODELS) -> dict[int, list[tuple[int, str]]]:
    return {
        p: [(p * 10 + i, name) for i, name in enumerate(models)] for p in range(1, prompts + 1)
    }


def test_each_makes_one_group_per_generation():
    groups = plan_item_groups(_fake(3), mode="each")
    assert len(groups) == 12
    assert all(len(gens) == 1 for _, gens in groups)
    assert sorted(g[0] for _, g in groups) == sorted(gid for gens in _fake(3).values() for gid, _ in gens)


def test_all_pairs_makes_every_pair_once_with_balanced_order():
    data = _fake(40)
    groups = plan_item_groups(data, mode="all_pairs", seed=7)
    assert len(groups) == 40 * 6
    for prompt_id, gens in data.items():
        pairs = [frozenset(g) for p, g in groups if p == prompt_id]
        assert sorted(map(sorted, pairs)) == sorted(sorted((a[0], b[0])) for a, b in combinations(gens, 2))
    # Position balance: for every model pairing each model is shown first about half the time.
    names = {gid: name for gens in data.values() for gid, name in gens}
    first = Counter((names[g[0]], names[g[1]]) for _, g in groups)
    for a, b in combinations(MODELS, 2):
        assert abs(first[(a, b)] - first[(b, a)]) <= 1


def test_plans_are_deterministic_for_a_seed_and_vary_between_seeds():
    data = _fake(30)
    assert plan_item_groups(data, mode="k_pairs", k=2, seed=3) == plan_item_groups(data, mode="k_pairs", k=2, seed=3)
    # Input order does not matter.
    shuffled = {p: list(reversed(g)) for p, g in reversed(list(data.items()))}
    assert plan_item_groups(shuffled, mode="all_pairs", seed=3) == plan_item_groups(data, mode="all_pairs", seed=3)
    assert plan_item_groups(data, mode="k_pairs", k=2, seed=3) != plan_item_groups(data, mode="k_pairs", k=2, seed=4)


def test_k_pairs_balances_model_pairings_across_prompts():
    data = _fake(60)
    groups = plan_item_groups(data, mode="k_pairs", k=2, seed=1)
    assert len(groups) == 120
    names = {gid: name for gens in data.values() for gid, name in gens}
    per_prompt = Counter(p for p, _ in groups)
    assert set(per_prompt.values()) == {2}
    pairings = Counter(tuple(sorted((names[a], names[b]))) for _, (a, b) in groups)
    assert len(pairings) == 6
    assert max(pairings.values()) - min(pairings.values()) <= 1  # 120 / 6 = 20 each
    # With k=2 and 4 models, a prompt's two pairs use four different models.
    for prompt_id in data:
        used = [g for p, gens in groups if p == prompt_id for g in gens]
        assert len(set(used)) == 4


def test_k_pairs_with_fewer_generations_than_k_takes_what_exists():
    data = {1: [(11, "a"), (12, "b")], 2: [(21, "a")]}
    groups = plan_item_groups(data, mode="k_pairs", k=3)
    assert [p for p, _ in groups] == [1]
    assert sorted(groups[0][1]) == [11, 12]


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="unknown item mode"):
        plan_item_groups({}, mode="triples")


def _generations(project, prompts=3, models=("m1", "m2", "m3")):
    out = {}
    for _ in range(prompts):
        prompt = PromptFactory(project=project)
        out[prompt.pk] = [
            (GenerationFactory(project=project, prompt=prompt, model_name=m).pk, m) for m in models
        ]
    return out


def test_items_insert_creates_items_links_and_skips_duplicates(project):
    data = _generations(project)
    groups = plan_item_groups(data, mode="all_pairs", seed=0)
    created, duplicates = items_insert(project=project, groups=groups, metadata={"batch": "x"}, priority=5)
    assert (created, duplicates) == (9, 0)
    item = Item.objects.get(content_hash=item_content_hash(*groups[0]))
    assert item.kind == "pair"
    assert item.required_annotations == project.annotations_per_item
    assert item.metadata == {"batch": "x"} and item.priority == 5 and item.state == "open"
    assert tuple(g.pk for g in item.ordered_generations()) == groups[0][1]
    assert ItemGeneration.objects.filter(item__project=project).count() == 18

    # Again, plus one new single item: only the new one is created.
    prompt_id, gens = next(iter(data.items()))
    created, duplicates = items_insert(project=project, groups=[*groups, (prompt_id, (gens[0][0],))])
    assert (created, duplicates) == (1, 9)
    assert Item.objects.filter(project=project).count() == 10


def test_items_insert_gold_and_duplicates_within_one_call(project):
    data = _generations(project, prompts=1, models=("a",))
    (prompt_id, gens), = data.items()
    group = (prompt_id, (gens[0][0],))
    created, duplicates = items_insert(
        project=project, groups=[group, group], is_gold=True, gold_answers={"overall": 4}
    )
    assert (created, duplicates) == (1, 1)
    item = Item.objects.get(project=project)
    assert item.is_gold and item.gold_answers == {"overall": 4} and item.kind == "single"


def test_items_another_writer_committed_meanwhile_are_skipped(project, monkeypatch):
    """A batch of new items is COPYed straight in; if another writer committed one of them
    after the check (here: the check is told there are none), the unique index stops the
    COPY and the batch goes in through the staging path without duplicates."""
    data = _generations(project, prompts=2, models=("a", "b"))
    groups = plan_item_groups(data, mode="all_pairs", seed=0)
    assert items_insert(project=project, groups=groups[:1]) == (1, 0)
    monkeypatch.setattr(building, "_project_has_items_between", lambda *args: False)

    created, duplicates = items_insert(project=project, groups=groups, metadata={"batch": "y"})

    assert (created, duplicates) == (1, 1)
    assert Item.objects.filter(project=project).count() == 2
    second = Item.objects.get(content_hash=item_content_hash(*groups[1]))
    assert tuple(g.pk for g in second.ordered_generations()) == groups[1][1]
    assert second.metadata == {"batch": "y"} and second.kind == "pair"
    assert ItemGeneration.objects.filter(item__project=project).count() == 4


def test_item_hashes_lead_with_the_prompt_id():
    """So a batch of items lands in one region of the (project, content_hash) index."""
    digest = item_content_hash(0x1E240, (7, 9))
    assert digest == "000000000001e240" + hashlib.sha256(b"item\x1f123456\x1f7,9").hexdigest()[:48]
    assert len(digest) == 64 and item_content_hash(5, (9, 7)) != item_content_hash(5, (7, 9))
