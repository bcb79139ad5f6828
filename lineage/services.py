"""Write-side use cases of lineage ingestion, shared by the HTTP API, Celery tasks and management commands."""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from governance import audit
from governance.models import ApiToken, AuditRecord
from governance.observability import EVENTS_ACCEPTED, EVENTS_REJECTED

from .models import Annotation, DeriveQueue, QuarantinedEvent, RawEvent
from .openlineage import event_hash
from .validation import Problem, parse_event_time, validate_event

log = logging.getLogger(__name__)

ACCEPTED, DUPLICATE, REFUSED, FORBIDDEN = "accepted", "duplicate", "refused", "forbidden"
FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass
class IngestResult:
    outcome: str  # accepted, duplicate, refused or forbidden
    raw_event_id: int | None = None
    quarantine_id: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    @property
    def stored(self) -> bool:
        return self.outcome in (ACCEPTED, DUPLICATE)

    @property
    def reason(self) -> str:
        return "; ".join(f"{e['path'] or '/'}: {e['message']}" for e in self.errors)


class PayloadError(ValueError):
    """A body that is not an OpenLineage payload at all (not JSON)."""


def decode_json(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise PayloadError(f"body is not valid JSON: {error}") from None


def event_namespace(event: dict, kind: str) -> str:
    """The namespace a token's scope is checked against: the job's, or the dataset's for a DatasetEvent."""
    owner = event["dataset"] if kind == "dataset" else event["job"]
    return str(owner["namespace"])


def ingest_event(
    *,
    event: Any,
    body: str | None = None,
    token: ApiToken | None = None,
    source: str = "api",
    derive: bool = True,
    quarantine: bool = True,
) -> IngestResult:
    """Validate one decoded event and store it verbatim, once.

    `body` is the event's text as received (default: its JSON serialisation). A refused event goes to the
    quarantine (unless `quarantine=False`, for replays); an accepted one is queued for derivation, which
    starts when the transaction commits unless `derive=False` (the caller derives later, in bulk).
    """
    text = body if body is not None else orjson.dumps(event).decode()
    result = validate_event(event)
    if not result.ok:
        errors = [p.as_dict() for p in result.errors]
        quarantine_id = _quarantine(text, errors, token=token, source=source) if quarantine else None
        EVENTS_REJECTED.labels(reason="schema").inc()
        return IngestResult(REFUSED, quarantine_id=quarantine_id, errors=errors)

    warnings = [p.as_dict() for p in result.warnings]
    if token is not None:
        namespace = event_namespace(event, result.kind)
        if not token.allows_namespace(namespace):
            EVENTS_REJECTED.labels(reason="namespace").inc()
            message = f"this token may not write to namespace {namespace!r}"
            return IngestResult(FORBIDDEN, errors=[Problem("", message).as_dict()])

    run, job, dataset = event.get("run") or {}, event.get("job") or {}, event.get("dataset") or {}
    values = {
        "event_hash": event_hash(event),
        "body": text,
        "kind": result.kind,
        "event_type": str(event.get("eventType") or "")[:16],
        "event_time": parse_event_time(event["eventTime"]),
        "run_id": str(run.get("runId", ""))[:255],
        "job_namespace": str(job.get("namespace") or dataset.get("namespace") or "")[:1024],
        "job_name": str(job.get("name") or dataset.get("name") or "")[:1024],
        "producer": str(event.get("producer", ""))[:1024],
        "received_at": timezone.now(),
        "token": token.pk if token else None,
        "source": source,
        "warnings": warnings,
    }
    with transaction.atomic():
        raw_id = _insert_raw(values)
        if raw_id is not None:
            DeriveQueue.objects.create(raw_event_id=raw_id)
            if derive:
                from .tasks import request_derivation

                transaction.on_commit(request_derivation)
    outcome = ACCEPTED if raw_id is not None else DUPLICATE
    EVENTS_ACCEPTED.labels(endpoint=source, outcome=outcome).inc()
    if raw_id is None:
        raw_id = RawEvent.objects.filter(event_hash=values["event_hash"]).values_list("pk", flat=True).first()
    return IngestResult(outcome, raw_event_id=raw_id, warnings=warnings)


def _insert_raw(values: dict[str, Any]) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None for a duplicate."""
    meta = RawEvent._meta
    quote = connection.ops.quote_name
    columns, params = [], []
    for name, value in values.items():
        model_field = meta.get_field(name)
        columns.append(quote(model_field.column))
        params.append(model_field.get_db_prep_save(value, connection))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({quote('event_hash')}) DO NOTHING RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def _quarantine(text: str, errors: list[dict], *, token: ApiToken | None, source: str) -> int:
    reason = "; ".join(f"{e['path'] or '/'}: {e['message']}" for e in errors)[:255]
    item = QuarantinedEvent.objects.create(body=text, errors=errors, reason=reason, token=token, source=source)
    log.info("event quarantined", extra={"quarantine_id": item.pk, "reason": reason})
    return item.pk


def quarantine_unreadable(*, text: str, message: str, token: ApiToken | None, source: str) -> int:
    """Keep a body that is not JSON, so a broken producer's output can be inspected."""
    EVENTS_REJECTED.labels(reason="not_json").inc()
    return _quarantine(text, [Problem("", message).as_dict()], token=token, source=source)


def ingest_batch(*, events: list[Any], token: ApiToken | None, source: str = "batch") -> list[IngestResult]:
    """Each event in its own transaction (one bad event does not sink the others); derivation starts once."""
    results = [ingest_event(event=event, token=token, source=source, derive=False) for event in events]
    if any(r.outcome == ACCEPTED for r in results):
        from .tasks import request_derivation

        request_derivation()
    return results


def replay_quarantined(*, item: QuarantinedEvent, actor: Any = None) -> IngestResult:
    """Run a quarantined payload through ingestion again (after a fix of the producer or of Tributary).

    One transaction: the stored event, the quarantine's new status and the audit record of who replayed it
    stand or fall together. The row lock makes two replays of the same event run one after the other.
    """
    with transaction.atomic():
        item = QuarantinedEvent.objects.select_for_update().get(pk=item.pk)
        if item.status != QuarantinedEvent.Status.PENDING:
            raise ValueError(f"quarantined event #{item.pk} is {item.status}, not pending")
        try:
            event = decode_json(item.body)
        except PayloadError as error:
            result = IngestResult(REFUSED, errors=[Problem("", str(error)).as_dict()])
        else:
            result = ingest_event(event=event, body=item.body, token=item.token, source="replay", quarantine=False)
        before = {"status": item.status}
        if result.stored:
            item.status = QuarantinedEvent.Status.REPLAYED
            item.replayed_at = timezone.now()
            item.raw_event_id = result.raw_event_id
        else:
            item.errors = result.errors
            item.reason = result.reason[:255]
        item.save()
        audit.record(
            "quarantine.replayed",
            actor=actor,
            target=item,
            outcome=AuditRecord.Outcome.SUCCESS if result.stored else AuditRecord.Outcome.FAILURE,
            changes=audit.diff(before, {"status": item.status}),
            detail={"result": result.outcome, "raw_event_id": result.raw_event_id, "reason": result.reason[:500]},
        )
    return result


def rebuild() -> int:
    """Throw the derived graph away and queue every raw event to be derived again; returns how many.

    Namespaces are kept (permission grants point at them); their times are recomputed from the events.
    """
    from . import models

    with transaction.atomic():
        for model in (
            models.ColumnLineage,
            models.JobEdge,
            models.RunDataset,
            models.DatasetVersion,
            models.DatasetField,
            models.Run,
            models.JobVersion,
        ):
            model.objects.all()._raw_delete(model.objects.db)
        models.Job.objects.update(parent=None, dag=None)
        models.Job.objects.all()._raw_delete(models.Job.objects.db)
        models.Dataset.objects.all()._raw_delete(models.Dataset.objects.db)
        # Times are joined as min/max, so start from an empty span: created in the future, updated never.
        models.Namespace.objects.update(created_at=FAR_FUTURE, updated_at=FAR_PAST)
        DeriveQueue.objects.all()._raw_delete(DeriveQueue.objects.db)
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(DeriveQueue._meta.db_table)} ({quote('raw_event_id')}) "
                f"SELECT {quote('id')} FROM {quote(RawEvent._meta.db_table)}"
            )
            return cursor.rowcount


def update_metadata(*, kind: str, namespace: str, name: str, changes: dict, user) -> tuple[Annotation, dict]:
    """Apply a steward's edit (already validated) to a node's annotation, with its audit record; returns the
    annotation and the diff recorded."""
    from governance import audit

    with transaction.atomic():
        annotation, _ = Annotation.objects.select_for_update().get_or_create(kind=kind, namespace=namespace, name=name)
        before = annotation.as_dict()
        for key, value in changes.items():
            setattr(annotation, key, value)
        annotation.updated_by = user if getattr(user, "pk", None) else None
        annotation.save()
        diff = audit.diff(before, annotation.as_dict())
        audit.record("metadata.updated", actor=user, target=(kind, f"{kind}:{namespace}:{name}", name), changes=diff)
    return annotation, diff
