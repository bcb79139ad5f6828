"""Write-side use cases of lineage ingestion, shared by the HTTP API, Celery tasks and management commands."""

import json
import logging
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance import audit
from governance.models import ApiToken, AuditRecord
from governance.observability import EVENTS_ACCEPTED, EVENTS_REJECTED
from lineage.models import DeriveQueue, QuarantinedEvent, RawEvent, Run
from lineage.openlineage import event_hash
from lineage.validation import (
    Problem,
    foreign_metadata,
    parse_event_time,
    scope_warnings,
    storable_text,
    validate_event,
)

log = logging.getLogger(__name__)

ACCEPTED, DUPLICATE, REFUSED, FORBIDDEN = "accepted", "duplicate", "refused", "forbidden"


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


def event_text(event: Any) -> str:
    """An event's JSON serialisation; with lone surrogates (which orjson refuses to write) as JSON escapes, so
    that a caller's event holding one can still be refused and quarantined."""
    try:
        return orjson.dumps(event).decode()
    except TypeError:
        return json.dumps(event)


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
    limited_to: list[str] | None = None,
) -> IngestResult:
    """Validate one decoded event and store it verbatim, once.

    `body` is the event's text as received (default: its JSON serialisation). A refused event goes to the
    quarantine (unless `quarantine=False`, for replays); an accepted one is queued for derivation, which
    starts when the transaction commits unless `derive=False` (the caller derives later, in bulk).
    `limited_to`: namespaces the event is limited to besides the token's (a replay: those recorded when it
    was refused), None for no limit of its own.
    """
    text = body if body is not None else event_text(event)
    checked = _check(event, text, token=token, source=source, quarantine=quarantine, limited_to=limited_to)
    if isinstance(checked, IngestResult):
        return checked
    values, warnings = checked
    if connection.vendor == "postgresql":
        raw_id = _store(values)  # one statement: a transaction of its own, or part of the caller's
    else:
        with transaction.atomic():
            raw_id = _store(values)
    if raw_id is not None and derive:
        from lineage.tasks import request_derivation

        transaction.on_commit(request_derivation)  # at once, unless the caller's transaction is still open
    outcome = ACCEPTED if raw_id is not None else DUPLICATE
    EVENTS_ACCEPTED.labels(endpoint=source, outcome=outcome).inc()
    if raw_id is None:
        raw_id = RawEvent.objects.filter(event_hash=values["event_hash"]).values_list("pk", flat=True).first()
    return IngestResult(outcome, raw_event_id=raw_id, warnings=warnings)


def scope_of(token: ApiToken | None, limited_to: list[str] | None = None) -> list[str] | None:
    """The namespaces an event may change: those both the token and `limited_to` allow; None for all."""
    limits = [set(namespaces) for namespaces in (token.namespaces if token else None, limited_to) if namespaces]
    return sorted(set.intersection(*limits)) if limits else None


def _check(
    event: Any,
    text: str,
    *,
    token: ApiToken | None,
    source: str,
    quarantine: bool,
    limited_to: list[str] | None,
    claims: dict[str, list[str]] | None = None,
) -> IngestResult | tuple[dict[str, Any], list[dict]]:
    """Validate an event: the raw event row to store and its warnings, or the refusal (quarantined).

    `claims`: the stored runs' claims ({run id: `Run.job_namespaces`}) when the caller read them for a whole
    batch (`run_ids_of`); a run id not in it has no stored run. None: read here, for this event alone."""
    scope = scope_of(token, limited_to)
    result = validate_event(event, text)
    if not result.ok:
        errors = [p.as_dict() for p in result.errors]
        quarantine_id = _quarantine(text, errors, token=token, source=source, scope=scope) if quarantine else None
        EVENTS_REJECTED.labels(reason="schema").inc()
        return IngestResult(REFUSED, quarantine_id=quarantine_id, errors=errors)

    warnings = [p.as_dict() for p in result.warnings]
    if scope is not None:
        namespace = event_namespace(event, result.kind)
        if namespace not in scope:
            EVENTS_REJECTED.labels(reason="namespace").inc()
            message = f"this token may not write to namespace {namespace!r}"
            return IngestResult(FORBIDDEN, errors=[Problem("", message).as_dict()])
        warnings += [p.as_dict() for p in scope_warnings(foreign_metadata(event, result.kind), scope)]

    values = _raw_values(event, text, result.kind, warnings, token=token.pk if token else None, source=source)
    values["namespaces_allowed"] = scope
    if scope is not None and result.kind == "run":
        # Told, not stored with the event (as on the one-statement way): derivation decides from all the claims.
        if claims is None:
            stored = Run.objects.filter(run_id=values["run_id"]).values_list("job_namespaces", flat=True).first()
        else:
            stored = claims.get(values["run_id"])
        warnings = warnings + [p.as_dict() for p in foreign_run(stored, scope)]
    return values, warnings


