"""Connections: create, change, delete, test, reveal, rotate keys, import and export (Airflow's formats).

Every write is one transaction with its audit record. Secrets (password, extra) are encrypted on the way in and
decrypted only to test a connection or to reveal it to a permitted, recently re-authenticated person.
"""

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.db.models import QuerySet

from governance import audit, crypto, throttling
from governance.mfa import check_code, mfa_required
from governance.models import Connection
from governance.permissions import can, has_capability, namespace_scope
from governance.roles import USE_CONNECTIONS, VIEW_CONNECTIONS

PUBLIC_FIELDS = ("conn_type", "host", "port", "schema", "login", "description", "namespaces")
SECRET_FIELDS = ("password", "extra")
REAUTH_AT = "tributary_reauth_at"


class ConnectionRefused(Exception):
    """A refused use of a connection. `recorded`: the service already wrote the refusal's audit record (a reveal
    records its own `connection.revealed` with outcome denied); otherwise whoever answers it records it."""

    def __init__(self, reason: str, *, code: str = "denied", recorded: bool = False):
        super().__init__(reason)
        self.reason, self.code, self.recorded = reason, code, recorded


# --- Who may see what ------------------------------------------------------------------------------------


def _namespace_ids(names: list[str]) -> set[int]:
    from governance.models import Namespace

    return set(Namespace.objects.filter(name__in=names).values_list("pk", flat=True))


def visible_connections(user) -> QuerySet[Connection]:
    """Connections whose metadata `user` may see: all of them, or (narrowed users) those serving one of their
    namespaces."""
    if not has_capability(user, VIEW_CONNECTIONS):
        return Connection.objects.none()
    scope = namespace_scope(user)
    connections = Connection.objects.select_related("owner", "created_by", "updated_by")
    if scope is None:
        return connections
    from governance.models import Namespace

    names = set(Namespace.objects.filter(pk__in=scope).values_list("name", flat=True))
    # Connections are few: filtering their namespace lists here is portable (SQLite has no JSON containment).
    serving = [pk for pk, served in Connection.objects.values_list("pk", "namespaces") if names & set(served or [])]
    return connections.filter(pk__in=serving)


def serves_only(scope: set[int] | None, names: list[str] | None) -> bool:
    """Whether a connection serving `names` lies wholly within a user's namespaces (`scope`, None for all): at
    least one namespace, each of them known and granted. The one rule for using, changing, deleting and aiming a
    connection."""
    if scope is None:
        return True
    names = list(names or [])
    served = _namespace_ids(names)
    return bool(names) and len(served) == len(set(names)) and served <= scope


def may_use(user, connection: Connection) -> bool:
    """Test or reveal: the use capability, and every namespace the connection serves within the user's."""
    if not has_capability(user, USE_CONNECTIONS):
        return False
    return serves_only(namespace_scope(user), connection.namespaces)


def for_namespace(user, namespace: str) -> Connection | None:
    """The connection that serves an OpenLineage namespace, if the user may see it (the dataset page)."""
    candidates = visible_connections(user)
    for connection in candidates:
        if namespace in connection.namespaces:
            return connection
    return None


# --- Writes ----------------------------------------------------------------------------------------------


def _set_secrets(connection: Connection, values: dict[str, Any]) -> list[str]:
    changed = []
    if "password" in values:
        password = values["password"] or ""
        connection.password_encrypted = crypto.encrypt(password)[0] if password else ""
        changed.append("password")
    if "extra" in values:
        extra = values["extra"]
        text = json.dumps(extra, sort_keys=True) if extra not in (None, "", {}) else ""
        connection.extra_encrypted = crypto.encrypt(text)[0] if text else ""
        changed.append("extra")
    if changed:
        connection.key_id = crypto.current_key_id()
    return changed


def _public(connection: Connection) -> dict[str, Any]:
    values = {field: getattr(connection, field) for field in PUBLIC_FIELDS}
    values["owner"] = connection.owner.get_username() if connection.owner else None
    return values


def _check_served_namespaces(user, names: list[str] | None) -> None:
    """A user narrowed to some namespaces makes connections serve only those, and at least one of them: a
    connection is shown on the pages of the namespaces it serves, and whoever may see a namespace may see it, so a
    connection aimed at another team's namespace (or at none, where no grant covers it) is out of their reach."""
    if user is not None and not serves_only(namespace_scope(user), names):
        raise ConnectionRefused("a connection you make or change must serve only namespaces you are granted")


