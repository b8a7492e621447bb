"""Shared fixtures: personas, a real Celery worker, and a real Chromium.

Personas (healthchecks style): `owner` (researcher of org X, manages `project`),
`annotator` and `reviewer` (members of `project`), `org_admin` (admin of org X),
`outsider` (researcher of another organization, with a project of their own).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from apps.accounts.models import OrgRole, ProjectRole
from tests.factories import (
    PASSWORD,
    OrganizationFactory,
    OrgMembershipFactory,
    ProjectFactory,
    ProjectMembershipFactory,
    UserFactory,
)

BASE_DIR = Path(__file__).resolve().parent.parent
SHARED_DATA = BASE_DIR.parent / "shared" / "data"

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from
# fixtures and the live server are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _test_settings(settings):  # type: ignore[no-untyped-def]
    settings.AXES_ENABLED = True
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _clear_cache():  # type: ignore[no-untyped-def]
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def org(db):  # type: ignore[no-untyped-def]
    return OrganizationFactory(name="Org X")


@pytest.fixture
def owner(org):  # type: ignore[no-untyped-def]
    user = UserFactory(username="owner")
    OrgMembershipFactory(organization=org, user=user, role=OrgRole.RESEARCHER)
    return user


@pytest.fixture
def org_admin(org):  # type: ignore[no-untyped-def]
    user = UserFactory(username="orgadmin")
    OrgMembershipFactory(organization=org, user=user, role=OrgRole.ADMIN)
    return user


@pytest.fixture
def project(org, owner):  # type: ignore[no-untyped-def]
    return ProjectFactory(organization=org, name="Project A", created_by=owner)


@pytest.fixture
def annotator(project):  # type: ignore[no-untyped-def]
    user = UserFactory(username="annotator")
    ProjectMembershipFactory(project=project, user=user, role=ProjectRole.ANNOTATOR)
    return user


@pytest.fixture
def reviewer(project):  # type: ignore[no-untyped-def]
    user = UserFactory(username="reviewer")
    ProjectMembershipFactory(project=project, user=user, role=ProjectRole.REVIEWER)
    return user


@pytest.fixture
def other_org(db):  # type: ignore[no-untyped-def]
    return OrganizationFactory(name="Org Y")


@pytest.fixture
def outsider(other_org):  # type: ignore[no-untyped-def]
    user = UserFactory(username="outsider")
    OrgMembershipFactory(organization=other_org, user=user, role=OrgRole.RESEARCHER)
    return user


@pytest.fixture
def other_project(other_org, outsider):  # type: ignore[no-untyped-def]
    return ProjectFactory(organization=other_org, name="Project of Y", created_by=outsider)


@pytest.fixture
def password() -> str:
    return PASSWORD


def client_for(user):  # type: ignore[no-untyped-def]
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def api_client_for(user):  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "alpacaeval-outputs.jsonl.gz").exists():
        pytest.skip("shared data folder not present")
    return SHARED_DATA


# --- real Celery worker -------------------------------------------------------


def worker_database_url() -> str:
    """DATABASE_URL rewritten to the test database pytest-django created."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


class WorkerProcess:
    def __init__(self, extra_env: dict[str, str] | None = None, concurrency: int = 2):
        self.extra_env = extra_env or {}
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None  # type: ignore[type-arg]

    def start(self) -> WorkerProcess:
        from config.celery import app

        env = dict(os.environ)
        env.update({"DATABASE_URL": worker_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings"})
        env.update(self.extra_env)
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING",
                "--concurrency", str(self.concurrency), "--pool", "prefork", "--without-gossip",
                "--without-mingle", "--hostname", f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
            ],
            env=env,
            cwd=BASE_DIR,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if app.control.ping(timeout=0.5):
                return self
            if self.process.poll() is not None:
                raise RuntimeError("celery worker exited during start-up")
        raise RuntimeError("celery worker did not answer ping within 60 s")

    def kill(self) -> None:
        import signal

        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        import signal

        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery_worker(transactional_db):  # type: ignore[no-untyped-def]
    """A real `celery worker` process reading the test database. Use with transactional_db."""
    from config.celery import app

    app.control.purge()
    worker = WorkerProcess().start()
    yield worker
    worker.stop()


@pytest.fixture
def worker_factory(transactional_db):  # type: ignore[no-untyped-def]
    """Start (and kill) workers yourself, e.g. to test a worker dying mid-job."""
    from config.celery import app

    app.control.purge()
    started: list[WorkerProcess] = []

    def start(**kwargs) -> WorkerProcess:  # type: ignore[no-untyped-def]
        worker = WorkerProcess(**kwargs).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, message: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


# --- real browser ---------------------------------------------------------------


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        args = [
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        path = chromium_path()
        instance = playwright.chromium.launch(executable_path=path, args=args, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15000)
    page = context.new_page()
    page.dialogs = []  # any alert()/confirm() an XSS payload might open
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.console_errors = []
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    yield page
    # Leave the page first so its unload handlers (draft autosave beacons, heartbeats) reach the
    # live server now, not while the test database is being flushed: a request still writing
    # during the flush's TRUNCATE deadlocks it.
    try:
        page.goto("about:blank")
    except Exception:
        pass
    time.sleep(0.5)
    context.close()
    time.sleep(0.2)


def login(page, user, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.fixture
def settings_module() -> str:
    return settings.SETTINGS_MODULE
