"""What a token may read: a read token reads lineage; governance data needs a session with its second factor or a
governance-read token, which only an admin makes. Tokens expire, and stop with their owner's account."""

from datetime import timedelta
from types import SimpleNamespace

import orjson
import pytest
from django.contrib.auth.models import Group
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.views import APIView

from governance.models import ApiToken, AuditRecord, Connection
from governance.permissions import RolePermission
from governance.tokens import create_token
from lineage.derive.queue import derive_pending
from lineage.ingest.services import ingest_event
from lineage.models import QuarantinedEvent, RawEvent

from .conftest import CAST, load_event, login, make_user, requires_postgres
from .events import dataset, run_event

pytestmark = pytest.mark.django_db

NODE = "dataset:pg://db:orders"
LINEAGE, GOVERNANCE, SESSION = frozenset({"read", "governance-read"}), frozenset({"governance-read"}), frozenset()
READ_TOKEN_ANSWER = (
    "read tokens read lineage; the audit trail needs a session with a second factor or a governance-read token"
)

# Every API view, and the token scopes it accepts. A new view fails test_every_api_view_declares_its_token_scopes
# until it is listed here: deciding which tokens may read it is part of adding it.
TOKEN_SCOPES = {
    "api/v1/lineage": LINEAGE,  # GET; POST is ingestion, with its own token check
    "api/v1/lineage/batch": SESSION,  # ingestion only, with its own token check
    "api/v1/lineage/report": LINEAGE,
    "api/v1/lineage/diff": LINEAGE,
    "api/v1/column-lineage": LINEAGE,
    "api/v1/impact": LINEAGE,
    "api/v1/metadata": LINEAGE,
    "api/v1/classifications": LINEAGE,
    "api/v1/classifications/preview": LINEAGE,
    "api/v1/namespaces": LINEAGE,
    "api/v1/namespaces/<path:path>": LINEAGE,
    "api/v1/jobs": LINEAGE,
    "api/v1/jobs/runs/<path:id>": LINEAGE,
    "api/v1/jobs/runs/<path:id>/facets": LINEAGE,
    "api/v1/search": LINEAGE,
    "api/v1/events/lineage": LINEAGE,
    "api/v1/quarantine": SESSION,
    "api/v1/quarantine/<int:pk>": SESSION,
    "api/v1/quarantine/<int:pk>/replay": SESSION,
    "api/v1/tokens": SESSION,
    "api/v1/tokens/<int:pk>": SESSION,
    "api/v1/connections": GOVERNANCE,
    "api/v1/connections/<slug:slug>": GOVERNANCE,
    "api/v1/connections/<slug:slug>/reveal": SESSION,
    "api/v1/connections/<slug:slug>/test": SESSION,
    "api/v1/reauth": SESSION,
    "api/v1/audit": GOVERNANCE,
    "api/v1/audit/verify": SESSION,
    "api/v1/compliance/report": GOVERNANCE,
    "api/v1/compliance/reports/<int:pk>/signature": GOVERNANCE,
    "api/v1/compliance/checks": GOVERNANCE,
    "api/v1/compliance/rules": GOVERNANCE,
    "api/v1/compliance/rules/<slug:pk>": GOVERNANCE,
    "api/v1/compliance/holds": GOVERNANCE,
    "api/v1/compliance/holds/<int:pk>/release": GOVERNANCE,
}
# Views that do not use the shared permission class: ingestion checks its ingest token itself; the API's
# description is for anyone signed in or holding a token (it holds no data).
OWN_PERMISSIONS = {"api/v1/lineage/batch", "api/schema/", "api/docs/"}
SCHEMA_ONLY_PREFIX = "api/v1/namespaces/<path:namespace>"  # named routes for the schema, reached through <path:path>

LINEAGE_READS = [
    f"/api/v1/lineage?nodeId={NODE}",
    f"/api/v1/column-lineage?nodeId={NODE}",
    f"/api/v1/impact?nodeId={NODE}",
    "/api/v1/lineage/report",
    f"/api/v1/lineage/diff?nodeId={NODE}&from=2020-01-01T00:00:00Z",
    f"/api/v1/metadata?nodeId={NODE}",
    "/api/v1/namespaces",
    "/api/v1/namespaces/pg://db/datasets/orders",
    "/api/v1/namespaces/airflow/jobs/etl.load/runs",
    "/api/v1/jobs",
    "/api/v1/jobs/runs/r1",
    "/api/v1/search?q=orders",
    "/api/v1/events/lineage",
]
GOVERNANCE_READS = [
    "/api/v1/audit",
    "/api/v1/audit?format=csv",
    "/api/v1/compliance/checks",
    "/api/v1/compliance/rules",
    "/api/v1/connections",
    "/api/v1/connections/wh",
]