FOREIGN_RUN = (
    "the run belongs to a job of a namespace the token may not change: the event is stored, and applied to "
    "its job and datasets but not to the run"
)


def foreign_run(claims: list[str] | None, scope: list[str] | None) -> list[Problem]:
    """The warning for a limited event naming a stored run that a job outside its namespaces claims
    (`Run.job_namespaces`; `lineage.derive.fold` does not apply the event to it). A run claimed only later, by an
    event that arrives after, is not known at the door: the event is then left out of the run at derivation."""
    if not scope or not claims or set(claims) <= set(scope):
        return []
    return [Problem("/run/runId", FOREIGN_RUN)]


def run_ids_of(events: list[Any]) -> set[str]:
    """The run ids the events name, as `_raw_values` stores them."""
    ids = set()
    for event in events:
        run = event.get("run") if isinstance(event, dict) else None
        if isinstance(run, dict) and "runId" in run:
            ids.add(str(run["runId"])[:255])
    return ids


def _raw_values(event: dict, text: str, kind: str, warnings: list[dict], *, token: int | None, source: str) -> dict:
    """The raw event row of a valid event (of an event that may change every namespace's metadata: the
    caller narrows `namespaces_allowed`)."""
    run, job, dataset = event.get("run") or {}, event.get("job") or {}, event.get("dataset") or {}
    return {
        "event_hash": event_hash(event),
        "body": text,
        "kind": kind,
        "event_type": str(event.get("eventType") or "")[:16],
        "event_time": parse_event_time(event["eventTime"]),
        "run_id": str(run.get("runId", ""))[:255],
        "job_namespace": str(job.get("namespace") or dataset.get("namespace") or "")[:1024],
        "job_name": str(job.get("name") or dataset.get("name") or "")[:1024],
        "producer": str(event.get("producer", ""))[:1024],
        "received_at": timezone.now(),
        "token": token,
        "source": source,
        "warnings": warnings,
        "namespaces_allowed": None,
    }


@cache
def _insert_sql(count: int, vendor: str) -> tuple[str, list]:
    """INSERT of `count` raw events that skips duplicates and queues the new ones for derivation; on PostgreSQL
    one statement (a data-modifying CTE), so a lone event needs no BEGIN/COMMIT of its own. Returns the SQL and
    the fields in column order."""
    meta, quote = RawEvent._meta, connection.ops.quote_name
    fields = [meta.get_field(name) for name in _RAW_FIELDS]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    insert = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * count)} ON CONFLICT ({quote('event_hash')}) DO NOTHING "
        f"RETURNING {quote('id')}, {quote('event_hash')}"
    )
    if vendor != "postgresql":
        return insert, fields
    queue = quote(DeriveQueue._meta.db_table)
    return (
        f"WITH stored AS ({insert}), queued AS (INSERT INTO {queue} ({quote('raw_event_id')}) "
        f"SELECT {quote('id')} FROM stored) SELECT {quote('id')}, {quote('event_hash')} FROM stored"
    ), fields


