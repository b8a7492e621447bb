"""From per-question results to one ItemAggregate row per item, and writing them in bulk.

Used by both the full recompute (all items, Dawid–Skene) and the per-item
refresh after a submission or a review (a few items, majority vote). Gold items
take their gold answers; a reviewer's accepted or corrected answer wins over
everything computed.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pandas as pd
from django.db import connection

from apps.items.models import Item
from apps.quality.aggregation import (
    QuestionResult,
    aggregate_categorical,
    aggregate_multi_choice,
    aggregate_rating,
    empty_result,
)
from apps.quality.loading import ProjectData
from apps.quality.models import AggregateSource, ItemAggregate
from apps.quality.structured import aggregate_ranking, aggregate_spans


def _gold_value(question: dict[str, Any], gold: dict[str, Any], response: int) -> Any:
    value = gold.get(question["id"])
    if response:
        value = value.get(str(response)) if isinstance(value, dict) else None
    if question["type"] == "pairwise" and isinstance(value, dict):
        value = value.get("choice")
    return value


def question_results(
    questions: list[dict[str, Any]], data: ProjectData, *, rules: Any, use_ds: bool
) -> list[QuestionResult]:
    """Run every question's aggregation on the valid, non-gold votes."""
    base = data.base[["id", "item_id", "annotator_id", "excluded", "is_gold"]]
    results = []
    for question in questions:
        frame = data.values.get(question["id"])
        if frame is None or frame.empty:
            results.append(empty_result(question))
            continue
        votes = frame.merge(base, on="id", how="inner")
        valid = votes[~votes["excluded"] & ~votes["is_gold"]].reset_index(drop=True)
        qtype = question["type"]
        if qtype in ("single_choice", "pairwise"):
            gold_votes = votes[~votes["excluded"] & votes["is_gold"]].reset_index(drop=True)
            truth = {}
            for item_id, response in gold_votes.groupby(["item_id", "response"]).size().index:
                value = _gold_value(question, data.gold.get(int(item_id)) or {}, int(response))
                if value is not None:
                    truth[(item_id, response)] = value
            result = aggregate_categorical(question, valid, use_ds=use_ds, gold_truth=truth, gold_votes=gold_votes)
        elif qtype == "rating":
            result = aggregate_rating(question, valid, tolerance=rules.rating_tolerance)
        elif qtype == "multi_choice":
            result = aggregate_multi_choice(question, valid)
        elif qtype == "ranking":
            result = aggregate_ranking(question, valid)
        elif qtype == "spans":
            result = aggregate_spans(question, valid)
        else:
            result = empty_result(question)
        results.append(result)
    return results


def _disagreement_below(question: dict[str, Any], rules: Any) -> float:
    """Unit agreement under this value counts as a disagreement (for the review queue)."""
    if question["type"] == "spans":
        return rules.span_f1_pass
    if question["type"] == "ranking":
        return (1 + rules.ranking_tau_pass) / 2
    return 1 - 1e-9


def build_rows(
    questions: list[dict[str, Any]], data: ProjectData, results: list[QuestionResult], *, rules: Any
) -> dict[int, dict[str, Any]]:
    """item id → the ItemAggregate fields, for every item with at least one (counted) annotation."""
    base = data.base
    valid_counts = base.loc[~base["excluded"]].groupby("item_id").size().to_dict()
    excluded_counts = base.loc[base["excluded"]].groupby("item_id").size().to_dict()
    gold_items = set(base.loc[base["is_gold"], "item_id"].unique().tolist())
    rows: dict[int, dict[str, Any]] = {
        item_id: {
            "answers": {}, "confidence": {}, "details": {}, "agreements": [], "disagreement": False,
            "annotation_count": valid_counts.get(item_id, 0), "excluded_count": excluded_counts.get(item_id, 0),
            "reviewed": False, "source": AggregateSource.ANNOTATIONS,
        }
        for item_id in pd.unique(base["item_id"]).tolist()
    }
    # Hot loop (one pass per question over every unit): plain lists and dict lookups only.
    for result in results:
        question, units = result.question, result.units
        if units.empty:
            continue
        qid = question["id"]
        below = _disagreement_below(question, rules)
        per_response = question.get("applies_to") == "each_response" and question["type"] != "ranking"
        confidences = pd.to_numeric(units["confidence"], errors="coerce").tolist()
        agreements = pd.to_numeric(units["agreement"], errors="coerce").tolist()
        columns = zip(units["item_id"].tolist(), units["response"].tolist(), units["answer"].tolist(), confidences,
                      agreements, units["details"].tolist(), strict=True)
        for item_id, response, answer, confidence, unit_agreement, details in columns:
            row = rows.get(item_id)
            if row is None:
                continue
            if per_response:
                row["answers"].setdefault(qid, {})[str(response)] = answer
                row["details"].setdefault(qid, {})[str(response)] = details
                if confidence == confidence:  # NaN: no confidence
                    previous = row["confidence"].get(qid)
                    row["confidence"][qid] = confidence if previous is None else min(previous, confidence)
            else:
                row["answers"][qid] = answer
                row["details"][qid] = details
                if confidence == confidence:
                    row["confidence"][qid] = confidence
            if unit_agreement == unit_agreement:
                row["agreements"].append(unit_agreement)
                if unit_agreement < below:
                    row["disagreement"] = True
    for item_id in gold_items:
        gold = data.gold.get(int(item_id))
        if gold and int(item_id) in rows:
            row = rows[int(item_id)]
            row.update(answers=dict(gold), confidence={qid: 1.0 for qid in gold}, source=AggregateSource.GOLD,
                       disagreement=False)
            row["details"] = {qid: {"method": "gold"} for qid in gold}
    for item_id, review in data.reviews.items():
        row = rows.get(int(item_id))
        if row is None or not isinstance(review.answers, dict):
            continue
        for qid, value in review.answers.items():
            row["answers"][qid] = value
            row["confidence"][qid] = 1.0
            row["details"][qid] = {"method": "review", "review": review.pk, "decision": review.decision,
                                   "computed": row["details"].get(qid)}
        row.update(reviewed=True, source=AggregateSource.REVIEW, disagreement=False)
    for row in rows.values():
        agreements = row.pop("agreements")
        row["agreement"] = round(sum(agreements) / len(agreements), 4) if agreements else None
        row["min_confidence"] = min(row["confidence"].values()) if row["confidence"] else None
    return rows


