"""Shared API plumbing."""

from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.views import exception_handler as drf_exception_handler

from . import audit


def exception_handler(exc, context):
    """DRF's handler, with the request id added so a user can quote it, and every refusal (403) audited."""
    response = drf_exception_handler(exc, context)
    request = context.get("request")
    if response is not None and response.status_code == status.HTTP_403_FORBIDDEN and request is not None:
        audit.record_denied(request=request, reason=str(getattr(exc, "detail", "") or exc))
    if response is not None and isinstance(response.data, dict):
        request_id = getattr(request, "request_id", None)
        if request_id:
            response.data.setdefault("requestId", request_id)
    return response


class FormatIsOurs(DefaultContentNegotiation):
    """For views where `format` chooses an export or report format (csv, jsonl, pdf), not DRF's renderer: always
    answer (and refuse) in JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