_RAW_FIELDS = (
    "event_hash",
    "body",
    "kind",
    "event_type",
    "event_time",
    "run_id",
    "job_namespace",
    "job_name",
    "producer",
    "received_at",
    "token",
    "source",
    "warnings",
    "namespaces_allowed",
)


# Filled in by the one-statement insert from the token it finds: who sent the event and what it may change.
_TOKEN_FIELDS = ("token", "warnings", "namespaces_allowed")


@cache
def _insert_as_token_sql() -> str:
    """PostgreSQL: the insert of `_insert_sql(1)`, made only if an ingest token that needs no bookkeeping
    allows it (see `ingest_event_as`). The row gets the token's namespaces, and to the event's own warnings are
    added those of the candidates (a JSON array of {namespace, warning}: `foreign_metadata`) whose namespace the
    token is not allowed. Answers (token id, new row id, the token's namespaces or null for all, the claims of
    the stored run the event names: `foreign_run`): no row when the token does not qualify, a null id for a
    duplicate."""
    meta, quote = RawEvent._meta, connection.ops.quote_name
    fields = [meta.get_field(name) for name in _RAW_FIELDS if name not in _TOKEN_FIELDS]
    tokens = quote(ApiToken._meta.db_table)
    users = get_user_model()._meta
    # Parameters are typed by casts: in INSERT ... SELECT, PostgreSQL would take them for text.
    values = ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in fields)
    columns = ", ".join(quote(field.column) for field in [*fields, *map(meta.get_field, _TOKEN_FIELDS)])
    refused = (
        "COALESCE((SELECT jsonb_agg(c.item -> 'warning' ORDER BY c.position) "
        "FROM jsonb_array_elements(CAST(%s AS jsonb)) WITH ORDINALITY AS c(item, position) "
        "WHERE NOT jsonb_exists(token.namespaces, c.item ->> 'namespace')), '[]'::jsonb)"
    )
    unlimited = "t.namespaces IS NULL OR t.namespaces IN ('[]', 'null')"
    claims = (
        f"(SELECT r.{quote('job_namespaces')} FROM {quote(Run._meta.db_table)} r "
        f"WHERE r.{quote('run_id')} = CAST(%s AS varchar))"
    )

    none = "'[]'::jsonb"

    def limited(sql: str, otherwise: str = "NULL") -> str:
        # What only a limited token's event needs (nearly every token has no limit): a CASE does not evaluate
        # the subqueries of a branch it does not take.
        return f"(CASE WHEN token.namespaces IS NULL THEN {otherwise} ELSE {sql} END)"

    return (
        f"WITH token AS (SELECT t.id, CASE WHEN {unlimited} THEN NULL ELSE t.namespaces END AS namespaces "
        f"FROM {tokens} t WHERE t.digest = %s AND t.scope = %s "
        f"AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > %s) AND t.last_used_at > %s "
        f"AND ({unlimited} OR jsonb_exists(t.namespaces, %s)) "
        # A token stops with its owner's account (governance.tokens.check_secret).
        f"AND (t.owner_id IS NULL OR EXISTS (SELECT 1 FROM {quote(users.db_table)} u "
        f"WHERE u.{quote(users.pk.column)} = t.owner_id AND u.{quote(users.get_field('is_active').column)}))), "
        f"stored AS (INSERT INTO {quote(meta.db_table)} ({columns}) "
        f"SELECT {values}, token.id, CAST(%s AS jsonb) || {limited(refused, none)}, token.namespaces "
        f"FROM token "
        f"ON CONFLICT ({quote('event_hash')}) DO NOTHING RETURNING {quote('id')}), "
        f"queued AS (INSERT INTO {quote(DeriveQueue._meta.db_table)} ({quote('raw_event_id')}) "
        f"SELECT {quote('id')} FROM stored) "
        f"SELECT token.id, stored.id, token.namespaces, {limited(claims)} FROM token LEFT JOIN stored ON TRUE"
    )


