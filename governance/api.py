"""Shared API plumbing: one error shape for every API answer.

Every API error is JSON with Marquez's `code` (the HTTP status) and `message`, plus `errors` (each problem at its
JSON pointer or query parameter) where there are several, and the request id. Older keys (`detail`) stay beside
them for clients written against earlier answers.
"""

from typing import Any

from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.views import exception_handler as drf_exception_handler

from . import audit
from .errors import error_body


def _problems(detail: Any, path: str = "") -> list[dict[str, str]]:
    """DRF's validation detail (nested dicts and lists of messages) as a flat list of JSON pointers."""
    if isinstance(detail, dict):
        return [p for key, value in detail.items() for p in _problems(value, f"{path}/{key}")]
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"path": path, "message": str(item)} for item in detail]
        return [p for index, item in enumerate(detail) for p in _problems(item, f"{path}/{index}")]
    return [{"path": path, "message": str(detail)}]


def exception_handler(exc, context):
    """DRF's handler, in the API's error shape, and every refusal (403) audited."""
    response = drf_exception_handler(exc, context)
    request = context.get("request")
    if response is None:
        return None
    if response.status_code == status.HTTP_403_FORBIDDEN and request is not None:
        audit.record_denied(request=request, reason=str(getattr(exc, "detail", "") or exc))
    data = response.data
    if isinstance(data, dict) and set(data) == {"detail"}:
        response.data = error_body(response.status_code, str(data["detail"]), request, detail=data["detail"])
    elif isinstance(data, dict | list) and not (isinstance(data, dict) and "code" in data):
        # A validation error: {field: [messages]} or [messages].
        problems = _problems(data)
        message = "; ".join(f"{p['path'].lstrip('/')}: {p['message']}" if p["path"] else p["message"] for p in problems)
        response.data = error_body(response.status_code, message, request, errors=problems, detail=data)
    return response


class FormatIsOurs(DefaultContentNegotiation):
    """For views where `format` chooses an export or report format (csv, jsonl, pdf), not DRF's renderer: always
    answer (and refuse) in JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
