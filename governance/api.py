"""Shared API plumbing."""

from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """DRF's handler, with the request id added so a user can quote it."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict):
        request = context.get("request")
        request_id = getattr(request, "request_id", None)
        if request_id:
            response.data.setdefault("requestId", request_id)
    return response
