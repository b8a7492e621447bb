"""The authorization matrix: every route × persona × method, with the expected status.

Routes come from the URLconf (tests.security.routes), so a new route without an entry
in EXPECTED fails `test_every_route_has_an_entry`, whose message suggests an entry from
the statuses it observed (check them against what the route should allow before
pasting). URLs are filled with objects of project A in organization X, so the other
tenant's personas (annotator_b, researcher_y) must get 404, never 403 or data.

Personas, in the order of the status strings:
    anonymous     not signed in
    annotator_a   annotator of project A (organization X)
    annotator_b   annotator of project B (organization Y)
    reviewer      reviewer of project A
    researcher_x  researcher of organization X (manages project A)
    researcher_y  researcher of organization Y
    org_admin     admin of organization X

Entry: {"route key": {"GET": "302 403 404 403 200 404 200", ...}}; "200|503" allows
either. Methods a route does not list must be refused: 401, 403, 404 or 405 (an
anonymous caller may instead be sent to sign in). Every request runs in a savepoint
that is rolled back, so a POST that works changes nothing for the next persona.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from tests.security.routes import Route, all_routes

pytestmark = pytest.mark.django_db

PERSONAS = ("anonymous", "annotator_a", "annotator_b", "reviewer", "researcher_x", "researcher_y", "org_admin")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# A method a route does not list must be refused; asking the least and the most
# privileged callers is enough to show it is not served at all.
UNLISTED_METHOD_PERSONAS = ("anonymous", "researcher_x", "org_admin")

PAGE_MANAGER_GET = "302 403 404 403 200 404 200"
API_MANAGER_GET = "401 403 404 403 200 404 200"
ORG_ADMIN_ONLY_PAGE = "302 404 404 404 404 404 200"
ORG_ADMIN_ONLY_API = "401 404 404 404 404 404 200"

EXPECTED: dict[str, dict[str, str]] = {
    # core
    "healthz": {"GET": " ".join(["200|503"] * 7)},
    # The root only redirects (to sign in, or to the projects), whatever the method.
    "home": {method: "302 302 302 302 302 302 302" for method in ("GET", "POST", "PUT", "PATCH", "DELETE")},
    "api-schema": {"GET": "200 200 200 200 200 200 200"},
    "api-docs": {"GET": "200 200 200 200 200 200 200"},
    # sign-in: a signed-in user is sent on, whatever the method
    "accounts:login": {
        "GET": "200 302 302 302 302 302 302",
        "POST": "200 302 302 302 302 302 302",
        "PUT": "200 302 302 302 302 302 302",  # Django's LoginView treats PUT as POST
        "PATCH": "405 302 302 302 302 302 302",
        "DELETE": "405 302 302 302 302 302 302",
    },
    "accounts:logout": {"POST": "302 302 302 302 302 302 302"},
    # privacy (apps.privacy): managers only
    "privacy:page": {"GET": PAGE_MANAGER_GET},
    "privacy:policy": {"POST": "302 403 404 403 422 404 422"},
    "privacy:scan": {"GET": PAGE_MANAGER_GET, "POST": "302 403 404 403 302 404 302"},
    "privacy_api:summary": {"GET": API_MANAGER_GET},
    "privacy_api:scans": {"POST": "401 403 404 403 202 404 202"},
    # audit (apps.audit): organization admins only; everyone else 404
    "audit:organization": {"GET": ORG_ADMIN_ONLY_PAGE},
    "audit_api:organization": {"GET": ORG_ADMIN_ONLY_API},
}


@pytest.fixture
def clients(annotator, annotator_b, reviewer, owner, outsider, org_admin) -> dict[str, Client]:  # type: ignore[no-untyped-def]
    users = {
        "annotator_a": annotator,
        "annotator_b": annotator_b,
        "reviewer": reviewer,
        "researcher_x": owner,
        "researcher_y": outsider,
        "org_admin": org_admin,
    }
    result = {"anonymous": Client(raise_request_exception=False)}
    for persona, user in users.items():
        client = Client(raise_request_exception=False)
        client.force_login(user)
        result[persona] = client
    return result


def _request(client: Client, method: str, route: Route, path: str) -> Any:
    # The session cookie too is put back: a POST to the logout route must not sign the
    # persona out for the rest of the table.
    cookies = copy.deepcopy(client.cookies)
    with transaction.atomic():
        if method == "GET":
            response = client.get(path)
        elif route.is_api:
            response = client.generic(method, path, b"{}", content_type="application/json")
        elif method == "POST":
            response = client.post(path, {})
        else:
            response = client.generic(method, path, b"", content_type="application/x-www-form-urlencoded")
        transaction.set_rollback(True)
    client.cookies = cookies
    return response


def _refused(persona: str, response: Any) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    return (
        persona == "anonymous"
        and response.status_code == 302
        and response.get("Location", "").startswith("/accounts/login/")
    )


def _status_matches(expected: str, actual: int) -> bool:
    return str(actual) in expected.split("|")


def _parse(entry: str) -> list[str]:
    statuses = entry.split()
    assert len(statuses) == len(PERSONAS), f"{entry!r} must have {len(PERSONAS)} statuses"
    return statuses


def test_the_table_is_well_formed():
    for key, methods in EXPECTED.items():
        for method, entry in methods.items():
            assert method in METHODS, (key, method)
            _parse(entry)


def test_every_listed_route_answers_as_the_table_says(clients, url_values):
    routes = {route.key: route for route in all_routes()}
    problems = []
    checked = 0
    for key, methods in EXPECTED.items():
        route = routes.get(key)
        if route is None:
            continue  # not in the URLconf (yet): nothing to check
        path = route.url(url_values)
        for method in METHODS:
            expected = _parse(methods[method]) if method in methods else None
            for index, persona in enumerate(PERSONAS):
                if expected is None and persona not in UNLISTED_METHOD_PERSONAS:
                    continue
                response = _request(clients[persona], method, route, path)
                checked += 1
                if expected is None:
                    if not _refused(persona, response):
                        problems.append(f"{method} {path} ({key}) as {persona}: {response.status_code}, "
                                        "but the method is not in the table so it must be refused")
                elif not _status_matches(expected[index], response.status_code):
                    problems.append(f"{method} {path} ({key}) as {persona}: {response.status_code}, "
                                    f"expected {expected[index]}")
    assert checked > 0
    assert not problems, "\n".join(problems)


def _methods_to_probe(route: Route) -> tuple[str, ...]:
    view_class = getattr(route.callback, "cls", None) or getattr(route.callback, "view_class", None)
    if view_class is not None:
        return tuple(m for m in METHODS if hasattr(view_class, m.lower()))
    return METHODS


def test_every_route_has_an_entry(clients, url_values):
    missing = [route for route in all_routes() if route.key not in EXPECTED]
    if not missing:
        return
    suggestions = []
    for route in missing:
        path = route.url(url_values)
        observed: dict[str, str] = {}
        for method in _methods_to_probe(route):
            responses = [(persona, _request(clients[persona], method, route, path)) for persona in PERSONAS]
            if all(_refused(persona, response) for persona, response in responses) and method != "GET":
                continue
            observed[method] = " ".join(str(response.status_code) for _, response in responses)
        suggestions.append(f"    {route.key!r}: {observed!r},  # {route.pattern}")
    pytest.fail(
        f"{len(missing)} route(s) have no entry in EXPECTED. Observed statuses, to check against what each "
        "route should allow before pasting:\n" + "\n".join(suggestions)
    )