def url_patterns(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if hasattr(pattern, "url_patterns"):
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def message(response) -> str:
    body = response.json()
    return str(body.get("detail") or body.get("message") or body.get("errors"))


def enrol(user) -> TOTPDevice:
    """The user has a second factor (a confirmed authenticator app)."""
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


@pytest.fixture
def world(db):
    ingest_event(
        event=run_event("COMPLETE", run_id="r1", job=("airflow", "etl.load"), outputs=[dataset("pg://db", "orders")]),
        source="cli",
        derive=False,
    )
    derive_pending()
    broken = QuarantinedEvent.objects.create(
        body='{"secret": "raw payload"}', errors=[{"path": "", "message": "x"}], reason="x", source="api"
    )
    Connection.objects.create(slug="wh", conn_type="generic", host="wh.example")
    users = {name: make_user(name, role) for name, role in CAST.items()}
    return {"users": users, "quarantined": broken.pk}


# --- The declarations ---------------------------------------------------------------------------------------------


def test_every_api_view_declares_its_token_scopes():
    found = {}
    for route, callback in url_patterns():
        view = getattr(callback, "view_class", None)
        if view is None or not issubclass(view, APIView) or route.startswith(SCHEMA_ONLY_PREFIX):
            continue
        reader = view()
        reader.request = SimpleNamespace(method="GET")
        permissions = {type(permission) for permission in reader.get_permissions()}
        if route in OWN_PERMISSIONS:
            assert RolePermission not in permissions, route
            continue
        assert RolePermission in permissions, f"{route} does not use the shared permission class"
        found[route] = frozenset(getattr(view, "token_scopes", frozenset()))
    assert found == {route: scopes for route, scopes in TOKEN_SCOPES.items() if route not in OWN_PERMISSIONS}


# --- The attacks: a read token minted for oneself ----------------------------------------------------------------


def test_a_developers_read_token_cannot_read_connections_the_quarantine_or_the_token_list(client, world):
    devi = world["users"]["devi"]
    secret = create_token(name="mine", scope="read", owner=devi).secret
    refusals = {
        "/api/v1/connections": "connection metadata",
        "/api/v1/connections/wh": "connection metadata",
        "/api/v1/quarantine": "the quarantine",
        f"/api/v1/quarantine/{world['quarantined']}": "the quarantine",
        "/api/v1/tokens": "the token list",
        f"/api/v1/tokens/{ApiToken.objects.get().pk}": "the token list",
    }
    for url, data in refusals.items():
        response = client.get(url, **bearer(secret))
        assert response.status_code == 403, url
        assert data in message(response) and "raw payload" not in response.content.decode(), url
    # The same developer, signed in with the second factor, reads them all.
    login(client, devi)
    assert all(client.get(url).status_code == 200 for url in refusals)


def test_an_auditors_read_token_cannot_read_the_audit_trail(client, world):
    secret = create_token(name="audit-script", scope="read", owner=world["users"]["audrey"]).secret
    response = client.get("/api/v1/audit", **bearer(secret))
    assert response.status_code == 403
    assert message(response) == READ_TOKEN_ANSWER
    assert client.get("/api/v1/audit?format=jsonl", **bearer(secret)).status_code == 403
    for url in ("/api/v1/compliance/report", "/api/v1/compliance/checks", "/api/v1/connections"):
        response = client.get(url, **bearer(secret))
        assert response.status_code == 403 and "governance-read token" in message(response), url
    refusal = AuditRecord.objects.filter(action="access.denied").order_by("sequence").first()
    assert refusal.detail["reason"] == READ_TOKEN_ANSWER


def test_a_read_token_reads_all_of_lineage(client, world):
    secret = create_token(name="script", scope="read", owner=world["users"]["vera"]).secret
    for url in LINEAGE_READS:
        assert client.get(url, **bearer(secret)).status_code == 200, url
    assert client.head("/api/v1/lineage/report", **bearer(secret)).status_code == 200


def test_an_admins_tokens_read_what_their_scope_allows_and_no_more(client, world):
    ada = world["users"]["ada"]
    enrol(ada)
    reader = create_token(name="lineage", scope="read", owner=ada).secret
    governor = create_token(name="governance", scope="governance-read", owner=ada).secret
    for url in LINEAGE_READS:
        assert client.get(url, **bearer(reader)).status_code == 200, url
        assert client.get(url, **bearer(governor)).status_code == 200, url
    for url in GOVERNANCE_READS:
        assert client.get(url, **bearer(reader)).status_code == 403, url
        assert client.get(url, **bearer(governor)).status_code == 200, url
    for url in ("/api/v1/tokens", "/api/v1/quarantine"):  # a session's, whatever the token
        assert client.get(url, **bearer(governor)).status_code == 403, url


def test_a_read_token_only_reads(client, world):
    enrol(world["users"]["ada"])
    secret = create_token(name="script", scope="governance-read", owner=world["users"]["ada"]).secret
    auth = bearer(secret)
    tries = [
        ("patch", f"/api/v1/metadata?nodeId={NODE}", {"tags": ["pii"]}),
        ("put", f"/api/v1/metadata?nodeId={NODE}", {"tags": ["pii"]}),
        ("post", "/api/v1/connections", {"id": "new", "connType": "postgres"}),
        ("delete", "/api/v1/connections/wh", None),
        ("post", "/api/v1/connections/wh/reveal", {}),
        ("post", f"/api/v1/quarantine/{world['quarantined']}/replay", {}),
        ("post", "/api/v1/tokens", {"name": "more", "scope": "read"}),
        ("post", "/api/v1/audit/verify", {}),
        ("post", "/api/v1/compliance/checks", {}),
    ]
    for method, url, body in tries:
        response = getattr(client, method)(url, orjson.dumps(body), content_type="application/json", **auth)
        assert response.status_code == 403, (method, url, response.content[:200])
    assert client.options("/api/v1/lineage/report", **auth).status_code == 403
    assert client.post("/api/v1/lineage", orjson.dumps(load_event("airflow_bq_dag_start.json")),
                       content_type="application/json", **auth).status_code == 403  # fmt: skip
    assert Connection.objects.count() == 1 and not RawEvent.objects.filter(source="api").exists()
    assert ApiToken.objects.count() == 1


def test_an_ingest_token_reads_nothing(client, world):
    secret = create_token(name="airflow", scope="ingest", owner=world["users"]["ada"]).secret
    for url in [*LINEAGE_READS, *GOVERNANCE_READS, "/api/v1/tokens", "/api/v1/quarantine"]:
        response = client.get(url, **bearer(secret))
        assert response.status_code == 403, url
        assert message(response) == "ingest tokens write lineage and read nothing", url


def test_a_token_whose_owner_lost_their_role_reads_nothing(client, world):
    vera = world["users"]["vera"]
    secret = create_token(name="script", scope="read", owner=vera).secret
    assert client.get("/api/v1/lineage/report", **bearer(secret)).status_code == 200
    vera.groups.remove(Group.objects.get(name="viewer"))
    assert client.get("/api/v1/lineage/report", **bearer(secret)).status_code == 403
    assert client.get("/api/v1/namespaces", **bearer(secret)).status_code == 403


def test_a_token_whose_owner_was_deactivated_is_refused(client, world):
    audrey = world["users"]["audrey"]
    enrol(audrey)
    tokens = [create_token(name=s, scope=s, owner=audrey).secret for s in ("read", "governance-read")]
    assert client.get("/api/v1/audit", **bearer(tokens[1])).status_code == 200
    audrey.is_active = False
    audrey.save()
    for secret in tokens:
        response = client.get("/api/v1/lineage/report", **bearer(secret))
        assert response.status_code == 401 and "deactivated" in message(response)
        assert client.get("/api/v1/audit", **bearer(secret)).status_code == 401


def test_a_governance_read_token_of_someone_who_never_enrolled_a_second_factor_reads_no_governance_data(client, world):
    audrey = world["users"]["audrey"]
    with pytest.raises(ValueError, match="second factor"):
        create_token(name="audit-tool", scope="governance-read", owner=audrey)
    device = enrol(audrey)
    secret = create_token(name="audit-tool", scope="governance-read", owner=audrey).secret
    device.delete()  # never enrolled (any more): the token must not stand in for the missing factor
    response = client.get("/api/v1/audit", **bearer(secret))
    assert response.status_code == 403 and "second factor" in message(response)
    assert client.get("/api/v1/compliance/checks", **bearer(secret)).status_code == 403
    assert client.get("/api/v1/lineage/report", **bearer(secret)).status_code == 200  # lineage needs no factor


def test_a_governance_read_token_stays_within_its_owners_rights_and_namespaces(client, world):
    devi = world["users"]["devi"]
    enrol(devi)
    secret = create_token(name="ops", scope="governance-read", owner=devi, namespaces=["airflow"]).secret
    assert client.get("/api/v1/connections", **bearer(secret)).status_code == 200
    assert client.get("/api/v1/audit", **bearer(secret)).status_code == 403  # a developer reads no audit trail
    assert client.get(f"/api/v1/lineage?nodeId={NODE}", **bearer(secret)).status_code == 404  # not its namespace
    assert client.get("/api/v1/namespaces/airflow/jobs/etl.load", **bearer(secret)).status_code == 200


# --- Governance-read tokens are made on purpose, by admins ------------------------------------------------------


def test_an_admin_makes_a_governance_read_token_for_an_auditor_and_it_reads_the_audit_trail(client, world):
    ada, audrey = world["users"]["ada"], world["users"]["audrey"]
    enrol(audrey)
    login(client, ada)
    made = client.post(
        "/api/v1/tokens",
        {"name": "auditor-tool", "scope": "governance-read", "owner": "audrey"},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["scope"], body["owner"]) == ("governance-read", "audrey") and body["expiresAt"]
    listed = client.get("/api/v1/tokens").json()["tokens"]
    assert [(t["name"], t["scope"], t["owner"]) for t in listed] == [("auditor-tool", "governance-read", "audrey")]
    page = client.get("/tokens/").content.decode()
    assert "<strong>governance-read</strong> (reads governance data)" in page
    created = AuditRecord.objects.filter(action="token.created").get()
    assert created.actor_label == "ada" and created.changes["scope"]["after"] == "governance-read"
    assert created.changes["owner"]["after"] == "audrey"

    client.logout()
    assert client.get("/api/v1/audit", **bearer(body["token"])).status_code == 200
    assert client.get("/api/v1/compliance/checks", **bearer(body["token"])).status_code == 200


def test_an_admin_makes_a_governance_read_token_on_the_tokens_page(client, world):
    enrol(world["users"]["audrey"])
    login(client, world["users"]["ada"])
    form = client.get("/tokens/").content.decode()
    assert 'value="governance-read"' in form and 'name="owner"' in form
    page = client.post("/tokens/", {"name": "tool", "scope": "governance-read", "owner": "audrey"}).content.decode()
    token = ApiToken.objects.get(name="tool")
    assert (token.scope, token.owner.username) == ("governance-read", "audrey") and 'id="new-token">trb_' in page
    assert "Scope <strong>governance-read</strong>: read lineage and governance data (audit, compliance" in page


def test_the_tokens_page_offers_the_read_scope_first_not_the_writing_one(client, world):
    login(client, world["users"]["ada"])
    form = client.get("/tokens/").content.decode()
    assert '<option value="read" selected>' in form and '<option value="ingest">' in form


def test_an_admin_cannot_widen_or_unexpire_a_token_in_django_admin_where_nothing_is_recorded(client, world):
    token = create_token(name="script", scope="read", owner=world["users"]["ada"]).token
    login(client, world["users"]["ada"])
    page = client.get(f"/admin/governance/apitoken/{token.pk}/change/")
    assert page.status_code == 200 and b'name="scope"' not in page.content  # shown, not editable
    changed = client.post(
        f"/admin/governance/apitoken/{token.pk}/change/",
        {"name": "script", "scope": "governance-read", "namespaces": "[]", "expires_at_0": "", "expires_at_1": ""},
    )
    assert changed.status_code == 403
    token.refresh_from_db()
    assert token.scope == "read" and token.expires_at is not None
    assert client.post(f"/admin/governance/apitoken/{token.pk}/delete/", {"post": "yes"}).status_code == 403


def test_a_developer_cannot_make_a_governance_read_token_nor_a_token_for_someone_else(client, world):
    login(client, world["users"]["devi"])
    for asked in (
        {"name": "x", "scope": "governance-read"},
        {"name": "x", "scope": "governance-read", "owner": "ada"},
        {"name": "x", "scope": "read", "owner": "ada"},
    ):
        response = client.post("/api/v1/tokens", asked, content_type="application/json")
        assert response.status_code == 403, asked
    assert "only an admin" in message(response)
    page = client.get("/tokens/").content.decode()
    assert 'value="read"' in page and 'value="governance-read"' not in page and 'name="owner"' not in page
    client.post("/tokens/", {"name": "x", "scope": "governance-read"})
    assert not ApiToken.objects.exists()


def test_a_governance_read_token_needs_an_owner():
    with pytest.raises(ValueError, match="owner"):
        create_token(name="bare", scope="governance-read")


# --- Expiry ----------------------------------------------------------------------------------------------------


def test_tokens_get_their_scopes_default_lifetime(settings):
    settings.TRIBUTARY_TOKEN_LIFETIME_DAYS, settings.TRIBUTARY_INGEST_TOKEN_LIFETIME_DAYS = 90, 365
    now = timezone.now()
    read = create_token(name="script", scope="read").token
    ingest = create_token(name="airflow", scope="ingest").token
    assert timedelta(days=90) <= read.expires_at - now < timedelta(days=90, minutes=1)
    assert timedelta(days=365) <= ingest.expires_at - now < timedelta(days=365, minutes=1)
    assert create_token(name="forever", scope="read", never_expires=True).token.expires_at is None
    settings.TRIBUTARY_TOKEN_LIFETIME_DAYS = 7
    week = create_token(name="short", scope="read").token
    assert timedelta(days=7) <= week.expires_at - now < timedelta(days=7, minutes=1)


def test_a_token_made_over_the_api_or_the_page_shows_its_expiry(client, world):
    login(client, world["users"]["devi"])
    made = client.post("/api/v1/tokens", {"name": "script", "scope": "read"}, content_type="application/json").json()
    assert made["expiresAt"] and made["expires"].endswith("(in 90 days)")
    assert client.get("/api/v1/tokens").json()["tokens"][0]["expiresAt"] == made["expiresAt"]
    later = (timezone.now() + timedelta(days=10)).isoformat()
    chosen = client.post(
        "/api/v1/tokens", {"name": "soon", "scope": "read", "expiresAt": later}, content_type="application/json"
    ).json()
    assert chosen["expires"].endswith("(in 10 days)")
    past = client.post(
        "/api/v1/tokens",
        {"name": "bad", "scope": "read", "expiresAt": "2020-01-01T00:00:00Z"},
        content_type="application/json",
    )
    assert past.status_code == 400 and "future" in past.content.decode()
    page = client.post("/tokens/", {"name": "paged", "scope": "read"}).content.decode()
    expiry = ApiToken.objects.get(name="paged").expires_at
    assert f'id="new-token-expires">{expiry:%Y-%m-%d %H:%M}' in page


def test_an_expired_token_is_refused_saying_it_expired(client, world):
    issued = create_token(name="script", scope="read", owner=world["users"]["vera"])
    assert client.get("/api/v1/lineage/report", **bearer(issued.secret)).status_code == 200
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/lineage/report", **bearer(issued.secret))
    assert response.status_code == 401 and "expired" in message(response)
    assert "Bearer" in response["WWW-Authenticate"]


def test_an_expired_ingest_token_is_refused_saying_it_expired(post_event):
    issued = create_token(name="airflow", scope="ingest", expires_at=timezone.now() - timedelta(seconds=1))
    response = post_event(load_event("airflow_bq_dag_start.json"), token=issued.secret)
    assert response.status_code == 401 and "expired" in message(response)
    assert not RawEvent.objects.exists()


def _one_statement_ran(queries) -> bool:
    return any(q["sql"].startswith("WITH token AS") for q in queries.captured_queries)


@requires_postgres()
def test_the_one_statement_ingestion_refuses_a_token_that_expired_while_in_use(post_event):
    from django.db import connection

    issued = create_token(name="airflow", scope="ingest")
    assert post_event(load_event("airflow_bq_dag_start.json"), token=issued.secret).status_code == 201
    with CaptureQueriesContext(connection) as queries:  # in use: the next event takes the one statement
        complete = load_event("airflow_bq_dag_complete_airflow_state.json")
        assert post_event(complete, token=issued.secret).status_code == 201
    assert _one_statement_ran(queries) and RawEvent.objects.count() == 2
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    event = load_event("airflow_bq_dag_start.json")
    event["run"]["runId"] = "01963f3c-0000-7000-8000-000000000001"
    with CaptureQueriesContext(connection) as queries:
        response = post_event(event, token=issued.secret)
    assert _one_statement_ran(queries)
    assert response.status_code == 401 and "expired" in message(response)
    assert RawEvent.objects.count() == 2


@requires_postgres()
def test_the_one_statement_ingestion_refuses_a_token_whose_owner_was_deactivated(post_event):
    devi = make_user("devi", "developer")
    issued = create_token(name="airflow", scope="ingest", owner=devi)
    assert post_event(load_event("airflow_bq_dag_start.json"), token=issued.secret).status_code == 201
    devi.is_active = False
    devi.save()
    response = post_event(load_event("airflow_bq_dag_complete_airflow_state.json"), token=issued.secret)
    assert response.status_code == 401 and "deactivated" in message(response)
    assert RawEvent.objects.count() == 1