def ingest_event_as(*, event: Any, body: str, token_digest: str, source: str = "api") -> IngestResult | None:
    """`ingest_event` for the holder of a token, on PostgreSQL, with the token's checks in the insert itself:
    one round trip for the whole event instead of two.

    Only for the common case: a valid event, and an active ingest token allowed the event's namespace whose use
    was recorded within `governance.tokens.LAST_USED_RESOLUTION` (so nothing about the token needs writing).
    Otherwise it stores nothing and answers None, and the caller takes the usual way (`check_secret`,
    then `ingest_event`), which gives every refusal its answer and does the token's bookkeeping. The checks are
    those of `ApiToken.is_active`, `scope_of` (the event's namespace within the token's) and the ingest view's
    scope check, and the token's namespaces limit what the event may change as `_check` limits them;
    tests/test_ingest_api.py and tests/test_ingest_token_scope.py hold the two ways to the same answers and rows.
    """
    from governance.tokens import LAST_USED_RESOLUTION

    if connection.vendor != "postgresql" or not isinstance(event, dict):
        return None
    result = validate_event(event, body)
    if not result.ok:
        return None
    warnings = [p.as_dict() for p in result.warnings]
    foreign = foreign_metadata(event, result.kind)
    values = _raw_values(event, body, result.kind, warnings, token=None, source=source)
    now = values["received_at"]
    fields = [RawEvent._meta.get_field(name) for name in _RAW_FIELDS if name not in _TOKEN_FIELDS]
    params = [token_digest, ApiToken.Scope.INGEST, now, now - LAST_USED_RESOLUTION]
    params.append(event_namespace(event, result.kind))
    params += [field.get_db_prep_save(values[field.name], connection) for field in fields]
    params.append(orjson.dumps(warnings).decode())
    # The candidates, for a limited token to refuse: none for most events (every node in the job's namespace).
    params.append(
        orjson.dumps([{"namespace": ns, "warning": p.as_dict()} for ns, p in foreign]).decode() if foreign else "[]"
    )
    params.append(values["run_id"] if result.kind == "run" else None)
    with connection.cursor() as cursor:
        cursor.execute(_insert_as_token_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    raw_id, namespaces, claims = row[1], row[2], row[3]
    if isinstance(namespaces, str | bytes):
        namespaces = orjson.loads(namespaces)
    if isinstance(claims, str | bytes):
        claims = orjson.loads(claims)
    warnings += [p.as_dict() for p in scope_warnings(foreign, namespaces)]
    warnings += [p.as_dict() for p in foreign_run(claims, namespaces)]
    if raw_id is not None:
        from lineage.tasks import request_derivation

        transaction.on_commit(request_derivation)
    outcome = ACCEPTED if raw_id is not None else DUPLICATE
    EVENTS_ACCEPTED.labels(endpoint=source, outcome=outcome).inc()
    if raw_id is None:
        raw_id = RawEvent.objects.filter(event_hash=values["event_hash"]).values_list("pk", flat=True).first()
    return IngestResult(outcome, raw_event_id=raw_id, warnings=warnings)


def _store_many(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Store raw events (skipping those already stored) and queue them; returns {event hash: id} of the new
    ones. On PostgreSQL one statement (per 500 events); elsewhere the caller's transaction holds them together."""
    stored = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            sql, fields = _insert_sql(len(chunk), connection.vendor)
            cursor.execute(
                sql, [field.get_db_prep_save(row[field.name], connection) for row in chunk for field in fields]
            )
            stored.update({digest: pk for pk, digest in cursor.fetchall()})
    if stored and connection.vendor != "postgresql":
        DeriveQueue.objects.bulk_create([DeriveQueue(raw_event_id=pk) for pk in stored.values()])
    return stored


def _store(values: dict[str, Any]) -> int | None:
    """Store one raw event and queue it: the new row's id, or None for a duplicate."""
    return _store_many([values]).get(values["event_hash"])


def _quarantine(text: str, errors: list[dict], *, token: ApiToken | None, source: str, scope: list[str] | None) -> int:
    # What PostgreSQL cannot store (a raw NUL in a body that is not JSON) is replaced, or keeping it would fail.
    text, errors = storable_text(text), [{key: storable_text(v) for key, v in e.items()} for e in errors]
    reason = "; ".join(f"{e['path'] or '/'}: {e['message']}" for e in errors)[:255]
    item = QuarantinedEvent.objects.create(
        body=text, errors=errors, reason=reason, token=token, source=source, namespaces_allowed=scope
    )
    log.info("event quarantined", extra={"quarantine_id": item.pk, "reason": reason})
    return item.pk


def quarantine_unreadable(*, text: str, message: str, token: ApiToken | None, source: str) -> int:
    """Keep a body that is not JSON, so a broken producer's output can be inspected."""
    EVENTS_REJECTED.labels(reason="not_json").inc()
    return _quarantine(text, [Problem("", message).as_dict()], token=token, source=source, scope=scope_of(token))


def ingest_batch(*, events: list[Any], token: ApiToken | None, source: str = "batch") -> list[IngestResult]:
    """Validate each event (a refused one is quarantined alone), then store the valid ones in one transaction
    and start derivation once. Should the database refuse that transaction, each event is stored in its own,
    so one bad event does not sink the others."""
    results: list[IngestResult | None] = [None] * len(events)
    rows: list[tuple[int, dict[str, Any], list[dict]]] = []
    claims = None
    if scope_of(token) is not None:
        # A limited token is told of the stored runs its events name: their claims read once for the batch.
        ids, claims = sorted(run_ids_of(events)), {}
        for start in range(0, len(ids), 500):
            stored = Run.objects.filter(run_id__in=ids[start : start + 500]).values_list("run_id", "job_namespaces")
            claims.update(stored)
    for index, event in enumerate(events):
        checked = _check(
            event, event_text(event), token=token, source=source, quarantine=True, limited_to=None, claims=claims
        )
        if isinstance(checked, IngestResult):
            results[index] = checked
        else:
            rows.append((index, *checked))
    if rows:
        try:
            with transaction.atomic():
                stored = _store_many([values for _, values, _ in rows])
        except DatabaseError:
            log.warning("a batch was refused by the database; storing its events one by one")
            for index, _, _ in rows:
                results[index] = ingest_event(event=events[index], token=token, source=source, derive=False)
        else:
            duplicates = {values["event_hash"] for _, values, _ in rows} - set(stored)
            existing = dict(
                RawEvent.objects.filter(event_hash__in=duplicates).values_list("event_hash", "pk") if duplicates else ()
            )
            counts = {ACCEPTED: 0, DUPLICATE: 0}
            for index, values, warnings in rows:
                digest = values["event_hash"]
                if digest in stored:  # the first of the batch with this hash is the one that was stored
                    results[index] = IngestResult(ACCEPTED, raw_event_id=stored.pop(digest), warnings=warnings)
                    existing[digest] = results[index].raw_event_id
                else:
                    results[index] = IngestResult(DUPLICATE, raw_event_id=existing.get(digest), warnings=warnings)
                counts[results[index].outcome] += 1
            for outcome, count in counts.items():
                if count:
                    EVENTS_ACCEPTED.labels(endpoint=source, outcome=outcome).inc(count)
    if any(r.outcome == ACCEPTED for r in results):
        from lineage.tasks import request_derivation

        request_derivation()
    return results


def replay_quarantined(*, item: QuarantinedEvent, actor: Any = None) -> IngestResult:
    """Run a quarantined payload through ingestion again (after a fix of the producer or of Tributary).

    One transaction: the stored event, the quarantine's new status and the audit record of who replayed it
    stand or fall together. The row lock makes two replays of the same event run one after the other.
    The event is limited to the namespaces its token had when it was refused (and to the token's now, if it
    is still there): a deleted or widened token does not make it an unlimited one.
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
            result = ingest_event(
                event=event,
                body=item.body,
                token=item.token,
                source="replay",
                quarantine=False,
                limited_to=item.namespaces_allowed,
            )
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
