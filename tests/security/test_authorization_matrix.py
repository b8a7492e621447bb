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
import functools
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from apps.core import health
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
    # accounts
    "accounts:tokens": {"GET": "302 200 200 200 200 200 200", "POST": "302 400 400 400 400 400 400"},  # accounts/tokens/
    "accounts:token_revoke": {"POST": "302 404 404 404 302 404 404"},  # accounts/tokens/<int:token_id>/revoke/
    "accounts_api:invite": {"DELETE": "401 403 404 403 204 404 204"},  # api/v1/invites/<int:invite_id>/
    "accounts_api:project_invites": {"GET": API_MANAGER_GET, "POST": "401 403 404 403 201 404 201"},  # api/v1/projects/<int:project_id>/invites/
    "accounts_api:project_members": {"GET": API_MANAGER_GET, "POST": "401 403 404 403 400 404 400"},  # api/v1/projects/<int:project_id>/members/
    "accounts_api:project_member": {"PATCH": "401 403 404 403 400 404 400", "DELETE": "401 403 404 403 204 404 204"},  # api/v1/projects/<int:project_id>/members/<int:membership_id>/
    "accounts_api:tokens": {"GET": "401 200 200 200 200 200 200", "POST": "401 400 400 400 400 400 400"},  # api/v1/tokens/
    "accounts_api:token": {"DELETE": "401 404 404 404 204 404 404"},  # api/v1/tokens/<int:token_id>/
    "accounts:join": {"GET": "200 200 200 200 200 200 200", "POST": "400 302 302 302 302 302 302"},  # join/<str:token>/
    "accounts:org_members": {"GET": "302 404 404 404 404 404 200", "POST": "302 404 404 404 404 404 400"},  # organizations/<int:organization_id>/members/
    "accounts:org_member_remove": {"POST": "302 404 404 404 404 404 302"},  # organizations/<int:organization_id>/members/<int:membership_id>/remove/
    "accounts:org_member_role": {"POST": "302 404 404 404 404 404 400"},  # organizations/<int:organization_id>/members/<int:membership_id>/role/
    "accounts:invite_create": {"POST": "302 403 404 403 400 404 400"},  # projects/<int:project_id>/invites/
    "accounts:invite_revoke": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/invites/<int:invite_id>/revoke/
    "accounts:project_members": {"GET": PAGE_MANAGER_GET},  # projects/<int:project_id>/members/
    "accounts:project_member_remove": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/members/<int:membership_id>/remove/
    "accounts:project_member_role": {"POST": "302 403 404 403 400 404 400"},  # projects/<int:project_id>/members/<int:membership_id>/role/
    "accounts:project_member_add": {"POST": "302 403 404 403 400 404 400"},  # projects/<int:project_id>/members/add/
    # annotations
    "annotations_api:assignment": {"GET": "401 200 404 404 404 404 404"},  # api/v1/assignments/<int:assignment_id>/
    "annotations_api:draft": {"PUT": "401 200 404 404 404 404 404"},  # api/v1/assignments/<int:assignment_id>/draft/
    "annotations_api:flag": {"POST": "401 400 404 404 404 404 404"},  # api/v1/assignments/<int:assignment_id>/flag/
    "annotations_api:heartbeat": {"POST": "401 200 404 404 404 404 404"},  # api/v1/assignments/<int:assignment_id>/heartbeat/
    "annotations_api:skip": {"POST": "401 400 404 404 404 404 404"},  # api/v1/assignments/<int:assignment_id>/skip/
    "annotations_api:submit": {"POST": "401 400 404 404 404 404 404"},  # api/v1/assignments/<int:assignment_id>/submit/
    "annotations_api:next": {"POST": "401 200 404 200 200 404 200"},  # api/v1/projects/<int:project_id>/next/
    "annotations_api:pause": {"POST": "401 200 404 200 200 404 200"},  # api/v1/projects/<int:project_id>/pause/
    "annotations_api:resume": {"POST": "401 200 404 200 200 404 200"},  # api/v1/projects/<int:project_id>/resume/
    "annotations:pause": {"POST": "302 302 404 302 302 404 302"},  # projects/<int:project_id>/annotate/pause/
    "annotations:resume": {"POST": "302 302 404 302 302 404 302"},  # projects/<int:project_id>/annotate/resume/
    "annotations:workspace": {"GET": "302 200 404 200 200 404 200"},  # projects/<int:project_id>/annotate/
    "annotations:guidelines_confirm": {"POST": "302 302 404 302 302 404 302"},  # projects/<int:project_id>/annotate/guidelines/
    "annotations:next": {"POST": "302 302 404 302 302 404 302"},  # projects/<int:project_id>/annotate/next/
    "annotations:preferences": {"POST": "302 302 404 302 302 404 302"},  # projects/<int:project_id>/annotate/preferences/
    # Training feedback: only the annotator's own answer (others, even managers, get 404).
    "annotations:feedback": {"GET": "302 200 404 404 404 404 404"},
    # exports
    "exports_api:detail": {"GET": "401 404 404 404 200 404 200"},  # api/v1/exports/<int:export_id>/
    "exports_api:cancel": {"POST": "401 404 404 404 200 404 200"},  # api/v1/exports/<int:export_id>/cancel/
    "exports_api:download": {"GET": "401 404 404 404 409 404 409"},  # api/v1/exports/<int:export_id>/download/
    "exports_api:project-exports": {"GET": "401 404 404 404 200 404 200", "POST": "401 404 404 404 400 404 400"},  # api/v1/projects/<int:project_id>/exports/
    "exports_api:preview": {"POST": "401 404 404 404 400 404 400"},  # api/v1/projects/<int:project_id>/exports/preview/
    "exports:page": {"GET": "302 404 404 404 200 404 200", "POST": "302 404 404 404 400 404 400"},  # projects/<int:project_id>/exports/
    "exports:detail": {"GET": "302 404 404 404 200 404 200"},  # projects/<int:project_id>/exports/<int:export_id>/
    "exports:cancel": {"POST": "302 404 404 404 302 404 302"},  # projects/<int:project_id>/exports/<int:export_id>/cancel/
    "exports:download": {"GET": "302 404 404 404 409 404 409"},  # projects/<int:project_id>/exports/<int:export_id>/download/
    "exports:preview": {"POST": "302 404 404 404 200 404 200"},  # projects/<int:project_id>/exports/preview/
    # items
    "items_api:import": {"GET": API_MANAGER_GET},  # api/v1/imports/<int:job_id>/
    "items_api:import_cancel": {"POST": API_MANAGER_GET},  # api/v1/imports/<int:job_id>/cancel/
    "items_api:import_errors": {"GET": API_MANAGER_GET},  # api/v1/imports/<int:job_id>/errors/
    "items_api:item": {"GET": "401 200 404 200 200 404 200", "PATCH": API_MANAGER_GET},  # api/v1/items/<int:item_id>/
    "items_api:imports": {"GET": API_MANAGER_GET, "POST": "401 403 404 403 415 404 415"},  # api/v1/projects/<int:project_id>/imports/
    "items_api:items": {"GET": "401 403 404 200 200 404 200"},  # api/v1/projects/<int:project_id>/items/
    # Deleting items: researchers (managers) only; an annotator of the project is refused, other tenants get 404.
    "items_api:items_delete": {"POST": "401 403 404 403 400 404 400"},  # api/v1/projects/<int:project_id>/items/delete/
    "items_api:project_item": {"DELETE": "401 403 404 403 204 404 204"},  # api/v1/projects/<int:project_id>/items/<int:item_id>/
    "items:items_delete": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/items/delete/
    "items:item_delete": {"POST": "302 403 404 403 302 404 302"},  # items/<int:item_id>/delete/
    "items:import_detail": {"GET": PAGE_MANAGER_GET},  # imports/<int:job_id>/
    "items:import_cancel": {"POST": "302 403 404 403 302 404 302"},  # imports/<int:job_id>/cancel/
    "items:import_errors": {"GET": PAGE_MANAGER_GET},  # imports/<int:job_id>/errors/
    "items:item_detail": {"GET": "302 403 404 200 200 404 200"},  # items/<int:item_id>/
    "items:item_gold": {"POST": "302 403 404 403 302 404 302"},  # items/<int:item_id>/gold/
    "items:imports_new": {"GET": PAGE_MANAGER_GET, "POST": PAGE_MANAGER_GET},  # projects/<int:project_id>/imports/new/
    "items:browser": {"GET": "302 403 404 200 200 404 200"},  # projects/<int:project_id>/items/
    "items:upload_mapping": {"GET": PAGE_MANAGER_GET, "POST": "302 403 404 403 422 404 422"},  # projects/<int:project_id>/uploads/<int:upload_id>/mapping/
    "items:upload_preview": {"GET": PAGE_MANAGER_GET},  # projects/<int:project_id>/uploads/<int:upload_id>/preview/
    # projects
    "projects_api:list": {"GET": "401 200 200 200 200 200 200", "POST": "401 400 400 400 400 400 400"},  # api/v1/projects/
    "projects_api:detail": {"GET": "401 200 404 200 200 404 200", "PATCH": API_MANAGER_GET, "DELETE": "401 403 404 403 204 404 204"},  # api/v1/projects/<int:project_id>/
    "projects_api:templates": {"GET": "401 200 200 200 200 200 200"},  # api/v1/templates/
    "projects:list": {"GET": "302 200 200 200 200 200 200"},  # projects/
    "projects:detail": {"GET": "302 200 404 200 200 404 200"},  # projects/<int:project_id>/
    "projects:archive": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/archive/
    "projects:delete": {"GET": PAGE_MANAGER_GET, "POST": PAGE_MANAGER_GET},  # projects/<int:project_id>/delete/
    "projects:guidelines": {"GET": "302 200 404 200 200 404 200", "POST": PAGE_MANAGER_GET},  # projects/<int:project_id>/guidelines/
    "projects:guidelines_history": {"GET": "302 200 404 200 200 404 200"},  # projects/<int:project_id>/guidelines/history/
    "projects:guidelines_preview": {"POST": PAGE_MANAGER_GET},  # projects/<int:project_id>/guidelines/preview/
    "projects:guidelines_version": {"GET": "302 200 404 200 200 404 200"},  # projects/<int:project_id>/guidelines/v<int:version>/
    "projects:questions": {"GET": PAGE_MANAGER_GET, "POST": PAGE_MANAGER_GET},  # projects/<int:project_id>/questions/
    "projects:questions_preview": {"POST": PAGE_MANAGER_GET},  # projects/<int:project_id>/questions/preview/
    "projects:settings": {"GET": PAGE_MANAGER_GET, "POST": PAGE_MANAGER_GET},  # projects/<int:project_id>/settings/
    "projects:unarchive": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/unarchive/
    "projects:new": {"GET": "302 403 403 403 200 200 200", "POST": "302 403 403 403 200 200 200"},  # projects/new/
    # quality
    "quality_api:item-aggregate": {"GET": "401 403 404 404 404 404 404"},  # api/v1/items/<int:item_id>/aggregate/
    "quality_api:item-gold": {"GET": API_MANAGER_GET, "PATCH": "401 403 404 403 400 404 400"},  # api/v1/items/<int:item_id>/gold/
    "quality_api:item-reviews": {"GET": "401 403 404 200 200 404 200", "POST": "401 403 404 400 400 404 400"},  # api/v1/items/<int:item_id>/reviews/
    "quality_api:annotators": {"GET": "401 403 404 200 200 404 200"},  # api/v1/projects/<int:project_id>/annotators/
    "quality_api:annotator-reinstate": {"POST": "401 403 404 403 409 404 409"},  # api/v1/projects/<int:project_id>/annotators/<int:user_id>/reinstate/
    "quality_api:annotator-suspend": {"POST": API_MANAGER_GET},  # api/v1/projects/<int:project_id>/annotators/<int:user_id>/suspend/
    "quality_api:qualification": {"GET": "401 200 404 200 200 404 200"},  # api/v1/projects/<int:project_id>/qualification/
    "quality_api:quality": {"GET": "401 403 404 200 200 404 200"},  # api/v1/projects/<int:project_id>/quality/
    "quality_api:recompute": {"POST": "401 403 404 403 202 404 202"},  # api/v1/projects/<int:project_id>/quality/recompute/
    "quality_api:settings": {"GET": API_MANAGER_GET, "PATCH": API_MANAGER_GET},  # api/v1/projects/<int:project_id>/quality/settings/
    "quality_api:review-queue": {"GET": "401 403 404 200 200 404 200"},  # api/v1/projects/<int:project_id>/review/
    "quality:dashboard": {"GET": "302 403 404 200 200 404 200"},  # projects/<int:project_id>/quality/
    "quality:annotators": {"GET": "302 403 404 200 200 404 200"},  # projects/<int:project_id>/quality/annotators/
    "quality:reinstate": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/quality/annotators/<int:user_id>/reinstate/
    "quality:suspend": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/quality/annotators/<int:user_id>/suspend/
    "quality:gold": {"GET": PAGE_MANAGER_GET},  # projects/<int:project_id>/quality/gold/
    "quality:notices_ack": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/quality/notices/acknowledge/
    "quality:recompute": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/quality/recompute/
    "quality:settings": {"POST": "302 403 404 403 422 404 422"},  # projects/<int:project_id>/quality/settings/
    "quality:status": {"GET": "302 403 404 200 200 404 200"},  # projects/<int:project_id>/quality/status/
    "quality:review": {"GET": "302 403 404 200 200 404 200"},  # projects/<int:project_id>/review/
    "quality:review_item": {"GET": "302 403 404 200 200 404 200", "POST": "302 403 404 422 422 404 422"},  # projects/<int:project_id>/review/items/<int:item_id>/
    "quality:item_gold": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/review/items/<int:item_id>/gold/
    # sampling
    "sampling_api:run": {"GET": API_MANAGER_GET},  # api/v1/generation-runs/<int:run_id>/
    "sampling_api:run-cancel": {"POST": API_MANAGER_GET},  # api/v1/generation-runs/<int:run_id>/cancel/
    "sampling_api:run-outputs": {"GET": API_MANAGER_GET},  # api/v1/generation-runs/<int:run_id>/outputs/
    "sampling_api:run-resume": {"POST": "401 403 404 403 409 404 409"},  # api/v1/generation-runs/<int:run_id>/resume/
    "sampling_api:endpoints": {"GET": "401 200 200 200 200 200 200", "POST": "401 403 403 403 400 400 400"},  # api/v1/model-endpoints/
    "sampling_api:endpoint": {"GET": "401 404 404 404 200 404 200", "PATCH": "401 404 404 404 200 404 200", "DELETE": "401 404 404 404 204 404 204"},  # api/v1/model-endpoints/<int:endpoint_id>/
    "sampling_api:endpoint-test": {"POST": "401 404 404 404 200 404 200"},  # api/v1/model-endpoints/<int:endpoint_id>/test/
    "sampling_api:runs": {"GET": API_MANAGER_GET, "POST": "401 403 404 403 400 404 400"},  # api/v1/projects/<int:project_id>/generation-runs/
    "sampling_api:plans": {"GET": API_MANAGER_GET, "POST": "401 403 404 403 400 404 400"},  # api/v1/projects/<int:project_id>/sampling-plans/
    "sampling_api:plans-preview": {"POST": "401 403 404 403 400 404 400"},  # api/v1/projects/<int:project_id>/sampling-plans/preview/
    "sampling_api:plan": {"GET": API_MANAGER_GET, "PATCH": API_MANAGER_GET, "DELETE": "401 403 404 403 204 404 204"},  # api/v1/sampling-plans/<int:plan_id>/
    "sampling_api:plan-executions": {"GET": API_MANAGER_GET},  # api/v1/sampling-plans/<int:plan_id>/executions/
    "sampling_api:plan-preview": {"POST": API_MANAGER_GET},  # api/v1/sampling-plans/<int:plan_id>/preview/
    "sampling_api:plan-run": {"POST": "401 403 404 403 202 404 202"},  # api/v1/sampling-plans/<int:plan_id>/run/
    "sampling:endpoints": {"GET": "302 403 403 403 200 200 200", "POST": "302 403 403 403 422 422 422"},  # model-endpoints/
    "sampling:endpoint_edit": {"GET": "302 404 404 404 200 404 200", "POST": "302 404 404 404 422 404 422"},  # model-endpoints/<int:endpoint_id>/
    "sampling:endpoint_archive": {"POST": "302 404 404 404 302 404 302"},  # model-endpoints/<int:endpoint_id>/archive/
    "sampling:endpoint_test": {"POST": "302 404 404 404 200 404 200"},  # model-endpoints/<int:endpoint_id>/test/
    "sampling:runs": {"GET": PAGE_MANAGER_GET, "POST": "302 403 404 403 422 404 422"},  # projects/<int:project_id>/generation-runs/
    "sampling:run_detail": {"GET": PAGE_MANAGER_GET},  # projects/<int:project_id>/generation-runs/<int:run_id>/
    "sampling:run_cancel": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/generation-runs/<int:run_id>/cancel/
    "sampling:run_resume": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/generation-runs/<int:run_id>/resume/
    "sampling:plans": {"GET": PAGE_MANAGER_GET, "POST": "302 403 404 403 422 404 422"},  # projects/<int:project_id>/sampling-plans/
    "sampling:plan_detail": {"GET": PAGE_MANAGER_GET, "POST": "302 403 404 403 422 404 422"},  # projects/<int:project_id>/sampling-plans/<int:plan_id>/
    "sampling:plan_run": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/sampling-plans/<int:plan_id>/run/
    "sampling:plan_toggle": {"POST": "302 403 404 403 302 404 302"},  # projects/<int:project_id>/sampling-plans/<int:plan_id>/toggle/
    "sampling:plan_preview": {"POST": PAGE_MANAGER_GET},  # projects/<int:project_id>/sampling-plans/preview/
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


@pytest.fixture
def _quick_health(monkeypatch):  # type: ignore[no-untyped-def]
    # /healthz waits a second for Celery workers to answer a ping; none run here, and
    # the table accepts 200 or 503, so a short wait shows the same thing seven times faster.
    monkeypatch.setattr(health, "check_workers", functools.partial(health.check_workers, timeout=0.05))


def test_every_listed_route_answers_as_the_table_says(clients, url_values, _quick_health):
    routes = {route.key: route for route in all_routes()}
    problems = []
    checked = 0
    for key, methods in EXPECTED.items():
        route = routes.get(key)
        if route is None:
            continue  # not in the URLconf (yet): nothing to check
        path = route.url(url_values)
        served = _methods_to_probe(route)
        for method in METHODS:
            expected = _parse(methods[method]) if method in methods else None
            if expected is None and method not in served:
                continue  # a class-based view without a handler for it: Django answers 405 by construction
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
