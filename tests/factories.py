"""factory_boy factories for the domain model."""

from __future__ import annotations

import hashlib

import factory
from django.utils import timezone

from apps.accounts.models import (
    Organization,
    OrganizationMembership,
    OrgRole,
    ProjectMembership,
    ProjectRole,
    User,
)
from apps.items.models import Generation, Item, ItemGeneration, ItemKind, Prompt
from apps.projects.models import GuidelineVersion, Project

PASSWORD = "correct-horse-battery-staple-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class OrgMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrganizationMembership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = OrgRole.RESEARCHER


def _default_questions() -> list[dict]:
    return [
        {
            "id": "overall",
            "type": "rating",
            "prompt": "Overall quality",
            "applies_to": "item",
            "required": True,
            "min": 1,
            "max": 5,
        }
    ]


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    questions = factory.LazyFunction(_default_questions)
    annotations_per_item = 2
    min_annotations = 2
    max_annotations = 4

    @factory.post_generation
    def guidelines(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            GuidelineVersion.objects.create(project=obj, version=1, text=extracted or "Be careful and kind.")


class ProjectMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectMembership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = ProjectRole.ANNOTATOR


def _hash(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    project = factory.SubFactory(ProjectFactory)
    text = factory.Sequence(lambda n: f"Prompt number {n}: explain something.")
    content_hash = factory.LazyAttribute(lambda p: _hash("prompt", p.text))


class GenerationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Generation

    project = factory.LazyAttribute(lambda g: g.prompt.project)
    prompt = factory.SubFactory(PromptFactory)
    model_name = "model-a"
    text = factory.Sequence(lambda n: f"Response number {n}.")
    content_hash = factory.LazyAttribute(lambda g: _hash("gen", g.prompt.content_hash, g.model_name, g.text))


def make_item(project: Project, *, responses: int = 1, prompt_text: str | None = None, **fields) -> Item:  # type: ignore[no-untyped-def]
    """An item with `responses` generations from different models, in display order."""
    prompt = PromptFactory(project=project, **({"text": prompt_text} if prompt_text else {}))
    generations = [
        GenerationFactory(project=project, prompt=prompt, model_name=f"model-{chr(97 + i)}") for i in range(responses)
    ]
    kind = ItemKind.SINGLE if responses == 1 else ItemKind.PAIR if responses == 2 else ItemKind.MULTI
    fields.setdefault("required_annotations", project.annotations_per_item)
    item = Item.objects.create(
        project=project,
        prompt=prompt,
        kind=kind,
        content_hash=_hash("item", prompt.pk, *[g.pk for g in generations], timezone.now().timestamp()),
        **fields,
    )
    ItemGeneration.objects.bulk_create(
        [ItemGeneration(item=item, generation=g, position=i) for i, g in enumerate(generations)]
    )
    return item
