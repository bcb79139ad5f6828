import os

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest, multiprocess
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from . import audit


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
    """Prometheus text format. Queue depth is read from the database at scrape time."""
    from lineage.models import DeriveQueue, QuarantinedEvent

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in list(DEFAULT_REGISTRY._collector_to_names):
            registry.register(collector)
    depth = Gauge("tributary_derive_queue_depth", "Raw events waiting to be derived", registry=registry)
    depth.set(DeriveQueue.objects.count())
    quarantined = Gauge("tributary_quarantine_pending", "Refused events waiting in the quarantine", registry=registry)
    quarantined.set(QuarantinedEvent.objects.filter(status=QuarantinedEvent.Status.PENDING).count())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def permission_denied(request, exception):
    """Django's 403 page (handler403), after recording the refusal."""
    audit.record_denied(request=request, reason=str(exception or ""))
    return defaults.permission_denied(request, exception)
