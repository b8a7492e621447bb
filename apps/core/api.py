"""DRF plumbing shared by every app: pagination and the error shape.

Every API error has the shape {"error": {"code", "message", "details"}}.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ApiError(exceptions.APIException):
    """Raise from a view with a stable machine-readable code."""

    def __init__(self, code: str, message: str, *, status_code: int = 400, details: Any = None):
        self.status_code = status_code
        self.error_code = code
        self.details = details or {}
        super().__init__(detail=message, code=code)


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(value) for value in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        body = {"code": exc.error_code, "message": str(exc.detail), "details": _flatten(exc.details)}
    elif isinstance(exc, exceptions.ValidationError):
        details = _flatten(exc.detail)
        body = {"code": "invalid", "message": _validation_message(details), "details": details}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(exc, "default_code", "error")
        if isinstance(detail, dict | list):
            body = {"code": code, "message": "Request failed.", "details": _flatten(detail)}
        else:
            body = {"code": getattr(detail, "code", code) or code, "message": str(detail), "details": {}}
    response.data = {"error": body}
    return response


def _validation_message(details: Any) -> str:
    if isinstance(details, dict) and details:
        field, problem = next(iter(details.items()))
        while isinstance(problem, list | dict) and problem:
            problem = problem[0] if isinstance(problem, list) else next(iter(problem.values()))
        if field == "non_field_errors":
            return str(problem)
        return f"{field}: {problem}"
    if isinstance(details, list) and details:
        return str(details[0])
    return "Invalid input."


NOT_FOUND = status.HTTP_404_NOT_FOUND
