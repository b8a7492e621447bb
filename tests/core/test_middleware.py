import pytest
from django.test import Client


@pytest.mark.django_db
def test_an_upload_over_the_limit_gets_413_before_the_body_is_read(settings):
    settings.MAX_UPLOAD_BYTES = 1024
    # The body is tiny but Content-Length claims more: the answer must come from the header alone.
    response = Client().generic("POST", "/api/v1/projects/", b"x", CONTENT_TYPE="application/json",
                                CONTENT_LENGTH="5000")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "1024" in error["message"]


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy():
    response = Client().get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'nonce-" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp


@pytest.mark.django_db
def test_unknown_api_paths_answer_the_error_shape():
    response = Client().get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
