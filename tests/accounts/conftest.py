from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import ProjectRole
from apps.accounts.services import invite_create


@pytest.fixture
def make_invite(project, owner):  # type: ignore[no-untyped-def]
    """make_invite(role=..., max_uses=..., expires_in=timedelta) -> (invite, token)."""

    def make(*, role: str = ProjectRole.ANNOTATOR, max_uses: int | None = None,
             expires_in: timedelta | None = timedelta(days=7), target=None, actor=None):  # type: ignore[no-untyped-def]
        return invite_create(
            project=target or project, actor=actor or owner, role=role, max_uses=max_uses,
            expires_at=timezone.now() + expires_in if expires_in else None,
        )

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    # PBKDF2 costs ~0.3 s per hash; these tests create many accounts. Production keeps the default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
