"""Users, organizations, memberships with roles, invite links and API tokens."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from apps.core.models import TimeStampedModel


class User(AbstractUser):
    """A person. Crowd workers may have no email; display_name is what others see."""

    display_name = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.username


class Organization(TimeStampedModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)

    def __str__(self) -> str:
        return self.name


class OrgRole(models.TextChoices):
    ADMIN = "admin", "Organization admin"
    RESEARCHER = "researcher", "Researcher"


class OrganizationMembership(TimeStampedModel):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="org_memberships")
    role = models.CharField(max_length=20, choices=OrgRole.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="uniq_org_member")]


class ProjectRole(models.TextChoices):
    MANAGER = "manager", "Project manager"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"


# Higher number = more power. Org admins and researchers act as managers of their org's projects.
PROJECT_ROLE_RANK = {ProjectRole.ANNOTATOR: 1, ProjectRole.REVIEWER: 2, ProjectRole.MANAGER: 3}


class ProjectMembership(TimeStampedModel):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships")
    role = models.CharField(max_length=20, choices=ProjectRole.choices)
    external_worker_id = models.CharField(max_length=200, blank=True)
    invite = models.ForeignKey("accounts.Invite", null=True, blank=True, on_delete=models.SET_NULL)
    # Quality control (apps.quality) suspends annotators; their work is kept but excluded.
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_reason = models.CharField(max_length=500, blank=True)
    guidelines_seen_version = models.PositiveIntegerField(default=0)
    qualified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="uniq_project_member")]
        indexes = [models.Index(fields=["user", "project"])]

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class Invite(TimeStampedModel):
    """An invite link to one project with one role. Only the token's hash is stored."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(max_length=20, choices=ProjectRole.choices, default=ProjectRole.ANNOTATOR)
    # Lets managers tell links apart ("Prolific batch 2"); never shown to people who open the link.
    label = models.CharField(max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=12)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    uses = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The last line of defence for the use limit: a racing join can never overshoot it.
            models.CheckConstraint(
                condition=models.Q(max_uses__isnull=True) | models.Q(uses__lte=models.F("max_uses")),
                name="invite_uses_within_limit",
            ),
            models.CheckConstraint(
                condition=models.Q(max_uses__isnull=True) | models.Q(max_uses__gte=1),
                name="invite_max_uses_positive",
            ),
        ]

    @property
    def status(self) -> str:
        """One of active / revoked / expired / used_up (the first reason that applies)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "used_up"
        return "active"

    @property
    def status_display(self) -> str:
        return self.status.replace("_", " ")

    def usable(self) -> bool:
        return self.status == "active"


class ApiToken(TimeStampedModel):
    """A personal API token. Shown once at creation; only its hash is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
