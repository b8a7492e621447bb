"""Shapes other than the two real files: several responses per row, messages lists, gold columns, CSV."""

from __future__ import annotations

import json

from apps.items.importing.mapping import MappingError, mapping_clean, mapping_guess
from apps.items.models import Generation, Item
from tests.items.conftest import jsonl_bytes, run_import

PAIRWISE = [
    {"id": "better", "type": "pairwise", "prompt": "Which is better?", "applies_to": "pair"},
    {"id": "overall", "type": "rating", "prompt": "Overall", "applies_to": "item", "min": 1, "max": 5},
]


def _shown(item: Item) -> list[str]:
    return [g.model_name for g in item.ordered_generations()]


def test_several_response_columns_with_model_names(project):
    rows = [{"q": f"Question {n}", "a": f"A{n}", "b": f"B{n}", "c": f"C{n}", "lang": "en"} for n in range(4)]
    mapping = {"shape": "multi", "prompt": "q", "responses": ["a", "b", "c"], "response_models": ["ma", "mb", "mc"],
               "item_mode": "all_pairs"}
    job = run_import(project, jsonl_bytes(rows), mapping)
    assert (job.status, job.generations_created, job.items_created) == ("succeeded", 12, 12)
    assert set(Generation.objects.filter(project=project).values_list("model_name", flat=True)) == {"ma", "mb", "mc"}
    item = Item.objects.filter(project=project).first()
    assert item.metadata == {"lang": "en"} and item.kind == "pair"


def test_one_column_holding_a_list_of_responses(project):
    rows = [
        {"prompt": "Q1", "outputs": [{"model": "x", "text": "X1"}, {"model": "y", "text": "Y1"}]},
        {"prompt": "Q2", "outputs": ["plain one", "plain two", "plain three"]},
        {"prompt": "Q3", "outputs": []},
    ]
    job = run_import(project, jsonl_bytes(rows), {"shape": "multi", "prompt": "prompt", "responses": "outputs",
                                                  "item_mode": "each"})
    assert job.items_created == 5
    assert list(job.row_errors.values_list("line", "reason")) == [(3, "'outputs' must be a non-empty list of responses")]
    assert set(Generation.objects.filter(project=project).values_list("model_name", flat=True)) == {
        "x", "y", "response-1", "response-2", "response-3"}


def test_openai_messages_grouped_by_prompt(project):
    history = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
    rows = [
        {"messages": [*history, {"role": "assistant", "content": "Blue."}], "model": "m1"},
        {"messages": [*history, {"role": "assistant", "content": "Red."}], "model": "m2"},
        {"messages": [{"role": "user", "content": "Hi"}], "model": "m1"},
    ]
    job = run_import(project, jsonl_bytes(rows), {"shape": "messages", "messages": "messages", "model": "model",
                                                  "item_mode": "all_pairs"})
    assert (job.prompts_created, job.generations_created, job.items_created) == (1, 2, 1)
    assert job.row_errors.get().reason == "'messages' must end with an assistant message (the response)"
    item = Item.objects.get(project=project)
    assert item.prompt.messages == history and item.prompt.text == "Name a colour."
    assert sorted(g.text for g in item.ordered_generations()) == ["Blue.", "Red."]


def test_gold_columns_with_pairwise_answer_follow_the_display_order(project):
    project.questions = PAIRWISE
    project.save()
    rows = [
        {"prompt": f"Q{n}", "first": f"good {n}", "second": f"bad {n}", "gold": True,
         "answers": {"better": {"choice": "a"}, "overall": 4}}
        for n in range(12)
    ] + [{"prompt": "Q-x", "first": "1", "second": "2", "gold": True, "answers": {"overall": 9}}]
    mapping = {"shape": "multi", "prompt": "prompt", "responses": ["first", "second"],
               "response_models": ["good", "bad"], "is_gold": "gold", "gold_answers": "answers",
               "item_mode": "all_pairs"}
    job = run_import(project, jsonl_bytes(rows), mapping)
    assert job.items_created == 12
    [error] = job.row_errors.all()
    assert error.line == 13 and "does not fit the questions" in error.reason and "overall" in error.reason
    flipped = 0
    for item in Item.objects.filter(project=project):
        shown = _shown(item)
        expected = "a" if shown[0] == "good" else "b"
        flipped += expected == "b"
        assert item.is_gold and item.gold_answers == {"better": {"choice": expected}, "overall": 4}
    assert 0 < flipped < 12  # the file's "a" is the first response, shown second about half the time


