"""Settings come from the environment and fail loudly; production settings pass check --deploy."""

import os
import subprocess
import sys

from tests.conftest import BASE_DIR

PROD_KEY = "x7-" + "k" * 30 + "Qz91-abcdefghijklmnopqrstuvwxyz"


def run_manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_refuses_to_start_without_secret_key():
    result = run_manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_rejects_a_bad_boolean():
    result = run_manage("check", DEBUG="maybe", SECRET_KEY=PROD_KEY)
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_rejects_a_bad_integer():
    result = run_manage("check", DEBUG="0", SECRET_KEY=PROD_KEY, MAX_UPLOAD_BYTES="lots")
    assert result.returncode != 0
    assert "MAX_UPLOAD_BYTES='lots' is not an integer" in result.stderr


def test_rejects_an_unknown_time_zone():
    result = run_manage("check", DEBUG="0", SECRET_KEY=PROD_KEY, TIME_ZONE="Mars/Olympus")
    assert result.returncode != 0
    assert "TIME_ZONE='Mars/Olympus'" in result.stderr


def test_rejects_a_non_postgres_database():
    result = run_manage("check", DEBUG="0", SECRET_KEY=PROD_KEY, DATABASE_URL="sqlite:///x.db")
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="0", SECRET_KEY=PROD_KEY, ALLOWED_HOSTS="verity.example.org",
        CSRF_TRUSTED_ORIGINS="https://verity.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