def connection_create(*, slug: str, values: dict[str, Any], user) -> Connection:
    _check_served_namespaces(user, values.get("namespaces"))
    with transaction.atomic():
        connection = Connection(slug=slug, owner=values.pop("owner", None) or user, created_by=user, updated_by=user)
        for field in PUBLIC_FIELDS:
            if field in values:
                setattr(connection, field, values[field])
        secrets_set = _set_secrets(connection, values)
        connection.save()
        changes = audit.diff({}, _public(connection))
        changes.update({field: audit.CHANGED for field in secrets_set})
        audit.record("connection.created", actor=user, target=connection, changes=changes)
    return connection


# Where a connection's stored secrets are sent. Changing any of these while keeping a stored secret sends that
# secret somewhere new (a server of one's own that asks for a cleartext password gets it), so it needs what a
# reveal needs. The database and login count too: a pooler or proxy (PgBouncer, Supavisor, cloud SQL proxies)
# routes by database name or user name to a different server.
ENDPOINT_FIELDS = ("conn_type", "host", "port", "schema", "login")
# Keys of `extra` that say where, or how safely, the connection goes: any key containing one of these words
# (host, hostaddr, port, service, endpoint_url, sslmode, sslrootcert, proxy_host, account, region_name, ...).
ENDPOINT_EXTRA_WORDS = (
    "host",
    "port",
    "addr",
    "service",
    "endpoint",
    "url",
    "uri",
    "dsn",
    "server",
    "ssl",
    "tls",
    "proxy",
    "tunnel",
    "account",
    "region",
    "database",
    "dbname",
)


def is_endpoint_extra_key(key: str) -> bool:
    return any(word in key.lower() for word in ENDPOINT_EXTRA_WORDS)


def _blank(value):
    return None if value in ("", None) else value