_FIELDS = ["item_id", "project_id", "answers", "confidence", "details", "agreement", "min_confidence",
           "annotation_count", "excluded_count", "disagreement", "reviewed", "source"]
_LOAD = ("item_id bigint, project_id bigint, answers jsonb, confidence jsonb, details jsonb, agreement float8, "
         "min_confidence float8, annotation_count integer, excluded_count integer, disagreement boolean, "
         "reviewed boolean, source varchar(12)")
# Serialises writers of one project's aggregates (the full recompute and per-item refreshes), so the
# plain INSERT below never races another insert of the same item.
_WRITE_LOCK = 0x5158


def _document(value: Any) -> str:
    # COPY text format: orjson escapes control characters inside JSON strings, so only backslashes
    # need doubling.
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode().replace("\\", "\\\\")


def _number(value: float | None) -> str:
    return "\\N" if value is None else repr(float(value))


def _copy_line(item_id: int, project_id: int, row: dict[str, Any]) -> str:
    """One row in COPY text format."""
    return (
        f"{item_id}\t{project_id}\t{_document(row['answers'])}\t{_document(row['confidence'])}\t"
        f"{_document(row['details'])}\t{_number(row['agreement'])}\t{_number(row['min_confidence'])}\t"
        f"{row['annotation_count']}\t{row['excluded_count']}\t{'t' if row['disagreement'] else 'f'}\t"
        f"{'t' if row['reviewed'] else 'f'}\t{row['source']}\n"
    )


def write_rows(project_id: int, rows: dict[int, dict[str, Any]], *, replace_all: bool) -> int:
    """Write the rows through a COPY into a temporary table.

    replace_all (the full recompute): UPDATE the rows that changed, INSERT the new ones and drop
    aggregates of items no longer in `rows`, all as hash joins — with a stale planner estimate
    (right after a big first insert) a nested loop over this table would take hours.
    Otherwise (a few items): an upsert that follows the primary key.

    Unchanged rows are not rewritten, so updated_at keeps meaning "the answer last changed" and a
    recompute of a settled project writes almost nothing. Must run inside a transaction: the
    temporary table, the write lock and the session settings are local to it. Returns how many
    rows were inserted or changed.
    """
    buffer = io.StringIO("".join(_copy_line(item_id, project_id, row) for item_id, row in rows.items()))
    table = ItemAggregate._meta.db_table
    columns = ", ".join(_FIELDS)
    values = [name for name in _FIELDS if name != "item_id"]
    changed = f"({', '.join('t.' + n for n in values)}) IS DISTINCT FROM ({', '.join('l.' + n for n in values)})"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_WRITE_LOCK, project_id])
        # Derived data that the next run recomputes: a crash losing the last few ms of it is harmless,
        # and not waiting for the WAL flush saves seconds on big projects.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(f"CREATE TEMP TABLE quality_aggregate_load ({_LOAD}) ON COMMIT DROP")
        cursor.copy_expert(f"COPY quality_aggregate_load ({columns}) FROM STDIN WITH (FORMAT text)", buffer)
        if not replace_all:
            cursor.execute(
                f"INSERT INTO {table} AS t ({columns}, updated_at) SELECT {columns}, now() FROM quality_aggregate_load l "
                f"ON CONFLICT (item_id) DO UPDATE SET {', '.join(f'{n} = EXCLUDED.{n}' for n in values)}, "
                f"updated_at = now() WHERE {changed.replace('l.', 'EXCLUDED.')}"
            )
            written = cursor.rowcount
        else:
            cursor.execute("SET LOCAL enable_nestloop TO OFF")
            cursor.execute(
                f"UPDATE {table} AS t SET {', '.join(f'{n} = l.{n}' for n in values)}, updated_at = now() "
                f"FROM quality_aggregate_load l WHERE t.item_id = l.item_id AND {changed}"
            )
            written = cursor.rowcount
            cursor.execute(
                f"INSERT INTO {table} ({columns}, updated_at) SELECT {columns}, now() FROM quality_aggregate_load l "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.item_id = l.item_id)"
            )
            written += cursor.rowcount
            # Aggregates of items that no longer have a counted annotation (found through the
            # project's items: the aggregate table has no plain project index).
            cursor.execute(
                f"DELETE FROM {table} t USING {Item._meta.db_table} i WHERE i.project_id = %s AND t.item_id = i.id "
                "AND NOT EXISTS (SELECT 1 FROM quality_aggregate_load l WHERE l.item_id = t.item_id)",
                [project_id],
            )
            cursor.execute("RESET enable_nestloop")
        cursor.execute("DROP TABLE quality_aggregate_load")
    return written
