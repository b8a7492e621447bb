"""Dynamic overlap: ask for one more annotation on items that are still uncertain.

Between the project's `min_annotations` and `max_annotations`, an item that has
received everything it asked for (`required_annotations`) gets one more when

  * fewer than `min_annotations` of its annotations still count (some were set
    aside: a suspended annotator, a rejected annotation), or
  * its lowest per-question confidence is below `project.confidence_threshold`,

unless a reviewer has settled it or it is a gold item. The raise is one guarded
UPDATE (`WHERE required_annotations = <the value we decided on>`), so two
recomputes racing never raise twice, and the assignment engine — which reads
`required_annotations` under the item's row lock — sees it as soon as it commits.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.db import connection

from apps.items.models import Item, ItemState


def overlap_candidates(project, rows: dict[int, dict[str, Any]], items: pd.DataFrame) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """(item id, required_annotations as seen) for every item that should get one more annotation."""
    if items is None or items.empty or not rows:
        return []
    maximum, minimum = project.max_annotations, project.min_annotations
    threshold = project.confidence_threshold
    candidates: list[tuple[int, int]] = []
    info = items.set_index("id")
    required_of = info["required"].to_dict()
    gold_of = info["is_gold"].astype(bool).to_dict()
    state_of = info["state"].to_dict()
    for item_id, row in rows.items():
        required = required_of.get(item_id)
        if required is None or gold_of.get(item_id) or state_of.get(item_id) == ItemState.ARCHIVED:
            continue
        if row["reviewed"] or required >= maximum:
            continue
        counted, received = row["annotation_count"], row["annotation_count"] + row["excluded_count"]
        if received < required:
            continue  # still collecting what it asked for
        confidence = row["min_confidence"]
        uncertain = counted >= minimum and confidence is not None and confidence < threshold
        if counted < minimum or uncertain:
            candidates.append((int(item_id), int(required)))
    return candidates


def overlap_raise(project, candidates: list[tuple[int, int]]) -> int:  # type: ignore[no-untyped-def]
    """Raise required_annotations by one for each candidate whose count has not moved since; reopen it."""
    if not candidates:
        return 0
    table = Item._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS i
               SET required_annotations = i.required_annotations + 1,
                   state = CASE WHEN i.state = %s THEN %s ELSE i.state END,
                   updated_at = now()
              FROM unnest(%s::bigint[], %s::integer[]) AS t(id, seen)
             WHERE i.id = t.id AND i.project_id = %s AND i.required_annotations = t.seen
               AND i.required_annotations < %s AND NOT i.is_gold AND i.state <> %s
            """,
            [
                ItemState.COMPLETED, ItemState.OPEN,
                [c[0] for c in candidates], [c[1] for c in candidates],
                project.pk, project.max_annotations, ItemState.ARCHIVED,
            ],
        )
        return cursor.rowcount
