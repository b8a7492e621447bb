"""The qualification quiz: an annotator's first N gold answers in a project, judged at the pass mark.

Kept light (no numerical libraries) because the assignment engine reads it on the
hot path while an annotator takes the quiz:

    qualification_status(membership)  → QualificationStatus (never contains gold answers)
    qualification_items(membership)   → gold items still to answer in the quiz
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db.models import QuerySet

from apps.accounts.models import ProjectMembership
from apps.annotations.models import Annotation
from apps.items.models import Item, ItemState
from apps.quality.gold import GoldRules, score_answers
from apps.quality.models import QualitySettings


class QualificationState(StrEnum):
    NOT_REQUIRED = "not_required"
    IN_PROGRESS = "in_progress"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class QualificationStatus:
    required: bool
    state: QualificationState
    answered: int
    needed: int
    score: float | None
    pass_mark: float

    @property
    def may_annotate(self) -> bool:
        """True when the main queue is open to this annotator (quiz passed or not required)."""
        return self.state in (QualificationState.NOT_REQUIRED, QualificationState.PASSED)


def _gold_items(project) -> QuerySet[Item]:  # type: ignore[no-untyped-def]
    return Item.objects.filter(project=project, is_gold=True, gold_answers__isnull=False).exclude(
        state=ItemState.ARCHIVED
    )


def qualification_status(membership: ProjectMembership) -> QualificationStatus:
    """The quiz is the annotator's first N gold answers in the project; it passes at the pass mark.

    Quiz answers are never counted on their items (they are surplus), so every submitted
    answer on a gold item counts here. When the annotator skipped or reported quiz items
    and no gold item is left to ask, the quiz is judged on the answers there are.
    """
    project = membership.project
    settings = QualitySettings.objects.filter(project=project).first() or QualitySettings(project=project)
    pass_mark = settings.qualification_pass_mark
    if not settings.qualification_required:
        return QualificationStatus(False, QualificationState.NOT_REQUIRED, 0, 0, None, pass_mark)
    needed = min(settings.qualification_size, _gold_items(project).count())
    if needed == 0:  # no gold yet: nothing to quiz on, so the quiz cannot block anyone
        return QualificationStatus(True, QualificationState.NOT_REQUIRED, 0, 0, None, pass_mark)
    rules = GoldRules.from_settings(settings)
    answered = (
        Annotation.objects.filter(project=project, annotator_id=membership.user_id, item__is_gold=True,
                                  item__gold_answers__isnull=False)
        .order_by("submitted_at", "id").values_list("answers", "item__gold_answers")[:needed]
    )
    shares = []
    for answers, gold in answered:
        scores = score_answers(project.questions or [], answers or {}, gold, rules)
        if scores:
            shares.append(sum(s.passed for s in scores) / len(scores))
    score = sum(shares) / len(shares) if shares else None
    if membership.qualified_at is not None:
        return QualificationStatus(True, QualificationState.PASSED, len(answered), needed, score, pass_mark)
    if len(answered) < needed and qualification_items(membership).exists():
        state = QualificationState.IN_PROGRESS
    else:
        state = QualificationState.PASSED if (score or 0.0) >= pass_mark else QualificationState.FAILED
    return QualificationStatus(True, state, len(answered), needed, score, pass_mark)


def qualification_items(membership: ProjectMembership) -> QuerySet[Item]:
    """Gold items the annotator has not been given yet, for the quiz (lowest id first)."""
    return _gold_items(membership.project).exclude(assignments__annotator_id=membership.user_id).order_by("id")




def training_feedback_on(project) -> bool:  # type: ignore[no-untyped-def]
    """Whether annotators see the expected answer after each gold (training) item."""
    return QualitySettings.objects.filter(project=project, training_feedback=True).exists()
