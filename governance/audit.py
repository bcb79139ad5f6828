"""The audit trail: everything is recorded through `record`, in the caller's transaction.

    from governance import audit

    with transaction.atomic():
        before = audit.fields_of(connection, ["host", "login", "password"])
        ...change the connection...
        audit.record(
            "connection.updated",
            actor=user,
            target=connection,
            changes=audit.diff(before, audit.fields_of(connection, [...]), secret_fields={"password", "extra"}),
        )

Because the record is written in the same transaction as the change, a change without its record, or a record
of a change that rolled back, cannot exist. Appending locks the chain head until the transaction ends, so call
`record` as the last statement of the transaction: every audited transaction queues on that lock from the
moment it records until it commits.

Records are hash-chained (governance.auditchain) and append-only: on PostgreSQL triggers refuse UPDATE, DELETE
and TRUNCATE, except the DELETE of `audit_retention_cut` (the oldest records, after their anchor is appended); the
chain head only moves forward and cannot be removed; signed checkpoints are kept for good. There is no code path
that changes a record. Each record also names the namespaces its target belongs to (outside the hash), so that an
auditor narrowed to some namespaces reads only the records about them.
"""

import contextvars
import csv
import functools
import getpass
import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from governance import auditchain
from governance.auditchain import GENESIS_HASH, Verification, entry_hash, format_time, normalise_json
from governance.models import ApiToken, AuditChainHead, AuditCheckpoint, AuditRecord
from governance.observability import current_request_id

# Every action, in one table, so that every feature records the same names; `record` refuses any other.
# Add a row (and what detail carries) before recording something new. docs/audit.md shows the same table.
ACTIONS: dict[str, str] = {
    # Recorded now.
    "auth.login": "A user logged in (Django's user_logged_in signal).",
    "auth.login_failed": "A login was refused. detail.username: the name tried, never the password.",
    "auth.logout": "A user logged out.",
    "access.denied": "A request refused with 403, API (governance.api), page (handler403) or ingestion (a token "
    "outside its scope or namespaces). detail: method, path, reason; a batch also events, indexes.",
    "token.created": "An API token was created. changes: name, prefix, scope, namespaces, owner, expires_at.",
    "token.revoked": "An API token was revoked. changes.revoked_at.",
    "token.first_use": "An API token authenticated a request for the first time. actor: the token.",
    "quarantine.replayed": "A quarantined event was replayed; outcome failure when refused again. "
    "changes.status; detail: result, raw_event_id, reason.",
    "audit.exported": "The audit trail was exported. detail: format, filters, via (api or cli).",
    "audit.verified": "The chain was verified on an auditor's request. detail: ok, count, first, last, broken.",
    "audit.retention": "Records older than the cutoff were deleted; this record is the anchor that keeps the "
    "chain verifiable. detail: before, count, first_sequence, last_sequence, last_hash.",
    "audit.checkpoint": "The chain head was signed. detail: sequence, hash, signature, key_id.",
    # Provided for the session policy and MFA (call record_session_expired / record).
    "auth.session_expired": "A session ended by the session policy. detail.reason: idle, absolute, ...",
    "auth.mfa_failed": "A second factor was refused. detail.method: totp, webauthn, ...",
    # Reserved for the features being built next: users, roles and grants (RBAC), connections, metadata,
    # compliance. Use these names.
    "user.created": "A user account was created. changes: its fields (password as 'changed').",
    "user.updated": "A user account was changed (active, staff, email, password as 'changed'). changes.",
    "user.deleted": "A user account was deleted.",
    "role.granted": "A user was given a role (group). target: the user; detail.role.",
    "role.revoked": "A user lost a role (group). target: the user; detail.role.",
    "role.permissions_changed": "A role's permissions changed. target: the group; changes.permissions.",
    "grant.added": "A per-namespace grant was given. target: the namespace; detail: grantee, permission.",
    "grant.removed": "A per-namespace grant was taken away. target: the namespace; detail: grantee, permission.",
    "connection.created": "A connection was created. changes: its fields, secrets as 'changed'.",
    "connection.updated": "A connection was changed. changes: the changed fields, secrets as 'changed'.",
    "connection.deleted": "A connection was deleted.",
    "connection.revealed": "A connection's secrets were asked for; outcome denied when refused.",
    "metadata.updated": "Dataset or job metadata was edited (description, tags, owners, classification). changes.",
    "compliance.report_generated": "A compliance report was generated and signed (API, bench_compliance). "
    "detail: start, end, format, sha256, scope.",
    "compliance.report_downloaded": "A compliance report or its detached signature was downloaded. "
    "detail: file (report or signature), start, end, format, sha256.",
    "auth.mfa_enrolled": "A user confirmed a TOTP device (and got new recovery codes).",
    "auth.reauthenticated": "A user confirmed their password or a second factor before a sensitive action; "
    "outcome failure when it did not match.",
    "connection.tested": "A connection was tested (really connected). outcome; detail.message, secrets scrubbed.",
    "connection.keys_rotated": "Connection secrets were re-encrypted with the newest key. detail: connections, key.",
    "connection.exported": "Connections were exported. detail.with_secrets.",
    "compliance.checked": "The compliance rules were checked. detail: trigger, rules, failed.",
    "compliance.rule_updated": "A compliance rule was edited. changes.",
    "compliance.hold_placed": "A legal hold was placed on a dataset, job or namespace. detail.reason.",
    "compliance.hold_released": "A legal hold was released.",
    "compliance.retention": "Retention removed old raw events, runs and audit records. detail: counts, cutoffs.",
}

