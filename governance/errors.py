"""The body of every API error: Marquez's `code` (the HTTP status) and `message`, the request id, and what the
caller adds (`errors` with JSON pointers where there are several problems). Plain data, so middleware and views
alike can use it."""

from typing import Any

from .observability import current_request_id


def error_body(status_code: int, message: str, request=None, **extra: Any) -> dict[str, Any]:
    """The body of an API error."""
    body = {"code": status_code, "message": message, **extra}
    request_id = getattr(request, "request_id", None) or current_request_id()
    if request_id:
        body.setdefault("requestId", request_id)
    return body
