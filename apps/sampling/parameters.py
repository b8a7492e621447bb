"""Sampling parameters: validation, the request body sent to the server, and the idempotency hash.

Only known keys are accepted, so a typo ("temprature") is a named error rather
than a silently ignored setting. `system_prompt` becomes a leading system
message; every other key is sent as is. With n samples per prompt, sample i is
sent with seed + i (when a seed is set) so samples differ yet stay reproducible.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# key -> (type, minimum, maximum)
_NUMERIC: dict[str, tuple[type, float, float]] = {
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "max_tokens": (int, 1, 1_000_000),
    "seed": (int, -(2**63), 2**63 - 1),
    "presence_penalty": (float, -2.0, 2.0),
    "frequency_penalty": (float, -2.0, 2.0),
    "top_k": (int, -1, 100_000),
    "min_p": (float, 0.0, 1.0),
    "repetition_penalty": (float, 0.0, 10.0),
}
KNOWN_PARAMETERS = (*_NUMERIC, "system_prompt", "stop")
MAX_SYSTEM_PROMPT = 20_000


class ParameterError(ValueError):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))


def parameters_clean(raw: Any) -> dict[str, Any]:
    """Validated parameters; None or "" values are dropped (meaning "use the default")."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise ParameterError({"parameters": "must be an object such as {\"temperature\": 0.7}"})
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or value == "":
            continue
        if key in _NUMERIC:
            kind, low, high = _NUMERIC[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors[key] = f"must be a number from {low} to {high}"
                continue
            if kind is int and (isinstance(value, float) and not value.is_integer()):
                errors[key] = "must be a whole number"
                continue
            value = int(value) if kind is int else float(value)
            if not low <= value <= high:
                errors[key] = f"must be from {low} to {high}"
                continue
            clean[key] = value
        elif key == "system_prompt":
            if not isinstance(value, str) or len(value) > MAX_SYSTEM_PROMPT:
                errors[key] = f"must be text of at most {MAX_SYSTEM_PROMPT} characters"
            else:
                clean[key] = value
        elif key == "stop":
            stops = [value] if isinstance(value, str) else value
            if not isinstance(stops, list) or not 1 <= len(stops) <= 4 or not all(
                isinstance(s, str) and s for s in stops
            ):
                errors[key] = "must be a string or a list of 1 to 4 non-empty strings"
            else:
                clean[key] = value
        else:
            errors[key] = f"is not a known parameter (known: {', '.join(KNOWN_PARAMETERS)})"
    if errors:
        raise ParameterError(errors)
    return clean


def parameters_merge(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults or {})
    merged.update(overrides or {})
    return merged


def parameters_hash(*, model_name: str, parameters: dict[str, Any]) -> str:
    canonical = json.dumps({"model": model_name, "parameters": parameters}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sent_parameters(parameters: dict[str, Any], *, sample_index: int) -> dict[str, Any]:
    """The parameters as sent for one sample (seed offset by the sample index)."""
    sent = dict(parameters)
    if "seed" in sent and sample_index:
        sent["seed"] = sent["seed"] + sample_index
    return sent


def request_body(
    *, model_name: str, messages: list[dict[str, Any]], parameters: dict[str, Any], sample_index: int
) -> dict[str, Any]:
    sent = sent_parameters(parameters, sample_index=sample_index)
    system_prompt = sent.pop("system_prompt", None)
    chat = list(messages)
    if system_prompt and not (chat and chat[0].get("role") == "system"):
        chat.insert(0, {"role": "system", "content": system_prompt})
    return {"model": model_name, "messages": chat, **sent}
