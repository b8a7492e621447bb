"""Every route of the URLconf, and a way to build a concrete URL for it.

The security tests walk this list, so a route added by any app is covered (or, for
the authorization matrix, must be given an entry) without anyone remembering to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

_PLACEHOLDER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or the pattern when the route has no name
    pattern: str  # e.g. "projects/<int:project_id>/privacy/"
    callback: Any

    @property
    def kwargs(self) -> list[str]:
        return [match.group("name") for match in _PLACEHOLDER.finditer(self.pattern)]

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")

    def url(self, values: dict[str, Any]) -> str:
        # The same parameter name can mean different objects under different prefixes
        # (membership_id of a project or of an organization): values["by_prefix"] says which.
        for prefix, overrides in values.get("by_prefix", {}).items():
            if self.pattern.startswith(prefix):
                values = {**values, **overrides}

        def fill(match: re.Match[str]) -> str:
            name, converter = match.group("name"), match.group("converter") or "str"
            if name in values:
                return str(values[name])
            return "999999" if converter == "int" else "no-such-value"

        return "/" + _PLACEHOLDER.sub(fill, self.pattern)


def _pattern_text(pattern: Any) -> str:
    text = str(pattern)
    # A regex route (re_path): keep it readable; the tests only fill named groups.
    return text.lstrip("^").rstrip("$").replace("\\Z", "")


def _walk(patterns: list[Any], prefix: str, namespace: str) -> list[Route]:
    routes: list[Route] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            child_namespace = namespace
            if entry.namespace:
                child_namespace = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            routes += _walk(entry.url_patterns, prefix + _pattern_text(entry.pattern), child_namespace)
        elif isinstance(entry, URLPattern):
            pattern = prefix + _pattern_text(entry.pattern)
            key = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or pattern)
            routes.append(Route(key=key, pattern=pattern, callback=entry.callback))
    return routes


def all_routes() -> list[Route]:
    """Every route, once (the first of two with the same key wins, as in reverse())."""
    seen: dict[str, Route] = {}
    for route in _walk(get_resolver().url_patterns, "", ""):
        seen.setdefault(route.key, route)
    return sorted(seen.values(), key=lambda route: route.pattern)
