"""`manage.py create_api_token <username> --name NAME`: print a new API token's key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.accounts.services import AccountsError, api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print its key (shown once; only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the token is for, e.g. 'nightly export'.")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        try:
            token, key = api_token_create(user=user, name=name)
        except AccountsError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(f"Created token {token.name!r} (id {token.pk}) for {user.username}. Copy the key now:")
        # The key alone on stdout, so scripts can capture it: KEY=$(manage.py create_api_token ...)
        self.stdout.write(key)
