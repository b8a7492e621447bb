"""Per-question agreement and aggregation on vectors of votes.

Each `aggregate_<kind>` function takes the valid votes of one question as a
DataFrame (id, item_id, response, annotator_id, value) and returns a
QuestionResult: one row per unit with the aggregated answer and its confidence,
the question's figures for the dashboard, and each vote's agreement with the
leave-one-out consensus (for annotator scores).

Categorical questions use crowd-kit (MajorityVote, and DawidSkene when there is
enough overlap to estimate annotator confusion matrices; gold answers are passed
to Dawid–Skene as known true labels).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote
from scipy import stats

from apps.projects.schema import PAIRWISE_CHOICES
from apps.quality import agreement as ag

logger = logging.getLogger(__name__)

# Dawid–Skene estimates a confusion matrix per annotator; with fewer overlapping units than
# this the estimates are noise, and majority vote is the honest answer.
DS_MIN_SHARED_UNITS = 10
DS_ITERATIONS = 30
# Above this many units Dawid–Skene learns on a sample first (see _dawid_skene): 25k units give
# each of 500 annotators ~150 votes, plenty for a confusion matrix over a handful of labels.
DS_SAMPLE_UNITS = 25_000
UNIT_COLUMNS = ["item_id", "response", "answer", "confidence", "agreement", "n", "details"]


@dataclass
class QuestionResult:
    question: dict[str, Any]
    units: pd.DataFrame  # UNIT_COLUMNS
    figures: dict[str, Any]
    loo: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))  # annotation id → 0..1


def _figures(question: dict[str, Any], **values: Any) -> dict[str, Any]:
    base = {
        "id": question["id"], "type": question["type"], "prompt": question.get("prompt", ""),
        "applies_to": question.get("applies_to", "item"), "level": ag.LEVEL_FOR_TYPE.get(question["type"]),
        "alpha": None, "fleiss_kappa": None, "fleiss_raters": None, "percent_agreement": None,
        "tie_rate": None, "span_f1": None, "units": 0, "votes": 0, "method": None,
        "distribution": {"labels": [], "votes": [], "aggregated": []},
    }
    base.update(values)
    return base


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else round(float(value), digits)


def _nan_none(value: float) -> float | None:
    return None if value != value else value


def _units(votes: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Number the (item, response) units; return the unit of each vote and the unit keys."""
    grouped = votes.groupby(["item_id", "response"], sort=True)
    unit = grouped.ngroup().to_numpy()
    keys = grouped.size().reset_index()[["item_id", "response"]]
    return unit, keys


def empty_result(question: dict[str, Any]) -> QuestionResult:
    return QuestionResult(question, pd.DataFrame(columns=UNIT_COLUMNS), _figures(question))


# --- categorical: single_choice, pairwise -----------------------------------------


def categorical_domain(question: dict[str, Any]) -> list[str]:
    if question["type"] == "pairwise":
        return list(PAIRWISE_CHOICES)
    return [option["value"] for option in question.get("options", [])]


def aggregate_categorical(
    question: dict[str, Any], votes: pd.DataFrame, *, use_ds: bool = True,
    gold_truth: dict[tuple[int, int], str] | None = None, gold_votes: pd.DataFrame | None = None,
) -> QuestionResult:
    domain = categorical_domain(question)
    code = pd.Categorical(votes["value"], categories=domain).codes.astype(np.int64)
    votes = votes.loc[code >= 0].reset_index(drop=True)
    code = code[code >= 0]
    if votes.empty:
        return empty_result(question)
    unit, keys = _units(votes)
    counts = ag.vote_counts(unit, code, len(keys), len(domain))
    n = counts.sum(axis=1)
    kappa, raters = ag.fleiss_kappa(counts)
    share_agree = ag.unit_agreement(counts)

    frame = pd.DataFrame({"task": unit, "worker": votes["annotator_id"].to_numpy(), "label": code})
    mv = MajorityVote().fit(frame)
    mv_probas = mv.probas_.reindex(index=range(len(keys)), columns=range(len(domain)), fill_value=0.0)
    mv_labels = mv_probas.to_numpy().argmax(axis=1)
    labels, confidence, method = mv_labels, mv_probas.to_numpy().max(axis=1), "majority"
    enough = (n >= 2).sum() >= DS_MIN_SHARED_UNITS and frame["worker"].nunique() >= 2
    if use_ds and enough and np.count_nonzero(counts.sum(axis=0)) >= 2:
        try:
            labels, confidence = _dawid_skene(frame, len(keys), len(domain), domain, gold_truth, gold_votes)
            method = "dawid_skene"
        except Exception:  # a degenerate fit must not stop the recompute; majority vote stands
            logger.exception("Dawid-Skene failed for question %s; using majority vote", question["id"])

    answers: list[Any] = [domain[k] for k in labels]
    if question["type"] == "pairwise":
        answers = [{"choice": value} for value in answers]
    details = [
        {"method": method, "n": total, "votes": {domain[k]: c for k, c in enumerate(row) if c}, "majority": domain[mv]}
        for row, total, mv in zip(counts.tolist(), n.tolist(), mv_labels.tolist(), strict=True)
    ]
    units = keys.assign(answer=answers, confidence=np.round(confidence, 4), agreement=share_agree, n=n, details=details)
    loo = pd.Series(ag.leave_one_out_categorical(counts, unit, code), index=votes["id"].to_numpy()).dropna()
    tie_rate = None
    if question["type"] == "pairwise":
        tie_rate = _round(float((code == domain.index("tie")).mean()))
    figures = _figures(
        question, alpha=_round(ag.alpha(counts, "nominal")), fleiss_kappa=_round(kappa), fleiss_raters=raters,
        percent_agreement=_round(ag.percent_agreement(counts)), tie_rate=tie_rate, units=len(keys),
        votes=int(len(votes)), method=method,
        distribution={"labels": domain, "votes": counts.sum(axis=0).astype(int).tolist(),
                      "aggregated": np.bincount(labels, minlength=len(domain)).astype(int).tolist()},
    )
    return QuestionResult(question, units, figures, loo)