def test_csv_with_gold_and_token_columns(project):
    project.questions = PAIRWISE
    project.save()
    body = (
        b'id,prompt,model,response,gold,answers,tokens,latency\n'
        b'p1,Q1,m1,A1,true,"{""overall"": 5}",12,340\n'
        b'p2,Q2,m1,A2,false,,7,\n'
    )
    mapping = {"shape": "rows", "prompt": "prompt", "prompt_id": "id", "model": "model", "response": "response",
               "is_gold": "gold", "gold_answers": "answers", "completion_tokens": "tokens", "latency_ms": "latency"}
    job = run_import(project, body, mapping, name="data.csv")
    assert (job.status, job.items_created) == ("succeeded", 2), list(job.row_errors.values_list("reason", flat=True))
    gold = Item.objects.get(project=project, prompt__external_id="p1")
    assert gold.is_gold and gold.gold_answers == {"overall": 5}
    assert not Item.objects.get(project=project, prompt__external_id="p2").is_gold
    generation = Generation.objects.get(project=project, prompt__external_id="p1")
    assert (generation.completion_tokens, generation.latency_ms) == (12, 340)


def test_mapping_validation_names_each_problem():
    try:
        mapping_clean({"shape": "rows", "prompt": "p", "item_mode": "triples", "k": 0, "colour": "x"})
    except MappingError as exc:
        assert exc.errors == {
            "colour": "unknown mapping key",
            "item_mode": "must be one of each, all_pairs, k_pairs",
            "k": "must be between 1 and 50",
            "response": "is required for the 'rows' shape",
            "model": "map a model column or give a model_name for every row",
        }
    else:
        raise AssertionError("expected MappingError")
    try:
        mapping_clean({"shape": "rows", "prompt": "p", "response": "r", "model": "m", "item_mode": "all_pairs",
                       "is_gold": "g"})
    except MappingError as exc:
        assert "gold columns need one item per row" in exc.errors["is_gold"]
    else:
        raise AssertionError("expected MappingError")


def test_mapping_guess_recognises_the_shared_files():
    assert mapping_guess(["prompt_id", "prompt", "source", "model", "response"]) == {
        "prompt": "prompt", "prompt_id": "prompt_id", "model": "model", "response": "response",
        "shape": "rows", "item_mode": "each"}
    guess = mapping_guess(["chosen", "rejected"])
    assert guess["shape"] == "preference" and guess["item_mode"] == "all_pairs"
    assert json.dumps(mapping_clean(guess).data)


def test_gzipped_csv_and_tsv(project):
    import gzip

    mapping = {"shape": "rows", "prompt": "prompt", "model": "model", "response": "response"}
    body = b"prompt,model,response\nQ1,m1,A1\nQ2,m1,A2\n"
    job = run_import(project, gzip.compress(body), mapping, name="rows.csv.gz")
    assert (job.status, job.file_format, job.items_created) == ("succeeded", "csv", 2)
    tsv = b"prompt\tmodel\tresponse\nQ3\tm1\tcomma, inside\n"
    job = run_import(project, tsv, mapping, name="rows.tsv")
    assert job.items_created == 1 and Generation.objects.filter(text="comma, inside").exists()


def test_imported_items_are_queued_for_the_personal_data_scan(project, monkeypatch, django_capture_on_commit_callbacks):
    from apps.privacy import tasks as privacy_tasks

    existing = run_import(project, jsonl_bytes([{"prompt": "Old", "model": "m", "response": "old"}]),
                          {"shape": "rows", "prompt": "prompt", "model": "model", "response": "response"})
    assert existing.items_created == 1
    queued: list[list[int]] = []
    monkeypatch.setattr(privacy_tasks.pii_scan_items, "delay", lambda ids: queued.append(ids))
    rows = [{"prompt": f"Q{n}", "model": "m", "response": f"Call me at 555-01{n:02d}"} for n in range(7)]
    with django_capture_on_commit_callbacks(execute=True):
        job = run_import(project, jsonl_bytes(rows), {"shape": "rows", "prompt": "prompt", "model": "model",
                                                      "response": "response"})
    new_ids = sorted(Item.objects.filter(project=project).exclude(prompt__text="Old").values_list("pk", flat=True))
    assert job.items_after_id < new_ids[0] and [i for chunk in queued for i in chunk] == new_ids
