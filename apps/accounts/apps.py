from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        # Registers the token scheme with drf-spectacular (import side effect by design).
        from apps.accounts import openapi  # noqa: F401