# Keys whose values never enter a record, whoever passes them: a belt to diff()'s braces.
SECRET_KEYS = frozenset(
    {"password", "secret", "api_key", "apikey", "private_key", "passphrase", "client_secret", "access_token"}
)
CHANGED = "changed"
REDACTED = "[redacted]"

_current_request: contextvars.ContextVar = contextvars.ContextVar("audit_request", default=None)


class AuditContextMiddleware:
    """Keeps the current request at hand, so services deep down record its source IP, user agent and id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


def current_request():
    return _current_request.get()


def cli_actor() -> str:
    """The actor of a management command: the operating-system user who ran it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


# Recording.


def record(
    action: str,
    *,
    actor: Any = None,
    target: models.Model | tuple[str, Any, str] | None = None,
    outcome: str = AuditRecord.Outcome.SUCCESS,
    changes: Mapping[str, Any] | None = None,
    request: Any = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditRecord | None:
    """Append one record to the chain, in the caller's transaction (or its own when there is none).

    actor: a User, an ApiToken (recorded as token:<prefix>), a label for processes (`cli_actor()`), or None:
    then the request's user or token, else "anonymous" inside a request and "system" outside one.
    target: a model instance, or (type, id, readable name). request: a Django or DRF request; default the
    current one (AuditContextMiddleware), for the source IP, user agent and request id.

    Returns None only when TRIBUTARY_AUDIT_ENABLED is off, which exists for bench_audit's comparison.
    """
    if not getattr(settings, "TRIBUTARY_AUDIT_ENABLED", True):
        return None
    content = _content(action, actor, target, outcome, changes, request, detail)
    # savepoint=False: if the record cannot be written, the caller's whole transaction fails with it.
    with transaction.atomic(savepoint=False):
        head = _lock_head()
        (item,) = _append(head, [content])
        return item


def bulk_append(records: Iterable[Mapping[str, Any]], *, batch_size: int = 5000) -> int:
    """Append many records at once (imports, tests, benchmarks): each item holds `record`'s keyword arguments
    plus `action`, and may give its `time` (importing a history, in order). One lock and one INSERT per batch;
    returns how many were appended."""
    count = 0
    with transaction.atomic():
        head = _lock_head()
        batch = []
        for item in records:
            item = dict(item)
            content = _content(
                item.pop("action"),
                item.pop("actor", None),
                item.pop("target", None),
                item.pop("outcome", AuditRecord.Outcome.SUCCESS),
                item.pop("changes", None),
                item.pop("request", None),
                item.pop("detail", None),
            )
            if item.get("time") is not None:
                content[_IMPORTED_TIME] = item["time"]
            batch.append(content)
            if len(batch) >= batch_size:
                count += len(_append(head, batch))
                batch = []
        if batch:
            count += len(_append(head, batch))
    return count


_IMPORTED_TIME = "_time"


def _content(action, actor, target, outcome, changes, request, detail) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to governance.audit.ACTIONS first")
    if outcome not in AuditRecord.Outcome.values:
        raise ValueError(f"unknown outcome {outcome!r}: use one of {', '.join(AuditRecord.Outcome.values)}")
    if request is None:
        request = current_request()
    actor_id, label = _actor(actor, request)
    source_ip, user_agent, request_id = _origin(request)
    object_type, object_id, object_name = _target(target)
    return {
        "actor_id": actor_id,
        "actor": label[:150],
        "action": action,
        "object_type": object_type[:100],
        "object_id": object_id[:255],
        "object_name": object_name[:255],
        "outcome": str(outcome),
        "source_ip": source_ip,
        "user_agent": user_agent[:512],
        "request_id": request_id[:64],
        "changes": normalise_json(_scrub(changes, CHANGED)) if changes else None,
        "detail": normalise_json(_scrub(detail, REDACTED)) if detail else None,
        _NAMESPACES: namespaces_of(target, changes),
    }


_NAMESPACES = "_namespaces"


def namespaces_of(target: Any, changes: Mapping[str, Any] | None = None) -> list[str] | None:
    """The namespaces a record's target belongs to, or None for a target of no namespace (or of all of them).

    Connections and tokens have `namespaces` (a token with none acts everywhere: no namespace of its own),
    legal holds a `namespace`, a grant targets the namespace itself, metadata its `dataset:<ns>:<name>`. A change
    of `namespaces` counts both sides: the record is about the namespaces it left too.
    """
    names: set[str] = set()
    if isinstance(target, models.Model):
        if target._meta.label_lower == "governance.namespace":
            names.add(str(target))
        served = getattr(target, "namespaces", None)
        if isinstance(served, list | tuple):
            names.update(str(name) for name in served)
        own = getattr(target, "namespace", None) if "namespace" in target.__dict__ else None
        if isinstance(own, str) and own:
            names.add(own)
    elif target is not None:
        kind, object_id, name = (str(part or "") for part in target)
        if kind == "namespace" and name:  # a grant (governance.model_audit): the namespace's name
            names.add(name)
        elif kind in ("dataset", "job") and object_id.startswith(f"{kind}:") and object_id.endswith(f":{name}"):
            names.add(object_id[len(kind) + 1 : len(object_id) - len(name) - 1])
    moved = (changes or {}).get("namespaces")
    if isinstance(moved, Mapping):
        for side in ("before", "after"):
            if isinstance(moved.get(side), list | tuple):
                names.update(str(name) for name in moved[side])
    return sorted(names) or None


def _append(head: AuditChainHead, contents: list[dict[str, Any]]) -> list[AuditRecord]:
    """Chain the contents after the (locked) head, insert them and move the head."""
    items = []
    sequence, previous = head.sequence, head.hash
    for content in contents:
        # The time is taken under the lock, so it never goes backwards along the chain (clock steps aside);
        # an imported history brings its own.
        now = content.pop(_IMPORTED_TIME, None) or timezone.now()
        namespaces = content.pop(_NAMESPACES, None)
        sequence += 1
        entry = {**content, "sequence": sequence, "time": format_time(now), "previous_hash": previous}
        previous = entry_hash(entry)
        items.append(
            AuditRecord(
                sequence=sequence,
                time=now,
                actor_id=entry["actor_id"],
                actor_label=entry["actor"],
                action=entry["action"],
                object_type=entry["object_type"],
                object_id=entry["object_id"],
                object_name=entry["object_name"],
                outcome=entry["outcome"],
                source_ip=entry["source_ip"],
                user_agent=entry["user_agent"],
                request_id=entry["request_id"],
                changes=entry["changes"],
                detail=entry["detail"],
                previous_hash=entry["previous_hash"],
                hash=previous,
                namespaces=namespaces,
            )
        )
    if len(items) > 1 and connection.vendor == "postgresql":
        _copy(items)
    elif len(items) > 1:
        AuditRecord.objects.bulk_create(items)
    else:
        _insert(items[0])
    # Plain SQL for the two statements every audited transaction runs while holding the chain lock: the ORM's
    # per-statement overhead is paid inside the serialised section, by every writer in the queue.
    with connection.cursor() as cursor:
        cursor.execute(_statements()["head"], [sequence, previous, head.pk])
    head.sequence, head.hash = sequence, previous
    return items


@functools.cache
def _statements() -> dict[str, str]:
    """The SQL of the hot path, built once (vendor quoting)."""
    quote = connection.ops.quote_name
    record_table, head_table = quote(AuditRecord._meta.db_table), quote(AuditChainHead._meta.db_table)
    columns = ", ".join(quote(f.column) for f in _record_fields())
    insert = f"INSERT INTO {record_table} ({columns}) VALUES ({', '.join(['%s'] * len(_record_fields()))})"
    lock = f"SELECT {quote('id')}, {quote('sequence')}, {quote('hash')} FROM {head_table} WHERE {quote('id')} = 1"
    if connection.features.has_select_for_update:
        lock += " FOR UPDATE"
    if connection.features.can_return_columns_from_insert:
        insert += f" RETURNING {quote('id')}"
    return {
        "insert": insert,
        "lock": lock,
        "head": f"UPDATE {head_table} SET {quote('sequence')} = %s, {quote('hash')} = %s WHERE {quote('id')} = %s",
    }


@functools.cache
def _record_fields() -> list:
    return [f for f in AuditRecord._meta.concrete_fields if not f.primary_key]


def _insert(item: AuditRecord) -> None:
    params = [f.get_db_prep_save(getattr(item, f.attname), connection) for f in _record_fields()]
    with connection.cursor() as cursor:
        cursor.execute(_statements()["insert"], params)
        if connection.features.can_return_columns_from_insert:
            item.pk = cursor.fetchone()[0]
        else:
            item.pk = connection.ops.last_insert_id(cursor, AuditRecord._meta.db_table, "id")
    item._state.adding, item._state.db = False, connection.alias


def _copy(items: list[AuditRecord]) -> None:
    """COPY instead of INSERT for bulk appends on PostgreSQL: an order of magnitude less Python per row."""
    columns = _record_fields()
    quote = connection.ops.quote_name
    sql = f"COPY {quote(AuditRecord._meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for item in items:
            copy.write_row([_copy_value(f, getattr(item, f.attname)) for f in columns])


def _copy_value(field, value):
    if isinstance(field, models.JSONField):
        return None if value is None else orjson.dumps(value).decode()
    return value


def _lock_head() -> AuditChainHead:
    """Lock the one-row chain head (creating it from the last record if it is missing) and return it.

    Two appenders never read the same head: the second waits here until the first commits, then reads the
    head the first wrote. On SQLite the write lock taken at BEGIN IMMEDIATE already serialises them.
    """
    head = _select_head()
    if head is None:
        last = AuditRecord.objects.order_by("-sequence").values("sequence", "hash").first()
        last = last or {"sequence": 0, "hash": GENESIS_HASH}
        AuditChainHead.objects.bulk_create([AuditChainHead(pk=1, **last)], ignore_conflicts=True)
        head = _select_head()
    return head


def _select_head() -> AuditChainHead | None:
    with connection.cursor() as cursor:
        cursor.execute(_statements()["lock"])
        row = cursor.fetchone()
    return AuditChainHead(id=row[0], sequence=row[1], hash=row[2]) if row else None


def _actor(actor: Any, request: Any) -> tuple[int | None, str]:
    if actor is None and request is not None:
        auth = getattr(request, "auth", None)
        user = getattr(request, "user", None)
        if isinstance(auth, ApiToken):
            actor = auth
        elif user is not None and user.is_authenticated:
            actor = user
    token = getattr(actor, "token", None)  # governance.authentication.TokenUser: a token without an owner
    if isinstance(token, ApiToken):
        actor = token
    if isinstance(actor, ApiToken):
        # The owner answers for the token (so filtering by their name finds it); the label says it was the token.
        return actor.owner_id, f"token:{actor.prefix}"
    if isinstance(actor, str):
        return None, actor
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None, "anonymous" if request is not None else "system"
    return actor.pk, actor.get_username()


def _origin(request: Any) -> tuple[str, str, str]:
    if request is None:
        return "", "", current_request_id()
    request_id = getattr(request, "request_id", "") or current_request_id()
    return request_client_ip(request), request.META.get("HTTP_USER_AGENT", ""), request_id


def client_ip(remote_addr: str, forwarded_for: str = "") -> str:
    """REMOTE_ADDR, or, when it is one of TRIBUTARY_TRUSTED_PROXIES, the client the proxies say they served.

    X-Forwarded-For is read from the right, skipping trusted proxies: anything further left was written by the
    client itself and proves nothing.
    """
    trusted = _trusted_networks(tuple(getattr(settings, "TRIBUTARY_TRUSTED_PROXIES", ())))
    address = _parse_ip(remote_addr)
    if address is None:
        return remote_addr[:64]
    if not trusted or not forwarded_for or not _is_trusted(address, trusted):
        return str(address)
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        hop_address = _parse_ip(hop)
        if hop_address is None:
            break  # a malformed hop: stop at the last proxy we could read
        address = hop_address
        if not _is_trusted(hop_address, trusted):
            break
    return str(address)


def request_client_ip(request) -> str:
    """`client_ip` of a request: the address the audit trail, the login throttle and /metrics all believe."""
    meta = getattr(request, "META", {}) or {}
    return client_ip(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""))


