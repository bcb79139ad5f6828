import functools
import hmac
import ipaddress
import os

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest, multiprocess
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from governance import audit
from governance.api.errors import error_body
from governance.observability import SCRAPE_GAUGES
from governance.tokens import bearer_secret


def healthz(request):
    """200 when the database answers, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return JsonResponse({"status": "unavailable", "database": type(error).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def metrics(request):
    """Prometheus text format, for the scrapers TRIBUTARY_METRICS_* let in. The apps' gauges (queue depth ...) are
    read from the database at scrape time (`governance.observability.scrape_gauge`)."""
    if not may_scrape(request):
        return HttpResponse("Metrics are not served to this client.\n", status=403, content_type="text/plain")

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in list(DEFAULT_REGISTRY._collector_to_names):
            registry.register(collector)
    for name, (documentation, value) in SCRAPE_GAUGES.items():
        Gauge(name, documentation, registry=registry).set(value())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def may_scrape(request) -> bool:
    """Public metrics, the right bearer token, or a client address in TRIBUTARY_METRICS_ALLOWED_IPS."""
    if settings.TRIBUTARY_METRICS_PUBLIC:
        return True
    expected = settings.TRIBUTARY_METRICS_TOKEN
    presented = bearer_secret(request.META.get("HTTP_AUTHORIZATION", ""))
    if expected and presented is not None and hmac.compare_digest(presented.encode(), expected.encode()):
        return True
    # The peer, or the client a trusted proxy names: a forwarded-for header from anyone else is not believed.
    source = audit.request_client_ip(request)
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(settings.TRIBUTARY_METRICS_ALLOWED_IPS)))


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    # Malformed entries are refused by the governance.E010 system check at startup.
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return tuple(networks)


def page_not_found(request, exception):
    """Django's 404 page (handler404); under /api/ the API's JSON error instead, for a path nothing serves."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(404, f"no API operation at {request.path[:200]!r}", request), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """Django's 500 page (handler500); under /api/ a JSON error naming the request id, never a traceback."""
    if request.path.startswith("/api/"):
        body = error_body(500, "internal error: quote the request id to an operator", request)
        return JsonResponse(body, status=500)
    return defaults.server_error(request)


def permission_denied(request, exception):
    """Django's 403 page (handler403), after recording the refusal."""
    audit.record_denied(request=request, reason=str(exception or ""))
    return defaults.permission_denied(request, exception)
