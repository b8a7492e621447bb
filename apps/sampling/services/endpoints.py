"""Writes for model endpoints: create, update, archive, and the connection test."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.sampling.api_keys import ApiKeyUnavailable, api_key_encrypt, api_key_env_check
from apps.sampling.chat_client import RetryPolicy, complete_once
from apps.sampling.execution import endpoint_target
from apps.sampling.models import ModelEndpoint
from apps.sampling.parameters import ParameterError, parameters_clean, request_body
from apps.sampling.url_policy import BadEndpointUrl, HostPolicy, base_url_clean

MAX_API_KEY_LENGTH = 4096
# Fields a caller may set; api_key / clear_api_key are handled apart.
EDITABLE = (
    "name",
    "base_url",
    "model_name",
    "default_parameters",
    "max_concurrency",
    "rpm_limit",
    "timeout_seconds",
    "price_per_1k_prompt_tokens",
    "price_per_1k_completion_tokens",
    "api_key_env",
)


def _price(value: Any, field: str, errors: dict[str, str]) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        errors[field] = "must be a number such as 0.0025"
        return None
    if price < 0 or price >= Decimal("1000000"):
        errors[field] = "must be from 0 to 999999"
        return None
    return price


def _clean(endpoint: ModelEndpoint, data: dict[str, Any], *, api_key: str | None) -> None:
    """Apply `data` to `endpoint`, collecting errors per field; raises ValidationError."""
    errors: dict[str, str] = {}
    for field in EDITABLE:
        if field in data:
            setattr(endpoint, field, data[field])
    if "base_url" in data or not endpoint.pk:
        try:
            endpoint.base_url = base_url_clean(endpoint.base_url or "", policy=HostPolicy.from_settings())
        except BadEndpointUrl as exc:
            errors["base_url"] = str(exc)
    endpoint.model_name = (endpoint.model_name or "").strip()
    if not endpoint.model_name:
        errors["model_name"] = "is required: the model the server serves, e.g. meta-llama/Meta-Llama-3-8B-Instruct"
    endpoint.name = (endpoint.name or "").strip() or endpoint.model_name
    try:
        endpoint.default_parameters = parameters_clean(endpoint.default_parameters)
    except ParameterError as exc:
        errors["default_parameters"] = str(exc)
    endpoint.price_per_1k_prompt_tokens = _price(endpoint.price_per_1k_prompt_tokens, "price_per_1k_prompt_tokens", errors)
    endpoint.price_per_1k_completion_tokens = _price(
        endpoint.price_per_1k_completion_tokens, "price_per_1k_completion_tokens", errors
    )
    endpoint.api_key_env = (endpoint.api_key_env or "").strip()
    if api_key is not None and endpoint.api_key_env:
        errors["api_key"] = "give either an API key or an environment variable name, not both"
    elif endpoint.api_key_env and "base_url" not in errors:
        problem = api_key_env_check(endpoint.api_key_env, urlsplit(endpoint.base_url).hostname or "")
        if problem:
            errors["api_key_env"] = problem
    if api_key is not None:
        if not api_key.strip() or len(api_key) > MAX_API_KEY_LENGTH or any(c in api_key for c in "\r\n"):
            errors["api_key"] = f"must be a single line of at most {MAX_API_KEY_LENGTH} characters"
        else:
            endpoint.api_key_encrypted = api_key_encrypt(api_key.strip())
    elif endpoint.api_key_env:
        endpoint.api_key_encrypted = ""  # switching to an env var drops the stored key
    if errors:
        raise ValidationError(errors)
    try:
        endpoint.full_clean(exclude=["organization", "created_by"])
    except ValidationError as exc:
        raise ValidationError({field: messages[0] for field, messages in exc.message_dict.items()}) from None


def _check_name_free(endpoint: ModelEndpoint) -> None:
    taken = ModelEndpoint.objects.filter(
        organization_id=endpoint.organization_id, name=endpoint.name, archived_at__isnull=True
    ).exclude(pk=endpoint.pk)
    if taken.exists():
        raise ValidationError({"name": f"an endpoint named {endpoint.name!r} already exists in this organization"})


@transaction.atomic
def endpoint_create(*, organization, user, data: dict[str, Any], api_key: str | None = None) -> ModelEndpoint:  # type: ignore[no-untyped-def]
    endpoint = ModelEndpoint(organization=organization, created_by=user if user and user.is_authenticated else None)
    _clean(endpoint, data, api_key=api_key)
    _check_name_free(endpoint)
    endpoint.save()
    audit_record(actor=user, action="model_endpoint.created", target=endpoint, organization=organization,
                 detail={"base_url": endpoint.base_url, "model": endpoint.model_name})
    return endpoint


@transaction.atomic
def endpoint_update(
    *, endpoint: ModelEndpoint, data: dict[str, Any], api_key: str | None = None, clear_api_key: bool = False,
    actor: Any = None,
) -> ModelEndpoint:
    """Change settings. api_key=None keeps the stored key; clear_api_key removes it."""
    if clear_api_key:
        endpoint.api_key_encrypted = ""
    _clean(endpoint, data, api_key=api_key)
    _check_name_free(endpoint)
    endpoint.save()
    audit_record(actor=actor, action="model_endpoint.changed", target=endpoint,
                 organization=endpoint.organization_id,
                 detail={"fields": sorted(data), "api_key_changed": bool(api_key) or clear_api_key})
    return endpoint


@transaction.atomic
def endpoint_archive(*, endpoint: ModelEndpoint, actor: Any = None) -> None:
    """Hide the endpoint from new runs. Kept (not deleted) while runs reference it."""
    audit_record(actor=actor, action="model_endpoint.deleted", target=endpoint,
                 organization=endpoint.organization_id)
    if not endpoint.slots.exists():
        endpoint.delete()
        return
    endpoint.archived_at = timezone.now()
    endpoint.api_key_encrypted = ""
    endpoint.save(update_fields=["archived_at", "api_key_encrypted", "updated_at"])


def endpoint_test(*, endpoint: ModelEndpoint) -> dict[str, Any]:
    """Send one tiny chat completion and record whether it worked.

    Bounded by the endpoint's timeout (at most 30 s) and a single attempt, so
    the request that asks for it stays short.
    """
    body = request_body(
        model_name=endpoint.model_name,
        messages=[{"role": "user", "content": "Reply with the single word OK."}],
        parameters={"max_tokens": 5, "temperature": 0.0},
        sample_index=0,
    )
    try:
        target = endpoint_target(endpoint)
    except ApiKeyUnavailable as exc:
        result = {"ok": False, "reason": "configuration", "message": str(exc), "latency_ms": None, "reply": ""}
    else:
        target = dataclasses.replace(target, timeout=min(target.timeout, 30.0))
        outcome = asyncio.run(
            complete_once(target, body, policy=HostPolicy.from_settings(), retry=RetryPolicy(max_attempts=1))
        )
        if outcome.ok:
            result = {
                "ok": True,
                "reason": "",
                "message": f"Connected: {endpoint.model_name} answered in {outcome.latency_ms} ms.",
                "latency_ms": outcome.latency_ms,
                "reply": outcome.text[:200],
            }
        else:
            result = {
                "ok": False,
                "reason": outcome.error_reason,
                "message": outcome.error_message,
                "latency_ms": None,
                "reply": "",
            }
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(
        last_tested_at=timezone.now(), last_test_ok=result["ok"], last_test_message=result["message"][:500]
    )
    return result
