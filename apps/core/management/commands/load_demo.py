"""Load the demo: an organization, a researcher, three annotators, one project per built-in template.

Idempotent: a second run keeps what exists. Passwords are generated on the first
run and stored in the data folder (never in code); the launcher prints them.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.models import (
    Organization,
    OrganizationMembership,
    OrgRole,
    ProjectMembership,
    ProjectRole,
    User,
)

# Pair templates get two balanced random pairs per prompt; the others one item per response.
ITEM_MODE_FOR_KIND = {"pair": "k_pairs", "single": "each"}


def _logins_path() -> Path:
    folder = Path(settings.DATA_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "demo-logins.json"


def _load_or_create_logins() -> list[dict[str, str]]:
    path = _logins_path()
    if path.exists():
        return json.loads(path.read_text())
    logins = [{"role": "researcher", "username": "researcher", "password": secrets.token_urlsafe(12)}]
    logins += [
        {"role": "annotator", "username": f"annotator{n}", "password": secrets.token_urlsafe(12)} for n in (1, 2, 3)
    ]
    path.write_text(json.dumps(logins, indent=2))
    path.chmod(0o600)
    return logins


class Command(BaseCommand):
    help = "Create the demo organization, users and one project per built-in template (idempotent)."

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        from apps.items.services import demo_items_load
        from apps.projects.builtin_templates import BUILTIN_TEMPLATES
        from apps.projects.services import project_create

        logins = _load_or_create_logins()
        with transaction.atomic():
            organization, _ = Organization.objects.get_or_create(slug="demo-lab", defaults={"name": "Demo Lab"})
            users: dict[str, User] = {}
            for login in logins:
                user, created = User.objects.get_or_create(
                    username=login["username"], defaults={"display_name": login["username"].capitalize()}
                )
                if created:
                    user.set_password(login["password"])
                    user.save()
                users[login["username"]] = user
            researcher = users["researcher"]
            OrganizationMembership.objects.get_or_create(
                organization=organization, user=researcher, defaults={"role": OrgRole.ADMIN}
            )

        for template in BUILTIN_TEMPLATES:
            name = f"Demo: {template['name']}"
            project = organization.projects.filter(name=name).first()
            if project is None:
                project = project_create(
                    user=researcher,
                    organization=organization,
                    name=name,
                    template=template["key"],
                    description=f"{template['description']} Built from 100 AlpacaEval prompts answered by 4 models.",
                )
                for username, user in users.items():
                    if username.startswith("annotator"):
                        ProjectMembership.objects.get_or_create(
                            project=project, user=user, defaults={"role": ProjectRole.ANNOTATOR}
                        )
            if not project.items.exists():
                demo_items_load(project=project, mode=ITEM_MODE_FOR_KIND.get(template.get("item_kind", "single"), "each"))
            self.stdout.write(f"demo project ready: {project.name} ({project.items.count()} items)")
