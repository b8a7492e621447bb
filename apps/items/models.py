"""Prompts, generations (model outputs) and the items annotators see."""

from __future__ import annotations

from django.db import models

from apps.core.models import TimeStampedModel


class Prompt(models.Model):
    """A prompt: plain text, or a chat message list ([{role, content}, ...])."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=200, blank=True)
    # Plain-text rendering (the last user turn for chats) used for search and display.
    text = models.TextField()
    messages = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="uniq_prompt_hash")]
        indexes = [models.Index(fields=["project", "external_id"])]

    def as_messages(self) -> list[dict[str, str]]:
        return list(self.messages) if self.messages else [{"role": "user", "content": self.text}]


class GenerationSource(models.TextChoices):
    IMPORTED = "imported", "Imported"
    GENERATED = "generated", "Generated"


class Generation(models.Model):
    """One model output for a prompt."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="generations")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="generations")
    model_name = models.CharField(max_length=200)
    parameters = models.JSONField(default=dict, blank=True)
    text = models.TextField()
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=10, choices=GenerationSource.choices, default=GenerationSource.IMPORTED)
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="uniq_generation_hash")]
        indexes = [models.Index(fields=["project", "model_name"]), models.Index(fields=["prompt", "model_name"])]


class ItemKind(models.TextChoices):
    SINGLE = "single", "One response"
    PAIR = "pair", "Pair of responses"
    MULTI = "multi", "Several responses"


class ItemState(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"
    ARCHIVED = "archived", "Archived"


class Item(TimeStampedModel):
    """What an annotator sees: a prompt and one or more generations in a stored order.

    `required_annotations` starts at the project's count and may be raised by
    dynamic overlap (apps.quality). `active_count` is live leases plus submitted
    annotations; the assignment engine keeps it under the item's row lock.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="items")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="items")
    generations = models.ManyToManyField(Generation, through="ItemGeneration", related_name="items")
    kind = models.CharField(max_length=10, choices=ItemKind.choices, default=ItemKind.SINGLE)
    metadata = models.JSONField(default=dict, blank=True)
    priority = models.IntegerField(default=0)
    state = models.CharField(max_length=10, choices=ItemState.choices, default=ItemState.OPEN)
    content_hash = models.CharField(max_length=64)
    is_gold = models.BooleanField(default=False)
    # Never shown to annotators: only researcher-facing selectors read this.
    gold_answers = models.JSONField(null=True, blank=True)
    required_annotations = models.PositiveSmallIntegerField(default=1)
    active_count = models.PositiveIntegerField(default=0)
    annotation_count = models.PositiveIntegerField(default=0)
    has_pii = models.BooleanField(default=False)
    is_harmful = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="uniq_item_hash")]
        indexes = [
            # The assignment engine's scan: open items needing work, best priority first.
            models.Index(
                fields=["project", "is_gold", "-priority", "id"],
                name="item_queue_idx",
                condition=models.Q(state="open"),
            ),
            models.Index(fields=["project", "state", "id"]),
        ]

    def ordered_generations(self) -> list[Generation]:
        return [link.generation for link in self.item_generations.select_related("generation").order_by("position")]


class ItemGeneration(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="item_generations")
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="item_links")
    position = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "position"], name="uniq_item_position")]
        indexes = [models.Index(fields=["generation"])]
