"""Quality control: settings, per-item aggregates, annotator scores, recompute snapshots.

Pages and APIs read these precomputed rows; the Celery recompute
(apps.quality.recompute) writes them. Annotations themselves are never changed
or deleted here: excluded work (suspended annotators, rejected annotations) is
simply left out of the computation.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import JobStatus, TimeStampedModel

_fraction = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class QualitySettings(TimeStampedModel):
    """Per-project quality thresholds. A missing row means the defaults below.

    A threshold left empty (null) disables that rule. Rules only judge an
    annotator once there is enough evidence (the `*_min_*` counts), so one
    unlucky gold item does not suspend anybody.
    """

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="quality_settings")

    # Qualification quiz: the first N gold items an annotator answers, before the main queue.
    qualification_required = models.BooleanField(default=False)
    qualification_size = models.PositiveSmallIntegerField(default=5, validators=[MinValueValidator(1), MaxValueValidator(50)])
    qualification_pass_mark = models.FloatField(default=0.8, validators=_fraction)
    # Training mode: after a gold item, show the expected answer and the guideline excerpt.
    training_feedback = models.BooleanField(default=False)

    # Gold scoring per question type.
    rating_tolerance = models.PositiveSmallIntegerField(default=1, validators=[MaxValueValidator(10)])
    span_f1_pass = models.FloatField(default=0.5, validators=_fraction)
    ranking_tau_pass = models.FloatField(default=0.5, validators=[MinValueValidator(-1.0), MaxValueValidator(1.0)])

    # Automatic suspension.
    auto_suspend = models.BooleanField(default=True)
    min_gold_accuracy = models.FloatField(null=True, blank=True, default=0.6, validators=_fraction)
    gold_min_answers = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1)])
    min_agreement = models.FloatField(null=True, blank=True, default=None, validators=_fraction)
    agreement_min_answers = models.PositiveIntegerField(default=20, validators=[MinValueValidator(1)])
    # Share of submissions faster than the project's min_seconds_per_item (or marked too fast).
    max_too_fast_share = models.FloatField(null=True, blank=True, default=0.5, validators=_fraction)
    too_fast_min_answers = models.PositiveIntegerField(default=10, validators=[MinValueValidator(1)])

    def __str__(self) -> str:
        return f"Quality settings of project {self.project_id}"


class QualitySnapshot(models.Model):
    """The latest recompute of a project: status/progress of the job and the dashboard figures.

    `figures` (written by apps.quality.recompute) has this shape:
        {"annotations": int, "annotations_used": int, "excluded_annotations": int,
         "items": int, "items_annotated": int, "items_complete": int, "gold_items": int,
         "annotators": int, "suspended": int,
         "questions": [{"id", "type", "prompt", "level", "alpha", "fleiss_kappa", "fleiss_raters",
                        "percent_agreement", "tie_rate", "span_f1", "units", "votes", "method",
                        "distribution": {"labels": [...], "votes": [...], "aggregated": [...]}}],
         "progress": {"days": ["YYYY-MM-DD"], "annotations": [int], "items_done": [int]},
         "leaderboards": [{"question", "bootstrap", "comparisons",
                           "models": [{"model", "rank", "score", "ci_low", "ci_high", "wins", "losses", "ties"}]}],
         "position_bias": [{"question", "a_wins", "b_wins", "share_a", "p_value", "biased"}],
         "length_bias": [{"question", "longer_wins", "shorter_wins", "share_longer", "p_value", "biased"}],
         "timings": {"stage": seconds}}
    """

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="quality_snapshot")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    stage = models.CharField(max_length=100, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    figures = models.JSONField(default=dict, blank=True)
    # Highest annotation id seen by the last successful run: the beat sweep recomputes when newer exist.
    last_annotation_id = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Quality figures of project {self.project_id} ({self.status})"


class AggregateSource(models.TextChoices):
    ANNOTATIONS = "annotations", "Annotations"
    REVIEW = "review", "Reviewed"
    GOLD = "gold", "Gold answer"


class ItemAggregate(models.Model):
    """The aggregated answer of one item, with its confidence. The export reads this table.

    answers      {question_id: value} in the answer format of apps.projects.schema, with two
                 differences: a rating is the median of the votes (may be x.5), and questions with
                 no aggregate (text, rewrite) are absent. each_response questions map
                 {"<generation_id>": value}.
    confidence   {question_id: float 0..1}: the Dawid–Skene posterior (or vote share) of the chosen
                 label; for ratings the share of votes within the tolerance of the median; for
                 spans the mean pairwise span F1; for rankings (1 + mean Kendall tau) / 2. Reviewed
                 and gold answers have 1.0. each_response questions take the lowest of their responses.
    details      {question_id: {"method": "dawid_skene" | "majority" | "mean" | "borda" | "span_vote"
                                 | "review" | "gold", "n": votes, "votes": {label: count},
                                 "mean", "ci_low", "ci_high", "std" (ratings), ...}}
    agreement    mean per-item pairwise agreement over the questions that have one (0..1), or null
                 when fewer than two annotations.
    min_confidence  lowest value in `confidence` (the review and dynamic-overlap queues sort on it).
    annotation_count  annotations used (excluded ones are not counted); excluded_count the rest.
    reviewed     True when a reviewer's accepted or corrected answer is in `answers` (it wins).
    """

    # A derived cache rewritten in bulk by every recompute (300k rows on a big project): the
    # database-level foreign-key triggers would cost more than the rest of the write, so the
    # references are enforced by Django instead (deleting an item or project still deletes its
    # aggregate through on_delete=CASCADE), and the project is reached through the partial indexes.
    item = models.OneToOneField("items.Item", on_delete=models.CASCADE, primary_key=True, related_name="aggregate",
                                db_constraint=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="item_aggregates",
                                db_constraint=False, db_index=False)
    answers = models.JSONField(default=dict)
    confidence = models.JSONField(default=dict)
    details = models.JSONField(default=dict)
    agreement = models.FloatField(null=True, blank=True)
    min_confidence = models.FloatField(null=True, blank=True)
    annotation_count = models.PositiveIntegerField(default=0)
    excluded_count = models.PositiveIntegerField(default=0)
    disagreement = models.BooleanField(default=False)
    reviewed = models.BooleanField(default=False)
    source = models.CharField(max_length=12, choices=AggregateSource.choices, default=AggregateSource.ANNOTATIONS)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["project", "agreement"], name="aggregate_disagree_idx",
                condition=models.Q(disagreement=True, reviewed=False),
            ),
            models.Index(
                fields=["project", "min_confidence"], name="aggregate_lowconf_idx",
                condition=models.Q(reviewed=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Aggregate of item {self.item_id}"


class AnnotatorScore(models.Model):
    """One annotator's figures in one project, as of the last recompute."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="annotator_scores")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    annotations = models.PositiveIntegerField(default=0)
    gold_answered = models.PositiveIntegerField(default=0)
    gold_correct = models.FloatField(default=0)
    gold_accuracy = models.FloatField(null=True, blank=True)
    agreement = models.FloatField(null=True, blank=True)
    agreement_n = models.PositiveIntegerField(default=0)
    median_time_ms = models.PositiveIntegerField(null=True, blank=True)
    too_fast = models.PositiveIntegerField(default=0)
    too_fast_share = models.FloatField(null=True, blank=True)
    skips = models.PositiveIntegerField(default=0)
    skip_rate = models.FloatField(null=True, blank=True)
    flags = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "annotator"], name="uniq_annotator_score")]
        indexes = [models.Index(fields=["project", "-annotations"])]

    def __str__(self) -> str:
        return f"Scores of annotator {self.annotator_id} in project {self.project_id}"


class SuspensionKind(models.TextChoices):
    SUSPENDED = "suspended", "Suspended"
    REINSTATED = "reinstated", "Reinstated"
    QUALIFICATION_FAILED = "qualification_failed", "Failed the qualification quiz"


class SuspensionEvent(models.Model):
    """Every suspension and reinstatement; unacknowledged ones are the researchers' notices."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="suspension_events")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=25, choices=SuspensionKind.choices)
    automatic = models.BooleanField(default=False)
    reason = models.CharField(max_length=500)
    metrics = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "annotator", "-created_at"]),
            models.Index(fields=["project"], name="suspension_notice_idx", condition=models.Q(acknowledged_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: annotator {self.annotator_id} in project {self.project_id}"


class GoldNote(TimeStampedModel):
    """The researcher's explanation of a gold item's expected answer, shown in training mode."""

    item = models.OneToOneField("items.Item", on_delete=models.CASCADE, primary_key=True, related_name="gold_note")
    explanation = models.TextField(blank=True, max_length=5000)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"Gold note of item {self.item_id}"