@functools.lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _is_trusted(address, networks) -> bool:
    return any(address in network for network in networks if network.version == address.version)


def _parse_ip(value: str):
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk), str(target)
    object_type, object_id, object_name = target
    return str(object_type), "" if object_id is None else str(object_id), str(object_name or "")


def _scrub(value: Any, replacement: str) -> Any:
    if isinstance(value, Mapping):
        return {
            key: replacement if str(key).lower() in SECRET_KEYS else _scrub(item, replacement)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, replacement) for item in value]
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any], *, secret_fields: Iterable[str] = ()) -> dict[str, Any]:
    """{field: {"before": old, "after": new}} for the fields that changed; a secret field is just "changed".

    A field missing on one side counts as None (so diff({}, fields) describes a creation).
    """
    secrets = {name.lower() for name in secret_fields} | SECRET_KEYS
    changes: dict[str, Any] = {}
    for name in sorted(set(before) | set(after), key=str):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        changes[name] = CHANGED if str(name).lower() in secrets else {"before": old, "after": new}
    return normalise_json(changes)


def fields_of(instance: models.Model, names: Iterable[str]) -> dict[str, Any]:
    """The named fields of a model instance as plain values (foreign keys as their id), for `diff`."""
    values = {}
    for name in names:
        field = instance._meta.get_field(name)
        values[name] = getattr(instance, field.attname)
    return values


