"""One error shape for every API answer.

Every API error is JSON with Marquez's `code` (the HTTP status) and `message`, plus `errors` (each problem at its
JSON pointer or query parameter) where there are several, and the request id. Older keys (`detail`) stay beside
them for clients written against earlier answers. Plain data, so middleware and views alike can use it
(`governance.api.handler` puts DRF's own errors in the same shape).
"""

from typing import Any

from governance.observability import current_request_id


def error_body(status_code: int, message: str, request=None, **extra: Any) -> dict[str, Any]:
    """The body of an API error."""
    body = {"code": status_code, "message": message, **extra}
    request_id = getattr(request, "request_id", None) or current_request_id()
    if request_id:
        body.setdefault("requestId", request_id)
    return body
