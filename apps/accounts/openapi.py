"""Tells drf-spectacular how API tokens are sent, so /api/v1/docs/ offers "Authorize"."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.BearerOrTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` (or `Bearer <key>`). Create keys at /accounts/tokens/ "
            "or with `manage.py create_api_token <username> --name NAME`.",
        }
