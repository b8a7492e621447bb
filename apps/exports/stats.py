"""Figures for the dataset card and manifest, gathered while streaming in bounded memory.

Everything here grows with the schema, the model list or the annotator pool, never
with the number of rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from apps.exports.aggregation import Aggregate
from apps.exports.compilers.context import Record
from apps.exports.source import Bundle

MAX_DISTINCT_VALUES = 200


class _Distribution:
    """Mean, range and a ten-bin histogram over [0, 1]."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low: float | None = None
        self.high: float | None = None
        self.bins = [0] * 10

    def add(self, value: float, *, histogram: bool = True) -> None:
        # Runs twice per item: comparisons rather than min()/max() calls.
        self.count += 1
        self.total += value
        if self.low is None or value < self.low:
            self.low = value
        if self.high is None or value > self.high:
            self.high = value
        if histogram:
            index = int(value * 10)
            self.bins[9 if index > 9 else 0 if index < 0 else index] += 1

    def as_dict(self, *, histogram: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = {
            "count": self.count,
            "mean": round(self.total / self.count, 4) if self.count else None,
            "min": self.low,
            "max": self.high,
        }
        if histogram:
            result["histogram"] = {f"{i / 10:.1f}-{(i + 1) / 10:.1f}": n for i, n in enumerate(self.bins)}
        return result


class ExportStats:
    def __init__(self) -> None:
        self.items_used = 0
        self.items_without_records = 0
        self.single_annotation_items = 0
        self.models: Counter[str] = Counter()
        self.labels: dict[str, Counter[str]] = defaultdict(Counter)
        self.annotators: set[int] = set()
        self.guideline_versions: Counter[int] = Counter()
        self.agreement = _Distribution()
        self.confidence = _Distribution()
        self.margin = _Distribution()
        self.aggregation_sources: Counter[str] = Counter()

    def observe_bundle(self, bundle: Bundle, aggregate: Aggregate, records: int) -> None:
        if not records:
            self.items_without_records += 1
            return
        self.items_used += 1
        if len(bundle.annotations) == 1:
            self.single_annotation_items += 1
        self.aggregation_sources[aggregate.source] += 1
        annotators, versions = self.annotators, self.guideline_versions
        for annotation in bundle.annotations:
            annotators.add(annotation.annotator_id)
            versions[annotation.guideline_version] += 1
        if aggregate.agreement is not None:
            self.agreement.add(float(aggregate.agreement))
        self.confidence.add(float(aggregate.confidence))

    def observe_record(self, record: Record) -> None:
        models = self.models
        for model in record.models:
            if model:
                models[model] += 1
        labels = self.labels
        for key, value in record.labels:
            counter = labels[key]
            if value in counter or len(counter) < MAX_DISTINCT_VALUES:
                counter[value] += 1
        if record.margin is not None:
            self.margin.add(record.margin, histogram=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items_used": self.items_used,
            "items_without_records": self.items_without_records,
            "single_annotation_items": self.single_annotation_items,
            "source_models": dict(self.models.most_common()),
            "label_distributions": {k: dict(v.most_common()) for k, v in sorted(self.labels.items())},
            "annotator_pool_size": len(self.annotators),
            "guideline_versions": {str(k): v for k, v in sorted(self.guideline_versions.items())},
            "agreement": self.agreement.as_dict(),
            "confidence": self.confidence.as_dict(),
            "margin": self.margin.as_dict(histogram=False),
            "aggregation": dict(self.aggregation_sources),
        }
