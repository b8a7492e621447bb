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
    """A strict Content-Security-Policy and the other browser-side guards.

    script-src allows only elements carrying this response's nonce: no 'self', no
    'unsafe-inline', no 'unsafe-eval'. 'self' would let any same-origin response whose
    body a user controls (an export, a download) run as a script after an injection;
    with nonces an injected <script> cannot run whatever its source. Templates give every
    <script> (and <style> element) nonce="{{ csp_nonce }}"; JS lives in static/js.
    Inline style attributes stay allowed (style-src-attr): htmx and progress bars set
    them, and they cannot run code.

    A view may set its own Content-Security-Policy header; it is left alone.
    """

    PERMISSIONS_POLICY = ", ".join(
        f"{feature}=()"
        for feature in (
            "accelerometer", "camera", "display-capture", "geolocation", "gyroscope", "magnetometer",
            "microphone", "midi", "payment", "usb",
        )
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    @staticmethod
    def policy(nonce: str, *, secure: bool) -> str:
        directives = [
            "default-src 'self'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "media-src 'self'",
            "manifest-src 'self'",
            "worker-src 'none'",
            "frame-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
        if secure:
            directives.append("upgrade-insecure-requests")
        return "; ".join(directives)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = secrets.token_urlsafe(18)  # type: ignore[attr-defined]
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy(
                request.csp_nonce, secure=request.is_secure()  # type: ignore[attr-defined]
            )
        response.headers.setdefault("Permissions-Policy", self.PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        user = getattr(request, "user", None)
        if "Cache-Control" not in response and user is not None and user.is_authenticated:
            # Prompts, outputs and personal data must not stay in a shared computer's cache.
            response["Cache-Control"] = "private, no-store"
        return response
