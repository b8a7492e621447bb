"""Model endpoint API keys: encrypted at rest, or read from an allowed environment variable.

Stored keys are Fernet tokens under a key derived (HKDF-SHA256) from SECRET_KEY;
keys derived from SECRET_KEY_FALLBACKS still decrypt, so rotating SECRET_KEY
the Django way keeps stored keys readable until they are re-entered.
"""

from __future__ import annotations

import base64
import os
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")


class ApiKeyUnavailable(Exception):
    """The endpoint's key cannot be produced; the message says what to fix."""


@lru_cache(maxsize=8)
def _fernet_for(secret: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"verity.sampling", info=b"model-endpoint-api-key"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _fernet() -> MultiFernet:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet_for(secret) for secret in secrets])


def api_key_encrypt(raw: str) -> str:
    return _fernet().encrypt(raw.encode()).decode()


def api_key_decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ApiKeyUnavailable(
            "the stored API key cannot be decrypted (SECRET_KEY changed?); enter the key again"
        ) from None


def _allowed_env_entries() -> list[tuple[str, str | None]]:
    entries = []
    for entry in settings.MODEL_ENDPOINT_KEY_ENVS:
        name, _, host = entry.partition("@")
        entries.append((name.strip(), host.strip().lower() or None))
    return entries


def api_key_env_check(name: str, host: str) -> str | None:
    """None when `name` may be used for `host`; otherwise what is wrong."""
    if not ENV_NAME_RE.match(name):
        return "must be an environment variable name such as OPENAI_API_KEY"
    allowed = [entry_host for entry_name, entry_host in _allowed_env_entries() if entry_name == name]
    if not allowed:
        return (
            f"{name} is not in MODEL_ENDPOINT_KEY_ENVS; the operator must allow it there "
            "(or store the key encrypted instead)"
        )
    if None not in allowed and host.lower() not in allowed:
        return f"{name} may only be sent to {', '.join(h for h in allowed if h)}"
    return None


def api_key_for(*, api_key_env: str, api_key_encrypted: str, host: str) -> str | None:
    """The raw key to send, or None for endpoints without one. Raises ApiKeyUnavailable."""
    if api_key_env:
        problem = api_key_env_check(api_key_env, host)
        if problem:
            raise ApiKeyUnavailable(f"api_key_env: {problem}")
        value = os.environ.get(api_key_env)
        if not value:
            raise ApiKeyUnavailable(f"environment variable {api_key_env} is not set on the worker")
        return value
    if api_key_encrypted:
        return api_key_decrypt(api_key_encrypted)
    return None
