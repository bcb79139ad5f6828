"""DRF's exception handler, answering in the API's error shape (`governance.api.errors`)."""

from typing import Any

from rest_framework import status
from rest_framework.views import exception_handler as drf_exception_handler

from governance import audit
from governance.api.errors import error_body


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