def record_session_expired(*, user: Any, request: Any = None, reason: str = "idle") -> AuditRecord | None:
    """For the session policy: a session of `user` ended because it was idle or too old."""
    return record("auth.session_expired", actor=user, target=user, request=request, detail={"reason": reason})


def on_logged_in(sender, request, user, **kwargs) -> None:
    record("auth.login", actor=user, target=user, request=request)


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    """The name tried, never the password (Django has already masked it in `credentials`; it is not read)."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    username = str(credentials.get(model.USERNAME_FIELD) or credentials.get("username") or "")[:150]
    known = model._default_manager.filter(**{model.USERNAME_FIELD: username}).values_list("pk", flat=True).first()
    record(
        "auth.login_failed",
        actor="anonymous",
        target=(model._meta.label_lower, known, username) if username else None,
        outcome=AuditRecord.Outcome.FAILURE,
        request=request,
        detail={"username": username},
    )


def on_logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        record("auth.logout", actor=user, target=user, request=request)


def record_denied(*, request: Any, reason: str = "") -> AuditRecord | None:
    """A refused request (403), API or page: who asked for what."""
    detail = {"method": request.method, "path": request.path[:500]}
    if reason:
        detail["reason"] = reason[:500]
    return record("access.denied", request=request, outcome=AuditRecord.Outcome.DENIED, detail=detail)


# Reading: the canonical entries the chain is computed over, for verification and export.

_COLUMNS = [
    "sequence",
    "time",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_name",
    "outcome",
    "source_ip",
    "user_agent",
    "request_id",
    "changes",
    "detail",
    "previous_hash",
    "hash",
]


def entry_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A record (as `.values(*_COLUMNS)`) in the canonical shape: what is hashed, exported and shown by the API."""
    entry = dict(row)
    entry["actor"] = entry.pop("actor_label")
    entry["time"] = format_time(entry["time"])
    return entry


