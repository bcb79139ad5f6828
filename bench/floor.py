"""The floor of the ingestion benchmark: a bare Django view that only parses the body, validates the event
(jsonschema-rs, the app's own validator) and inserts the raw event row, in autocommit (one transaction per
event). No token, no quarantine, no queue, no metrics: what any ingestion on this stack must at least pay.

Rows go into `bench_floor_rawevent`, a copy of `lineage_rawevent` with its indexes (made by `bench_ingest`).
"""

import hashlib
from datetime import UTC, datetime

import orjson
from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from lineage.validation import parse_event_time, validate_event

TABLE = "bench_floor_rawevent"
COLUMNS = (
    "event_hash, body, kind, event_type, event_time, run_id, job_namespace, job_name, producer, received_at, "
    "source, warnings"
)
ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def _row(event: dict, text: str, kind: str, now: datetime) -> list:
    run, job = event.get("run") or {}, event.get("job") or {}
    return [
        hashlib.sha256(text.encode()).hexdigest(),
        text,
        kind,
        str(event.get("eventType") or "")[:16],
        parse_event_time(event["eventTime"]),
        str(run.get("runId", ""))[:255],
        str(job.get("namespace") or "")[:1024],
        str(job.get("name") or "")[:1024],
        str(event.get("producer", ""))[:1024],
        now,
        "floor",
        "[]",
    ]


@csrf_exempt
def ingest(request):
    data = request.body
    event = orjson.loads(data)
    result = validate_event(event)
    if not result.ok:
        return JsonResponse({"errors": [e.as_dict() for e in result.errors]}, status=400)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} ({COLUMNS}) VALUES {ROW} ON CONFLICT (event_hash) DO NOTHING",
            _row(event, data.decode(), result.kind, datetime.now(UTC)),
        )
    return HttpResponse(b'{"status":"accepted"}', status=201, content_type="application/json")


@csrf_exempt
def ingest_batch(request):
    events = orjson.loads(request.body)
    now, rows, failed = datetime.now(UTC), [], 0
    for event in events:
        result = validate_event(event)
        if not result.ok:
            failed += 1
            continue
        rows.append(_row(event, orjson.dumps(event).decode(), result.kind, now))
    if rows:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} ({COLUMNS}) VALUES {', '.join([ROW] * len(rows))} "
                "ON CONFLICT (event_hash) DO NOTHING",
                [value for row in rows for value in row],
            )
    summary = {"received": len(events), "successful": len(rows), "failed": failed}
    return JsonResponse({"status": "success" if not failed else "partial_success", "summary": summary})