def _dawid_skene(
    frame: pd.DataFrame, n_units: int, n_codes: int, domain: list[str],
    gold_truth: dict[tuple[int, int], str] | None, gold_votes: pd.DataFrame | None,
) -> tuple[np.ndarray, np.ndarray]:
    """DS posterior labels for the units; gold items join the fit with their known labels."""
    true_labels = None
    if gold_truth and gold_votes is not None and not gold_votes.empty:
        gold_code = pd.Categorical(gold_votes["value"], categories=domain).codes
        gold_votes = gold_votes.loc[gold_code >= 0]
        gold_code = gold_code[gold_code >= 0]
        gold_unit = gold_votes.groupby(["item_id", "response"]).ngroup().to_numpy() + n_units
        gold_keys = gold_votes.groupby(["item_id", "response"]).size().index
        truth = {n_units + i: domain.index(gold_truth[key]) for i, key in enumerate(gold_keys)
                 if gold_truth.get(key) in domain}
        if truth:
            extra = pd.DataFrame({"task": gold_unit, "worker": gold_votes["annotator_id"].to_numpy(), "label": gold_code})
            extra = extra[extra["task"].isin(truth)]
            frame = pd.concat([frame, extra], ignore_index=True)
            true_labels = pd.Series(truth)
    tasks = frame["task"].unique()
    if len(tasks) <= DS_SAMPLE_UNITS:
        model = DawidSkene(n_iter=DS_ITERATIONS, tol=1e-5).fit(frame, true_labels=true_labels)
    else:
        # Big projects: learn the annotators' confusion matrices on a random sample of units (plenty
        # of votes per annotator), then one pass over everything with those matrices assigned —
        # crowd-kit's warm start from "historical performance data".
        rng = np.random.default_rng(0)
        sample_tasks = rng.choice(tasks, DS_SAMPLE_UNITS, replace=False)
        if true_labels is not None:
            sample_tasks = np.union1d(sample_tasks, true_labels.index.to_numpy())
        sample = frame[frame["task"].isin(sample_tasks)]
        fitted = DawidSkene(n_iter=DS_ITERATIONS, tol=1e-5).fit(sample, true_labels=true_labels)
        errors = _complete_errors(fitted.errors_, frame)
        model = DawidSkene(n_iter=1, initial_error_strategy="assign").fit(
            frame, true_labels=true_labels, initial_error=errors
        )
    probas = model.probas_.reindex(index=range(n_units), columns=range(n_codes), fill_value=0.0).to_numpy()
    probas = np.nan_to_num(probas, nan=0.0)
    return probas.argmax(axis=1), probas.max(axis=1)


