"""Loading a project's annotations into pandas, fast enough for millions of rows.

PostgreSQL does the JSON work: each question's value is pulled out of
`Annotation.answers` with `->>` (or expanded with `jsonb_each_text` /
`jsonb_array_elements_text`) and the rows are streamed with `COPY ... TO STDOUT`
straight into `pandas.read_csv`. Nothing here writes.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.db import connection

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Annotation, Review, ReviewDecision
from apps.items.models import Generation, Item, ItemGeneration

SCALAR_TYPES = ("single_choice", "rating", "pairwise")


@dataclass
class ProjectData:
    """Everything the recompute needs, as DataFrames.

    base       one row per annotation: id, item_id, annotator_id, time_ms, submitted (epoch s),
               too_fast, is_gold, excluded (suspended annotator or rejected by a reviewer)
    values     {question_id: DataFrame(id, response, value)} — response is the generation id for
               per-response questions and 0 otherwise; multi_choice values are option lists,
               spans span lists, ranking the ordered generation ids.
    items      id, is_gold, required, state, kind for every item of the project (or of the subset)
    responses  item_id, generation_id, position, model, length
    """

    base: pd.DataFrame
    values: dict[str, pd.DataFrame] = field(default_factory=dict)
    items: pd.DataFrame | None = None
    responses: pd.DataFrame | None = None
    gold: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, Review] = field(default_factory=dict)


def _copy(sql: str, params: list[Any] | tuple[Any, ...] = (), **read_csv: Any) -> pd.DataFrame:
    with connection.cursor() as cursor:
        query = cursor.mogrify(sql, params).decode()
        buffer = io.StringIO()
        cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", buffer)
    buffer.seek(0)
    return pd.read_csv(buffer, keep_default_na=False, na_values=[""], **read_csv)


def _filter(alias: str, item_ids: list[int] | None) -> tuple[str, list[Any]]:
    if item_ids is None:
        return "", []
    return f" AND {alias}.item_id = ANY(%s)", [list(item_ids)]


def load_project_data(project, questions: list[dict[str, Any]], *, item_ids: list[int] | None = None) -> ProjectData:  # type: ignore[no-untyped-def]
    """Load annotations (not surplus ones) of the project, or only of `item_ids`."""
    annotation = Annotation._meta.db_table
    item = Item._meta.db_table
    where, params = _filter("a", item_ids)
    items = _copy(
        f"SELECT id, is_gold, required_annotations AS required, state, kind FROM {item} "
        f"WHERE project_id = %s{'' if item_ids is None else ' AND id = ANY(%s)'}",
        [project.pk] + ([list(item_ids)] if item_ids is not None else []),
        true_values=["t"], false_values=["f"], dtype={"state": str, "kind": str},
    )
    suspended = ProjectMembership.objects.filter(project=project, suspended_at__isnull=False).values_list("user_id", flat=True)
    # Plain item-level values come out in the same pass as the annotations themselves, and the
    # scan touches the annotation table only (gold and suspension are joined here, in pandas).
    inline = [q for q in questions if _inline(q)]
    columns = "".join(
        f", (a.answers->%s->>'choice') AS v{i}" if q["type"] == "pairwise" else f", (a.answers->>%s) AS v{i}"
        for i, q in enumerate(inline)
    )
    base = _copy(
        f"""
        SELECT a.id, a.item_id, a.annotator_id, a.time_spent_ms AS time_ms,
               extract(epoch FROM a.submitted_at)::float8 AS submitted, a.too_fast{columns}
        FROM {annotation} a
        WHERE a.project_id = %s AND NOT a.surplus{where}
        """,
        [*(q["id"] for q in inline), project.pk, *params],
        dtype={"too_fast": bool, **{f"v{i}": str for i in range(len(inline))}},
        true_values=["t"], false_values=["f"],
    )
    base["is_gold"] = base["item_id"].isin(items.loc[items["is_gold"].astype(bool), "id"])
    base["suspended"] = base["annotator_id"].isin(list(suspended))
    reviews = _latest_reviews(project, item_ids)
    rejected = _rejected_annotations(project, item_ids)
    base["excluded"] = base["suspended"].astype(bool) | base["id"].isin(rejected)
    data = ProjectData(base=base, reviews=reviews)
    for i, question in enumerate(inline):
        column = base.pop(f"v{i}")
        present = column.notna()
        frame = pd.DataFrame({"id": base["id"][present].to_numpy(), "response": 0, "value": column[present].to_numpy()})
        if question["type"] == "rating":
            frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
            frame = frame.dropna(subset=["value"])
        data.values[question["id"]] = frame.reset_index(drop=True)
    for question in questions:
        if _inline(question):
            continue
        frame = _load_values(project, question, item_ids)
        if frame is not None:
            data.values[question["id"]] = frame
    data.items = items
    if any(q["type"] in ("pairwise", "ranking") for q in questions):
        link, generation = ItemGeneration._meta.db_table, Generation._meta.db_table
        where_r, params_r = _filter("ig", item_ids)
        data.responses = _copy(
            f"""
            SELECT ig.item_id, ig.generation_id, ig.position, g.model_name AS model, char_length(g.text) AS length
            FROM {link} ig JOIN {generation} g ON g.id = ig.generation_id
            WHERE g.project_id = %s{where_r}
            """,
            [project.pk, *params_r],
            dtype={"model": str},
        )
    gold_items = Item.objects.filter(project=project, is_gold=True, gold_answers__isnull=False)
    if item_ids is not None:
        gold_items = gold_items.filter(pk__in=item_ids)
    data.gold = dict(gold_items.values_list("pk", "gold_answers"))
    return data


def _inline(question: dict[str, Any]) -> bool:
    per_response = question.get("applies_to") == "each_response"
    return question["type"] in SCALAR_TYPES and not per_response


def _latest_reviews(project, item_ids: list[int] | None) -> dict[int, Review]:  # type: ignore[no-untyped-def]
    """Per item, the latest review that settles the answer (accept or correct with answers)."""
    reviews = Review.objects.filter(
        project=project, decision__in=[ReviewDecision.ACCEPT, ReviewDecision.CORRECT], answers__isnull=False
    ).order_by("item_id", "-created_at", "-id").distinct("item_id")
    if item_ids is not None:
        reviews = reviews.filter(item_id__in=item_ids)
    return {review.item_id: review for review in reviews}


def _rejected_annotations(project, item_ids: list[int] | None) -> set[int]:  # type: ignore[no-untyped-def]
    """Annotations whose latest review (about that annotation) is a rejection."""
    reviews = Review.objects.filter(project=project, annotation__isnull=False)
    if item_ids is not None:
        reviews = reviews.filter(item_id__in=item_ids)
    latest = reviews.order_by("annotation_id", "-created_at", "-id").distinct("annotation_id")
    return {r.annotation_id for r in latest.only("annotation_id", "decision") if r.decision == ReviewDecision.REJECT}


def _load_values(project, question: dict[str, Any], item_ids: list[int] | None) -> pd.DataFrame | None:  # type: ignore[no-untyped-def]
    qid, qtype = question["id"], question["type"]
    per_response = question.get("applies_to") == "each_response" and qtype != "ranking"
    annotation = Annotation._meta.db_table
    where, params = _filter("a", item_ids)
    head = [project.pk, *params]
    if qtype in ("text", "rewrite"):
        return None
    if per_response and qtype in ("single_choice", "rating"):
        frame = _copy(
            f"""SELECT a.id, e.key::bigint AS response, e.value FROM {annotation} a,
                jsonb_each_text(CASE jsonb_typeof(a.answers->%s) WHEN 'object' THEN a.answers->%s ELSE '{{}}'::jsonb END) e
                WHERE a.project_id = %s AND NOT a.surplus{where}""",
            [qid, qid, *head], dtype={"value": str},
        )
    elif qtype == "ranking":
        positions = _copy(
            f"""SELECT a.id, r.ord AS position, r.val::bigint AS generation FROM {annotation} a,
                jsonb_array_elements_text(CASE jsonb_typeof(a.answers->%s) WHEN 'array' THEN a.answers->%s ELSE '[]'::jsonb END)
                WITH ORDINALITY r(val, ord)
                WHERE a.project_id = %s AND NOT a.surplus{where}""",
            [qid, qid, *head],
        )
        positions = positions.sort_values(["id", "position"])
        grouped = positions.groupby("id", sort=False)["generation"].agg(list)
        frame = pd.DataFrame({"id": grouped.index, "response": 0, "value": grouped.values})
    else:  # multi_choice, spans and per-response pairwise-free complex values: parse the JSON here
        if per_response:
            raw = _copy(
                f"""SELECT a.id, e.key::bigint AS response, e.value::text AS value FROM {annotation} a,
                    jsonb_each(CASE jsonb_typeof(a.answers->%s) WHEN 'object' THEN a.answers->%s ELSE '{{}}'::jsonb END) e
                    WHERE a.project_id = %s AND NOT a.surplus{where}""",
                [qid, qid, *head], dtype={"value": str},
            )
        else:
            raw = _copy(
                f"""SELECT a.id, 0 AS response, (a.answers->%s)::text AS value FROM {annotation} a
                    WHERE a.project_id = %s AND NOT a.surplus AND a.answers ? %s{where}""",
                [qid, project.pk, qid, *params], dtype={"value": str},
            )
        raw["value"] = [json.loads(v) if isinstance(v, str) else None for v in raw["value"]]
        frame = raw
    frame = frame[frame["value"].notna()]
    if qtype == "rating":
        frame = frame.assign(value=pd.to_numeric(frame["value"], errors="coerce")).dropna(subset=["value"])
    return frame.reset_index(drop=True)
