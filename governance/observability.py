"""Request ids in every log line, and the Prometheus metrics the app exports."""

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from prometheus_client import Counter, Histogram

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdMiddleware:
    """Takes the caller's X-Request-ID when it is sane, otherwise makes one; echoes it in the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _ACCEPTABLE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or None
        return True


# With PROMETHEUS_MULTIPROC_DIR set (several gunicorn workers), prometheus_client keeps these in shared files
# and /metrics aggregates them; see governance.views.metrics.
EVENTS_ACCEPTED = Counter("tributary_events_accepted_total", "OpenLineage events accepted", ["endpoint", "outcome"])
EVENTS_REJECTED = Counter("tributary_events_rejected_total", "OpenLineage events refused", ["reason"])
INGEST_LATENCY = Histogram(
    "tributary_ingest_latency_seconds",
    "Time to accept one ingestion request",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENTS_DERIVED = Counter("tributary_events_derived_total", "Raw events turned into the lineage graph")
LINEAGE_QUERY_LATENCY = Histogram(
    "tributary_lineage_query_seconds",
    "Time to answer a lineage read",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# Gauges read from the database at scrape time, registered by the apps that own the numbers (AppConfig.ready):
# name -> (help text, a function returning the value).
SCRAPE_GAUGES: dict[str, tuple[str, Callable[[], float]]] = {}


def scrape_gauge(name: str, documentation: str, value: Callable[[], float]) -> None:
    """Export `value()` as the gauge `name` on every scrape of /metrics."""
    SCRAPE_GAUGES[name] = (documentation, value)
