"""Request-level guards: upload size limits and the Content-Security-Policy."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class UploadLimitMiddleware:
    """Answer 413 from the Content-Length header, before any of the body is read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH")
        if length:
            try:
                size = int(length)
            except ValueError:
                size = -1
            if size < 0:
                return JsonResponse(
                    {"error": {"code": "bad_request", "message": "Content-Length is not a number.", "details": {}}},
                    status=400,
                )
            if size > settings.MAX_UPLOAD_BYTES:
                return JsonResponse(
                    {
                        "error": {
                            "code": "payload_too_large",
                            "message": (
                                f"The request body is {size} bytes; the limit is "
                                f"{settings.MAX_UPLOAD_BYTES} bytes (MAX_UPLOAD_BYTES)."
                            ),
                            "details": {"limit_bytes": settings.MAX_UPLOAD_BYTES, "size_bytes": size},
                        }
                    },
                    status=413,
                )
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """A strict CSP: scripts only from our origin or with this response's nonce."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = secrets.token_urlsafe(18)  # type: ignore[attr-defined]
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            nonce = request.csp_nonce  # type: ignore[attr-defined]
            response["Content-Security-Policy"] = "; ".join(
                [
                    "default-src 'self'",
                    f"script-src 'self' 'nonce-{nonce}'",
                    "style-src 'self' 'unsafe-inline'",
                    "img-src 'self' data:",
                    "font-src 'self'",
                    "connect-src 'self'",
                    "object-src 'none'",
                    "base-uri 'none'",
                    "form-action 'self'",
                    "frame-ancestors 'none'",
                ]
            )
        return response