def entries(records: "models.QuerySet[AuditRecord]", *, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Canonical entries of the records in chain order, streamed (a server-side cursor on PostgreSQL)."""
    for row in records.order_by("sequence").values(*_COLUMNS).iterator(chunk_size=chunk_size):
        yield entry_of(row)


def page(records: "models.QuerySet[AuditRecord]", *, limit: int, offset: int) -> list[dict[str, Any]]:
    """One page of records, newest first."""
    return [entry_of(row) for row in records.order_by("-sequence").values(*_COLUMNS)[offset : offset + limit]]


# Verification.


def verify_chain(*, first: int | None = None, last: int | None = None, batch_size: int = 5000) -> Verification:
    """Walk records first..last (default: all) in batches and return the first broken link, if any.

    Memory stays constant: batches are read by sequence (keyset), never the whole table. Without `last`, the
    walk ends at the chain head as it was when the check began (appends made meanwhile wait for the next
    check), and the last record must be the head: that notices records cut from the end, or a last record
    rewritten with a recomputed hash.
    """
    whole = first is None and last is None
    head = None
    if last is None:
        head = AuditChainHead.objects.filter(pk=1).values("sequence", "hash").first()
        last = head["sequence"] if head else None
    lowest = AuditRecord.objects.order_by("sequence").values_list("sequence", flat=True).first()
    if head is None and lowest is not None and whole:
        # Appending creates the head with the first record, and the head cannot be deleted: it was removed
        # behind the guards' back, and what it held (where the chain ended) is lost with it.
        newest = AuditRecord.objects.order_by("-sequence").values_list("sequence", flat=True).first()
        reason = "the chain head is missing while records exist: it was removed, so records cut from the end go unseen"
        return Verification(0, lowest, None, None, auditchain.Broken(newest, reason))
    if lowest is None or (last is not None and lowest > last):
        result = _check_head(Verification(0, None, None, None), head, first)
    else:
        start = max(first or lowest, lowest)  # what retention cut is accounted for by its anchor, not missing
        previous = _predecessor(start)
        if previous is None:
            reason = "the records before it are missing and no retention anchor accounts for them"
            return Verification(0, start, None, None, auditchain.Broken(start, reason))
        result = auditchain.walk(_batches(start, last, batch_size), previous=previous)
        result = _check_head(result, head, first) if result.ok else result
    if result.ok and whole:
        problems = check_checkpoints(stored_checkpoints())
        if problems:
            return Verification(result.count, result.first, result.last, result.last_hash, problems[0])
    return result


def _predecessor(sequence: int) -> tuple[int, str] | None:
    if sequence == 1:
        return 0, GENESIS_HASH
    before = AuditRecord.objects.filter(sequence=sequence - 1).values_list("hash", flat=True).first()
    if before is not None:
        return sequence - 1, before
    anchor = (
        AuditRecord.objects.filter(action=auditchain.RETENTION_ACTION, detail__last_sequence=sequence - 1)
        .order_by("-sequence")
        .values("action", "detail")
        .first()
    )
    return auditchain.anchor_of(anchor) if anchor else None


def _batches(start: int, last: int | None, batch_size: int) -> Iterator[dict[str, Any]]:
    cursor = start - 1
    while True:
        records = AuditRecord.objects.filter(sequence__gt=cursor)
        if last is not None:
            records = records.filter(sequence__lte=last)
        rows = list(records.order_by("sequence").values(*_COLUMNS)[:batch_size])
        if not rows:
            return
        for row in rows:
            yield entry_of(row)
        cursor = rows[-1]["sequence"]


def _check_head(result: Verification, head: Mapping[str, Any] | None, first: int | None) -> Verification:
    if head is None or head["sequence"] == 0 or (first is not None and first > head["sequence"]):
        return result
    if result.last == head["sequence"] and result.last_hash == head["hash"]:
        return result
    if result.last == head["sequence"]:
        broken = auditchain.Broken(result.last, "its hash differs from the one the chain head holds: it was rewritten")
    elif result.last is None:
        reason = f"the trail is empty but the chain head is at record {head['sequence']}: records were removed"
        broken = auditchain.Broken(head["sequence"], reason)
    else:
        reason = (
            f"the chain head is at record {head['sequence']} but the last record is {result.last or 'none'}: "
            "records were removed from the end"
        )
        broken = auditchain.Broken((result.last or 0) + 1, reason)
    return Verification(result.count, result.first, result.last, result.last_hash, broken)


# Signed checkpoints: what the chain must still reach.


def stored_checkpoints() -> list[dict[str, Any]]:
    """The checkpoints kept in the database, oldest first, as checkpoint details (sequence, hash, signature,
    key_id)."""
    return [item.as_detail() for item in AuditCheckpoint.objects.order_by("sequence", "record_sequence")]


def check_checkpoints(
    checkpoints: Iterable[Mapping[str, Any]], *, public_key: Any = None, require_key: bool = False
) -> list[auditchain.Broken]:
    """What is wrong with the trail, judged by signed checkpoints: each one says record `sequence` existed with
    `hash`. It must still be there with that hash, or have been cut by retention (an anchor accounts for it, and
    for its hash when it was the last one cut), and the chain head must not be behind it.

    With `public_key`, a checkpoint made with that key must carry a valid signature (one made with another key,
    before a rotation, is held to the chain without judging its signature); `require_key` (a checkpoint file)
    also refuses one made with another key.
    """
    checkpoints = list(checkpoints)
    own_key = auditchain.key_id(auditchain._raw_public_bytes(public_key)) if public_key is not None else None
    problems: list[auditchain.Broken] = []
    head = AuditChainHead.objects.filter(pk=1).values("sequence", "hash").first()
    anchors = []  # (first cut, last cut, its hash) of every retention that cut something
    for item in AuditRecord.objects.filter(action=auditchain.RETENTION_ACTION).values("action", "detail"):
        anchor = auditchain.anchor_of(item)
        if anchor:
            anchors.append((int(item["detail"].get("first_sequence") or 1), *anchor))
    wanted = sorted({int(c["sequence"]) for c in checkpoints if str(c.get("sequence", "")).isdigit()})
    hashes: dict[int, str] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        hashes.update(AuditRecord.objects.filter(sequence__in=chunk).values_list("sequence", "hash"))
    for item in checkpoints:
        try:
            sequence, signed_hash = int(item["sequence"]), str(item["hash"])
        except (KeyError, TypeError, ValueError):
            problems.append(auditchain.Broken(0, f"a checkpoint is malformed: {dict(item)!r:.200}"))
            continue
        label = f"checkpoint of record {sequence} (key {item.get('key_id', '?')})"
        if own_key is not None and item.get("key_id") == own_key:
            if not auditchain.checkpoint_is_valid(public_key, item):
                problems.append(auditchain.Broken(sequence, f"{label}: its signature is invalid"))
                continue
        elif own_key is not None and require_key:
            problems.append(auditchain.Broken(sequence, f"{label}: not signed with key {own_key}"))
            continue
        if head is None or head["sequence"] < sequence:
            where = "missing" if head is None else f"at record {head['sequence']}"
            reason = (
                f"{label} says the chain reached record {sequence}, but the chain head is {where}: records were removed"
            )
            problems.append(auditchain.Broken(sequence, reason))
            continue
        if sequence in hashes:
            if hashes[sequence] != signed_hash:
                reason = (
                    f"{label}: the record's hash differs from the one signed ({signed_hash[:16]}…): it was rewritten"
                )
                problems.append(auditchain.Broken(sequence, reason))
            continue
        cut = [a for a in anchors if a[0] <= sequence <= a[1]]
        if not cut:
            reason = (
                f"{label}: record {sequence} is missing and no retention anchor accounts for it: records were removed"
            )
            problems.append(auditchain.Broken(sequence, reason))
        elif any(a[1] == sequence and a[2] != signed_hash for a in cut):
            reason = f"{label}: the retention anchor that cut record {sequence} holds another hash for it"
            problems.append(auditchain.Broken(sequence, reason))
    return problems


def verify_range(*, first: int | None, last: int | None, actor: Any = None, request: Any = None) -> Verification:
    """Verify on an auditor's request, and record that it was checked and what was found."""
    result = verify_chain(first=first, last=last)
    outcome = AuditRecord.Outcome.SUCCESS if result.ok else AuditRecord.Outcome.FAILURE
    record("audit.verified", actor=actor, request=request, outcome=outcome, detail=result.as_dict())
    return result


# Export.

EXPORT_FORMATS = ("csv", "jsonl")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl"}
EXPORT_FIELDS = [*auditchain.HASHED_FIELDS, "hash"]
# Cells a spreadsheet would run as a formula: user agents and attempted usernames come from strangers.
_FORMULA_START = "=+-@\t\r"
_FLUSH_BYTES = 64 * 1024


def export_records(
    *,
    records: "models.QuerySet[AuditRecord]",
    fmt: str,
    filters: Mapping[str, Any] | None = None,
    actor: Any = None,
    request: Any = None,
    via: str = "api",
) -> Iterator[bytes]:
    """Record the export, then return the file as a stream of byte chunks in chain order (oldest first).

    The JSON-lines form holds the canonical entries with their hashes: `audit_verify --file` re-checks it.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    clean_filters = {k: str(v) for k, v in (filters or {}).items() if v not in (None, "")}
    record("audit.exported", actor=actor, request=request, detail={"format": fmt, "filters": clean_filters, "via": via})
    return _jsonl(records) if fmt == "jsonl" else _csv(records)


def _jsonl(records) -> Iterator[bytes]:
    buffer = bytearray()
    for entry in entries(records):
        buffer += orjson.dumps(entry)
        buffer += b"\n"
        if len(buffer) >= _FLUSH_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


class _Lines:
    """A file-like sink for csv.writer that hands back what was written."""

    def __init__(self):
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> bytes:
        data = "".join(self.parts).encode()
        self.parts.clear()
        return data


def _csv(records) -> Iterator[bytes]:
    sink = _Lines()
    writer = csv.writer(sink)
    writer.writerow(EXPORT_FIELDS)
    rows = []
    for e in entries(records):
        rows.append(
            [
                e["sequence"],
                e["time"],
                "" if e["actor_id"] is None else e["actor_id"],
                _text(e["actor"]),
                e["action"],
                _text(e["object_type"]),
                _text(e["object_id"]),
                _text(e["object_name"]),
                e["outcome"],
                e["source_ip"],
                _text(e["user_agent"]),
                _text(e["request_id"]),
                _json_cell(e["changes"]),
                _json_cell(e["detail"]),
                e["previous_hash"],
                e["hash"],
            ]
        )
        if len(rows) >= 500:
            writer.writerows(rows)
            rows.clear()
            yield sink.take()
    writer.writerows(rows)
    yield sink.take()


def _text(value: str) -> str:
    return "'" + value if value and value[0] in _FORMULA_START else value


def _json_cell(value: Any) -> str:
    return "" if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


# Retention.


@dataclass(frozen=True)
class RetentionCut:
    before: datetime
    count: int
    first_sequence: int | None
    last_sequence: int | None
    last_hash: str | None
    dry_run: bool
    anchor: AuditRecord | None = None


def audit_retention_cut(*, before: datetime, dry_run: bool = False, actor: Any = None) -> RetentionCut:
    """Delete the records older than `before` (a prefix of the chain) and append the anchor that accounts for
    them: count, first and last sequence, and the last removed record's hash, which the first kept record links
    to. The anchor is this operation's own record (audit.retention). A dry run changes and records nothing.

    The anchor is appended first and the records deleted after it, in the same transaction: on PostgreSQL the
    trigger lets a DELETE through only when it removes the oldest records and an anchor already says exactly
    which (count, first, last and the last one's hash).
    """
    with transaction.atomic():
        _lock_head()  # nobody appends while the cut is measured, made and anchored
        boundary = (
            AuditRecord.objects.filter(time__gte=before).order_by("sequence").values_list("sequence", flat=True).first()
        )
        # Only a prefix is cut (up to the first record at or after the cutoff), so the rest stays one chain.
        doomed = AuditRecord.objects.all() if boundary is None else AuditRecord.objects.filter(sequence__lt=boundary)
        stats = doomed.aggregate(count=Count("pk"), first=Min("sequence"), last=Max("sequence"))
        last_hash = None
        if stats["last"] is not None:
            last_hash = AuditRecord.objects.filter(sequence=stats["last"]).values_list("hash", flat=True).get()
        cut = RetentionCut(before, stats["count"], stats["first"], stats["last"], last_hash, dry_run)
        if dry_run:
            return cut
        anchor = record(
            auditchain.RETENTION_ACTION,
            actor=actor,
            detail={
                "before": format_time(before),
                "count": cut.count,
                "first_sequence": cut.first_sequence,
                "last_sequence": cut.last_sequence,
                "last_hash": cut.last_hash,
            },
        )
        if cut.count:
            _delete_with_permission(cut.last_sequence)
        return RetentionCut(before, cut.count, cut.first_sequence, cut.last_sequence, last_hash, False, anchor)


def _delete_with_permission(last_sequence: int) -> None:
    """Delete records 1..last_sequence in one statement (the trigger judges a statement as a whole)."""
    table = connection.ops.quote_name(AuditRecord._meta.db_table)
    delete = f"DELETE FROM {table} WHERE {connection.ops.quote_name('sequence')} <= %s"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The append-only trigger lets a DELETE through only with this transaction-local setting on; it is
            # switched off again right away, so nothing else in the transaction rides on it.
            cursor.execute("SELECT set_config('tributary.audit_retention', 'on', true)")
            cursor.execute(delete, [last_sequence])
            cursor.execute("SELECT set_config('tributary.audit_retention', 'off', true)")
        else:
            cursor.execute(delete, [last_sequence])


# Signed checkpoints.


def checkpoint(*, private_key, actor: Any = None) -> AuditRecord:
    """Sign (sequence, hash) of the chain head with an Ed25519 key and append the signature as a record.

    The checkpoint record is appended under the same lock, so it always signs the record just before it.
    """
    with transaction.atomic():
        head = _lock_head()
        if head.sequence == 0:
            raise ValueError("the audit trail is empty: there is nothing to sign yet")
        detail = auditchain.sign_checkpoint(private_key, head.sequence, head.hash)
        item = record(auditchain.CHECKPOINT_ACTION, actor=actor, detail=detail)
        # Kept apart as well: retention cuts old records, never a checkpoint, so what it vouches for stays known.
        AuditCheckpoint.objects.create(record_sequence=item.sequence, **detail)
        return item


def covering_checkpoint(last: int) -> int | None:
    """The first checkpoint record at or after `last`: it signs the record before it, and so `last` (or, when
    `last` is that checkpoint, everything before it)."""
    return (
        AuditRecord.objects.filter(action=auditchain.CHECKPOINT_ACTION, sequence__gte=last)
        .order_by("sequence")
        .values_list("sequence", flat=True)
        .first()
    )