def _complete_errors(errors: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Confusion matrices for every (annotator, label) of `frame`: annotators missing from the
    sample get the average matrix; each annotator's columns are renormalised to sum to 1."""
    labels = np.sort(frame["label"].unique())
    workers = np.sort(frame["worker"].unique())
    errors = errors.reindex(columns=labels)
    average = errors.groupby(level="label").mean().reindex(index=labels, columns=labels)
    index = pd.MultiIndex.from_product([workers, labels], names=["worker", "label"])
    full = errors.reindex(index)
    fallback = pd.DataFrame(np.tile(average.to_numpy(), (len(workers), 1)), index=index, columns=labels)
    full = full.fillna(fallback).fillna(0.0).clip(lower=1e-6)
    return full / full.groupby(level="worker").transform("sum")


# --- ratings ------------------------------------------------------------------------


def aggregate_rating(question: dict[str, Any], votes: pd.DataFrame, *, tolerance: int) -> QuestionResult:
    low, high = int(question.get("min", 1)), int(question.get("max", 5))
    values = votes["value"].to_numpy(dtype=float)
    keep = (values >= low) & (values <= high)
    votes, values = votes.loc[keep].reset_index(drop=True), values[keep]
    if votes.empty:
        return empty_result(question)
    unit, keys = _units(votes)
    domain = list(range(low, high + 1))
    counts = ag.vote_counts(unit, (values - low).astype(np.int64), len(keys), len(domain))
    n = counts.sum(axis=1)
    grouped = pd.DataFrame({"unit": unit, "value": values}).groupby("unit")["value"]
    mean, median, std = grouped.mean().to_numpy(), grouped.median().to_numpy(), grouped.std(ddof=1).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * std / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    near = np.abs(np.array(domain)[None, :] - median[:, None]) <= tolerance
    confidence = (counts * near).sum(axis=1) / n
    share_agree = ag.unit_agreement(counts, ag.tolerance_matrix(len(domain), tolerance))
    answers = [int(m) if float(m).is_integer() else float(m) for m in median]
    labels = [str(v) for v in domain]
    rounded = [np.round(a, 3).tolist() for a in (mean, std, mean - half, mean + half)]
    details = [
        {"method": "mean", "n": total, "mean": _nan_none(mu), "median": answer, "std": _nan_none(sd),
         "ci_low": _nan_none(lo), "ci_high": _nan_none(hi), "votes": {labels[k]: c for k, c in enumerate(row) if c}}
        for row, total, mu, sd, lo, hi, answer in zip(counts.tolist(), n.tolist(), *rounded, answers, strict=True)
    ]
    units = keys.assign(answer=answers, confidence=np.round(confidence, 4), agreement=share_agree, n=n, details=details)
    loo = ag.leave_one_out_numeric(unit, values, len(keys), max(float(tolerance), 0.5))
    kappa, raters = ag.fleiss_kappa(counts)
    figures = _figures(
        question, alpha=_round(ag.alpha(counts, "ordinal", domain)), fleiss_kappa=_round(kappa), fleiss_raters=raters,
        percent_agreement=_round(ag.percent_agreement(counts)), units=len(keys), votes=int(len(votes)), method="mean",
        distribution={"labels": [str(v) for v in domain], "votes": counts.sum(axis=0).astype(int).tolist(),
                      "aggregated": np.bincount(np.clip(np.rint(median).astype(int) - low, 0, len(domain) - 1),
                                                minlength=len(domain)).astype(int).tolist()},
        mean=_round(float(values.mean()), 3),
    )
    return QuestionResult(question, units, figures, pd.Series(loo, index=votes["id"].to_numpy()).dropna())


# --- multi_choice: every option is a present/absent decision ----------------------------


def aggregate_multi_choice(question: dict[str, Any], votes: pd.DataFrame) -> QuestionResult:
    options = [option["value"] for option in question.get("options", [])]
    votes = votes[votes["value"].map(lambda v: isinstance(v, list))].reset_index(drop=True)
    if votes.empty or not options:
        return empty_result(question)
    unit, keys = _units(votes)
    chosen = np.array([[option in value for option in options] for value in votes["value"]], dtype=np.int64)
    n = np.bincount(unit, minlength=len(keys))
    selected = np.zeros((len(keys), len(options)))
    np.add.at(selected, unit, chosen)
    share = selected / n[:, None]
    # Binary counts per (unit, option): column 0 = absent, 1 = present.
    binary = np.stack([(n[:, None] - selected).ravel(), selected.ravel()], axis=1).astype(np.int64)
    option_agreement = ag.unit_agreement(binary).reshape(len(keys), len(options))
    answers = [[options[k] for k in np.flatnonzero(row > 0.5)] for row in share]
    confidence = np.maximum(share, 1 - share).mean(axis=1)
    details = [
        {"method": "majority", "n": total, "votes": {options[k]: int(c) for k, c in enumerate(row) if c}}
        for row, total in zip(selected.tolist(), n.tolist(), strict=True)
    ]
    with np.errstate(invalid="ignore"):
        unit_agree = np.nanmean(np.where(n[:, None] >= 2, option_agreement, np.nan), axis=1) if len(keys) else []
    units = keys.assign(answer=answers, confidence=np.round(confidence, 4), agreement=unit_agree, n=n, details=details)
    # Leave-one-out per vote: share of options where the vote sides with the others' majority.
    others_selected = selected[unit] - chosen
    others_n = (n[unit] - 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        others_share = others_selected / others_n
        side = np.where(others_share == 0.5, 0.5, (chosen == (others_share > 0.5)).astype(float))
    loo = side.mean(axis=1)
    loo[n[unit] < 2] = np.nan
    aggregated = np.zeros(len(options), dtype=int)
    for row in share:
        aggregated += (row > 0.5).astype(int)
    figures = _figures(
        question, alpha=_round(ag.alpha(binary, "nominal")), percent_agreement=_round(ag.percent_agreement(binary)),
        units=len(keys), votes=int(len(votes)), method="majority",
        distribution={"labels": options, "votes": selected.sum(axis=0).astype(int).tolist(), "aggregated": aggregated.tolist()},
    )
    return QuestionResult(question, units, figures, pd.Series(loo, index=votes["id"].to_numpy()).dropna())