def redirected_secrets(connection: Connection, values: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the endpoint fields this change moves, the stored secrets it would keep and send there). A change that
    replaces every stored secret (a new password, and a new extra where one is stored) sends none of the old."""
    kept = []
    if connection.password_encrypted and "password" not in values:
        kept.append("password")
    if connection.extra_encrypted and "extra" not in values:
        kept.append("extra")
    if not kept:
        return [], []
    moved = [
        field
        for field in ENDPOINT_FIELDS
        if field in values and _blank(values[field]) != _blank(getattr(connection, field))
    ]
    if "extra" in values:
        before = _secrets(connection)["extra"] if connection.extra_encrypted else {}
        after = values["extra"] or {}
        keys = {key for key in set(before) | set(after) if is_endpoint_extra_key(str(key))}
        moved += sorted(f"extra.{key}" for key in keys if before.get(key) != after.get(key))
    return (moved, kept) if moved else ([], [])


def connection_update(*, connection: Connection, values: dict[str, Any], user, request=None) -> Connection:
    """Change a connection. Moving its endpoint while keeping a stored secret is, in effect, a reveal: it needs a
    recent re-authentication (ConnectionRefused with code "reauth" otherwise) and is recorded as
    `connection.revealed` with detail.reason "endpoint change", allowed or refused."""
    if "namespaces" in values:
        _check_served_namespaces(user, values["namespaces"])
    refused = None
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        moved, kept = redirected_secrets(connection, values)
        if moved and not recently_reauthenticated(request):
            refused = {"reason": "endpoint change without re-authentication", "fields": moved, "secrets": kept}
        else:
            before = _public(connection)
            if "owner" in values:
                connection.owner = values["owner"]
            for field in PUBLIC_FIELDS:
                if field in values:
                    setattr(connection, field, values[field])
            secrets_set = _set_secrets(connection, values)
            connection.updated_by = user
            connection.save()
            if moved:
                audit.record(
                    "connection.revealed",
                    actor=user,
                    target=connection,
                    outcome="success",
                    request=request,
                    detail={"reason": "endpoint change", "fields": moved, "secrets": kept},
                )
            changes = audit.diff(before, _public(connection))
            changes.update({field: audit.CHANGED for field in secrets_set})
            audit.record("connection.updated", actor=user, target=connection, changes=changes, request=request)
    if refused is not None:
        # Recorded after the (unchanged) transaction, so that the refusal's record stays whatever the caller does.
        audit.record(
            "connection.revealed", actor=user, target=connection, outcome="denied", request=request, detail=refused
        )
        raise ConnectionRefused(
            "changing where this connection connects would send its stored "
            + " and ".join(kept)
            + " there: re-authenticate first (password, and second-factor code if your role uses one), "
            "or give a new " + " and ".join(kept) + " in the same change",
            code="reauth",
            recorded=True,
        )
    return connection


def connection_delete(*, connection: Connection, user) -> None:
    with transaction.atomic():
        audit.record("connection.deleted", actor=user, target=connection, changes=audit.diff(_public(connection), {}))
        connection.delete()


# --- Using it --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reauthentication:
    """The answer to a re-authentication. `problem`: what the person is told when it failed; `locked`: the
    throttle refused it (too many failures), whatever was typed."""

    ok: bool
    problem: str = ""
    locked: bool = False

    @property
    def sentence(self) -> str:
        """The problem as a page shows it."""
        return _sentence(self.problem) if self.problem else ""


def _sentence(clause: str) -> str:
    return clause[:1].upper() + clause[1:] + "."


def locked_out_problem() -> str:
    """What someone locked out is told: for how long, and that logins are paused as well (the two share one
    count, so that re-authenticating is no way around the login's limit)."""
    minutes = throttling.cool_off_minutes()
    return (
        "too many failed attempts: re-authentication and logins from this address are paused for up to "
        f"{minutes} minutes"
    )


def reauthenticate(request, *, password: str = "", code: str = "") -> Reauthentication:
    """Prove it is still you, for a few minutes: your password, and a current code from your second factor (TOTP,
    or an unused recovery code) if your role must use one. The password alone would let someone who learnt it
    past the second factor a login asks for. Throttled with logins (governance.throttling); every attempt is
    recorded.

    The answer says which was wrong. The code is checked only after a right password, so a wrong password does
    not use up a right code (it could not be typed again), and someone holding the session without the password
    learns nothing of the code. A right password with a code that was right but already used, or typed while
    django-otp's own delay after a wrong code holds, is told so and not counted as a failure: it is no guess."""
    user = request.user
    username = user.get_username()
    needs_code = mfa_required(user)
    if throttling.reauth_locked(request, username=username):
        result = Reauthentication(False, locked_out_problem() + " (nothing was checked)", locked=True)
        reason = "locked out"
    elif not password:
        result, reason = Reauthentication(False, "your password is needed"), "no password"
    elif needs_code and not code.strip():
        # Not a guess, so not counted: the password is not even checked until both are given.
        result, reason = Reauthentication(False, "a second-factor code is needed too"), "no second-factor code"
    else:
        problem, reason = "", ""
        if not check_password(password, user.password):
            problem, reason = "that password did not match", "did not match"
        elif code.strip():  # also when given by someone who need not use one: what was typed must match
            checked = check_code(user, code)
            if checked.reused or checked.wait_seconds:
                problem, reason = checked.problem, "code reused" if checked.reused else "code throttled"
            elif not checked.ok:
                problem, reason = checked.problem, "did not match"
        if not problem:
            result = Reauthentication(True)
        elif reason != "did not match":
            result = Reauthentication(False, problem)
        else:
            locked = throttling.reauth_failed(request, username=username)
            if locked:
                problem += "; " + locked_out_problem()
            result = Reauthentication(False, problem, locked=locked)
    if result.ok:
        request.session[REAUTH_AT] = int(time.time())
        throttling.reauth_succeeded(request, username=username)
        detail = {"factors": ["password", "second factor"] if code.strip() else ["password"]}
        audit.record("auth.reauthenticated", actor=user, outcome="success", request=request, detail=detail)
    else:
        outcome = "denied" if reason == "locked out" else "failure"
        audit.record("auth.reauthenticated", actor=user, outcome=outcome, request=request, detail={"reason": reason})
    return result


def recently_reauthenticated(request) -> bool:
    from django.conf import settings

    at = request.session.get(REAUTH_AT) if request is not None and hasattr(request, "session") else None
    return at is not None and time.time() - at <= settings.TRIBUTARY_REAUTH_SECONDS


def _secrets(connection: Connection) -> dict[str, Any]:
    what = f"the secrets of connection {connection.slug!r}"
    password = crypto.decrypt(connection.password_encrypted, what=what) if connection.password_encrypted else ""
    extra = json.loads(crypto.decrypt(connection.extra_encrypted, what=what)) if connection.extra_encrypted else {}
    return {"password": password, "extra": extra}


def connection_reveal(*, connection: Connection, user, request) -> dict[str, Any]:
    """The connection's secrets, for a permitted user who re-authenticated recently. Every attempt is recorded."""
    if not may_use(user, connection):
        audit.record(
            "connection.revealed",
            actor=user,
            target=connection,
            outcome="denied",
            request=request,
            detail={"reason": "role or namespace"},
        )
        raise ConnectionRefused("your role or namespaces do not allow revealing this connection", recorded=True)
    if not recently_reauthenticated(request):
        audit.record(
            "connection.revealed",
            actor=user,
            target=connection,
            outcome="denied",
            request=request,
            detail={"reason": "re-authentication needed"},
        )
        raise ConnectionRefused(
            "re-authenticate first: your password, and a second-factor code if your role uses one",
            code="reauth",
            recorded=True,
        )
    secrets = _secrets(connection)
    audit.record("connection.revealed", actor=user, target=connection, outcome="success", request=request)
    return secrets


def record_unseen_reveal(*, slug: str, user, request) -> None:
    """A reveal of a connection the user may not see, or of none at all: recorded as refused. The caller answers
    404 in both cases, the same answer as for a connection that does not exist, so nothing leaks."""
    connection = Connection.objects.filter(slug=slug).first()
    audit.record(
        "connection.revealed",
        actor=user,
        target=connection if connection is not None else (Connection._meta.label_lower, None, slug[:250]),
        outcome="denied",
        request=request,
        detail={"reason": "namespaces" if connection is not None else "no such connection"},
    )


@dataclass(frozen=True)
class TestResult:
    ok: bool
    message: str


def scrub(message: str, secrets: dict[str, Any]) -> str:
    """A driver's message with every secret value (and its URL-encoded form) replaced."""
    values = [secrets.get("password") or ""]
    values += [str(v) for v in (secrets.get("extra") or {}).values() if isinstance(v, str | int)]
    for value in sorted({v for v in values if len(v) >= 3}, key=len, reverse=True):
        message = message.replace(value, "*****").replace(quote(value, safe=""), "*****")
    return message


def connection_test(*, connection: Connection, user, request=None) -> TestResult:
    """Really connect (PostgreSQL; other types report that they cannot be tested here)."""
    if not may_use(user, connection):
        raise ConnectionRefused("your role or namespaces do not allow using this connection")
    secrets = _secrets(connection)
    if connection.conn_type != Connection.Type.POSTGRES:
        result = TestResult(False, f"testing {connection.type_label} connections is not supported")
    else:
        import psycopg

        try:
            with psycopg.connect(
                host=connection.host or "localhost",
                port=connection.port or 5432,
                dbname=connection.schema or "postgres",
                user=connection.login or None,
                password=secrets["password"] or None,
                connect_timeout=5,
                **{k: v for k, v in secrets["extra"].items() if k in ("sslmode", "application_name")},
            ) as conn:
                version = conn.execute("SHOW server_version").fetchone()[0]
            result = TestResult(True, f"connected: PostgreSQL {version}")
        except psycopg.Error as error:
            result = TestResult(False, scrub(str(error).strip(), secrets))
    audit.record(
        "connection.tested",
        actor=user,
        target=connection,
        request=request,
        outcome="success" if result.ok else "failure",
        detail={"message": result.message},
    )
    return result


# --- Keys ------------------------------------------------------------------------------------------------


def rotate_keys(*, batch_size: int = 200, on_batch=None) -> int:
    """Re-encrypt every secret not yet under the newest key, a batch per transaction; resumable after a crash
    (finished batches stay done, the rest is picked up on the next run). Returns the connections re-encrypted."""
    newest = crypto.current_key_id()
    done = 0
    while True:
        with transaction.atomic():
            batch = list(
                Connection.objects.select_for_update(skip_locked=True)
                .exclude(key_id=newest)
                .exclude(password_encrypted="", extra_encrypted="")
                .order_by("pk")[:batch_size]
            )
            if not batch:
                break
            for connection in batch:
                what = f"the secrets of connection {connection.slug!r}"
                if connection.password_encrypted:
                    connection.password_encrypted, _ = crypto.rotate(connection.password_encrypted, what=what)
                if connection.extra_encrypted:
                    connection.extra_encrypted, _ = crypto.rotate(connection.extra_encrypted, what=what)
                connection.key_id = newest
            Connection.objects.bulk_update(batch, ["password_encrypted", "extra_encrypted", "key_id"])
            done += len(batch)
        if on_batch is not None:  # after the commit: the batch is done whatever happens next
            on_batch(done)
    audit.record("connection.keys_rotated", actor=None, detail={"connections": done, "key": newest})
    return done


# --- Airflow's formats -----------------------------------------------------------------------------------


def to_airflow(connection: Connection, *, with_secrets: bool) -> dict[str, Any]:
    """Airflow's `connections export --format json` shape for one connection."""
    secrets = _secrets(connection) if with_secrets else {"password": None, "extra": None}
    return {
        "conn_type": connection.conn_type,
        "description": connection.description or None,
        "host": connection.host or None,
        "login": connection.login or None,
        "password": secrets["password"] or None,
        "schema": connection.schema or None,
        "port": connection.port,
        "extra": json.dumps(secrets["extra"]) if secrets["extra"] else None,
        "namespaces": connection.namespaces,
    }


def to_airflow_uri(connection: Connection, *, with_secrets: bool) -> str:
    """Airflow's connection URI: conn-type://login:password@host:port/schema?extra..."""
    secrets = _secrets(connection) if with_secrets else {"password": "", "extra": {}}
    scheme = connection.conn_type.replace("_", "-")
    auth = quote(connection.login or "", safe="")
    if secrets["password"]:
        auth += ":" + quote(secrets["password"], safe="")
    netloc = (auth + "@" if auth else "") + quote(connection.host or "", safe="")
    if connection.port:
        netloc += f":{connection.port}"
    uri = f"{scheme}://{netloc}/{quote(connection.schema or '', safe='')}"
    extra = secrets["extra"] or {}
    if extra:
        flat = all(isinstance(v, str) for v in extra.values())
        uri += "?" + (urlencode(extra) if flat else urlencode({"__extra__": json.dumps(extra)}))
    return uri


def from_airflow_uri(uri: str) -> dict[str, Any]:
    parts = urlsplit(uri)
    if not parts.scheme:
        raise ValueError(f"not a connection URI: {uri[:40]!r}")
    extra: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "__extra__":
            extra.update(json.loads(value))
        else:
            extra[key] = value
    return {
        "conn_type": parts.scheme.replace("-", "_"),
        "host": unquote(parts.hostname or ""),
        "port": parts.port,
        "schema": unquote(parts.path.lstrip("/")),
        "login": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "extra": extra,
    }


def from_airflow(spec: dict[str, Any] | str) -> dict[str, Any]:
    """Values from an Airflow connection in JSON (dict) or URI (str) form."""
    if isinstance(spec, str):
        return from_airflow_uri(spec)
    extra = spec.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra) if extra.strip() else {}
    return {
        "conn_type": spec.get("conn_type") or "generic",
        "host": spec.get("host") or "",
        "port": spec.get("port"),
        "schema": spec.get("schema") or "",
        "login": spec.get("login") or "",
        "password": spec.get("password") or "",
        "extra": extra,
        "description": spec.get("description") or "",
        "namespaces": spec.get("namespaces") or [],
    }


def import_connections(*, specs: dict[str, Any], user=None) -> dict[str, int]:
    """Create or update connections from {conn_id: JSON or URI}; one transaction for the whole file."""
    counts = {"created": 0, "updated": 0}
    with transaction.atomic():
        for slug, spec in specs.items():
            values = from_airflow(spec)
            existing = Connection.objects.filter(slug=slug).first()
            if existing is None:
                connection_create(slug=slug, values=values, user=user)
                counts["created"] += 1
            else:
                connection_update(connection=existing, values=values, user=user)
                counts["updated"] += 1
    return counts


def can_view(user, connection: Connection) -> bool:
    return visible_connections(user).filter(pk=connection.pk).exists()


def can_change(user, connection: Connection, permission: str) -> bool:
    """Change or delete: the capability, within the user's namespaces (like use)."""
    return can(user, permission) and serves_only(namespace_scope(user), connection.namespaces)
