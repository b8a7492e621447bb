"""Gold answers from a file refer to responses by position; items store generation ids."""

from __future__ import annotations

import copy
from typing import Any

_SWAP = {"a": "b", "b": "a"}


def gold_resolve(
    answers: dict[str, Any] | None,
    questions: list[dict[str, Any]],
    *,
    position_to_id: dict[int, int],
    display_ids: tuple[int, ...],
) -> dict[str, Any] | None:
    """Rewrite 1-based row positions as generation ids and orient pairwise answers.

    `display_ids` is the item's generations in display order: a pairwise "a"
    in the file means the row's first response, which may now be shown second.
    """
    if not answers:
        return answers
    resolved = copy.deepcopy(answers)
    by_id = {q["id"]: q for q in questions}
    first_in_file = position_to_id.get(1)
    swapped = len(display_ids) == 2 and first_in_file is not None and display_ids[0] != first_in_file
    for qid, value in list(resolved.items()):
        question = by_id.get(qid)
        if question is None:
            continue
        qtype = question.get("type")
        if qtype == "pairwise" and isinstance(value, dict) and swapped:
            value["choice"] = _SWAP.get(value.get("choice"), value.get("choice"))
        elif qtype == "ranking" and isinstance(value, list):
            resolved[qid] = [position_to_id.get(v, v) for v in value]
        elif qtype == "spans" and isinstance(value, list):
            for span in value:
                if isinstance(span, dict) and "generation" in span:
                    span["generation"] = position_to_id.get(span["generation"], span["generation"])
        elif question.get("applies_to") == "each_response" and isinstance(value, dict):
            mapped = {}
            for key, sub in value.items():
                try:
                    gid = position_to_id.get(int(key))
                except ValueError:
                    gid = None
                if gid is not None and gid in display_ids:
                    if qtype == "spans" and isinstance(sub, list):
                        for span in sub:
                            if isinstance(span, dict) and "generation" in span:
                                span["generation"] = gid
                    mapped[str(gid)] = sub
            resolved[qid] = mapped
    return resolved
