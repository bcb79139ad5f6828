"""Every endpoint and page × every role (plus anonymous, a user with no role, and a developer narrowed to one
namespace by a grant): allowed or refused.

One table. A URL the table does not cover fails `test_every_url_has_a_rule`, so a new endpoint cannot ship
without deciding who may use it.
"""

import json
from dataclasses import dataclass, field

import pytest
from django.urls import get_resolver
from django.utils import timezone

from compliance.models import ComplianceReport, LegalHold
from governance.models import Connection
from governance.tokens import create_token
from lineage.derive.queue import derive_pending
from lineage.ingest.services import ingest_event
from lineage.models import QuarantinedEvent

from .conftest import CAST, login, make_user
from .events import dataset, run_event

ROLES = tuple(CAST.values())
READERS = ROLES
STEWARDS = ("steward", "operator", "developer", "admin")
OPERATORS = ("operator", "developer", "admin")
DEVELOPERS = ("developer", "admin")
ADMINS = ("admin",)
CONNECTION_VIEWERS = ("operator", "developer", "auditor", "admin")
AUDITORS = ("auditor", "admin")
ANYONE = "anyone"  # no login needed
LOGGED_IN = "logged in"  # any logged-in user, with or without a role

NODE = "dataset:pg://db:orders"
# A developer whose grants narrow the role to the namespace "other": refused wherever the URL names an object of
# another namespace (the rule says `scoped`), as if it did not exist (404) or with 403.
NARROWED, NARROWED_ROLE = "nina", "developer"


@dataclass
class Rule:
    route: str  # the URL pattern, as Django lists it
    method: str
    allowed: tuple[str, ...] | str
    url: str = ""  # the concrete URL to call (default: the route)
    body: dict | None = field(default=None)
    form: dict | None = field(default=None)  # sent as a browser form (multipart) instead of JSON
    page: bool = False  # a browser page: anonymous is sent to the login page
    # Names an object in a namespace the narrowed user may not act in, or is for users of every namespace (the
    # quarantine: a refused event's namespace cannot be trusted; a token wider than one's own grants).
    scoped: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.route or '/'}"


RULES = [
    Rule("healthz", "GET", ANYONE),
    Rule("metrics", "GET", ANYONE),
    Rule("accounts/login/", "GET", ANYONE, page=True),
    Rule("accounts/logout/", "POST", ANYONE, page=True),
    Rule("accounts/password_change/", "GET", LOGGED_IN, page=True),
    Rule("accounts/password_change/done/", "GET", LOGGED_IN, page=True),
    Rule("account/mfa/setup/", "GET", LOGGED_IN, page=True),
    Rule("account/mfa/verify/", "GET", LOGGED_IN, page=True),
    Rule("account/mfa/recovery/", "GET", LOGGED_IN, page=True),
    Rule("", "GET", READERS, page=True),
    # The steward's pages (issue 8): reading for every role, editing for stewards and up.
    Rule("search/", "GET", READERS, url="search/?q=orders", page=True),
    Rule("datasets/<path:path>", "GET", READERS, url="datasets/pg://db/orders", page=True, scoped=True),
    Rule("jobs/<path:path>", "GET", READERS, url="jobs/airflow/etl.load", page=True, scoped=True),
    Rule("lineage/", "GET", READERS, url=f"lineage/?nodeId={NODE}", page=True, scoped=True),
    Rule("impact/", "GET", READERS, url=f"impact/?nodeId={NODE}", page=True, scoped=True),
    Rule("metadata/", "POST", STEWARDS, form={"node": NODE, "tags": "pii"}, page=True, scoped=True),
    Rule("tokens/", "GET", DEVELOPERS, page=True),
    Rule("tokens/<int:pk>/revoke", "POST", DEVELOPERS, url="tokens/{token}/revoke", page=True),
    Rule("admin/", "GET", ADMINS, page=True),
    Rule("api/schema/", "GET", LOGGED_IN),
    Rule("api/docs/", "GET", LOGGED_IN),
    Rule("api/v1/lineage", "GET", READERS, url=f"api/v1/lineage?nodeId={NODE}", scoped=True),
    Rule("api/v1/lineage/report", "GET", READERS),
    Rule(
        "api/v1/lineage/diff",
        "GET",
        READERS,
        url=f"api/v1/lineage/diff?nodeId={NODE}&from=2020-01-01T00:00:00Z",
        scoped=True,
    ),
    Rule("api/v1/column-lineage", "GET", READERS, url=f"api/v1/column-lineage?nodeId={NODE}", scoped=True),
    Rule("api/v1/impact", "GET", READERS, url=f"api/v1/impact?nodeId={NODE}", scoped=True),
    Rule("api/v1/metadata", "GET", READERS, url=f"api/v1/metadata?nodeId={NODE}", scoped=True),
    Rule(
        "api/v1/metadata", "PATCH", STEWARDS, url=f"api/v1/metadata?nodeId={NODE}", body={"tags": ["pii"]}, scoped=True
    ),
    Rule("api/v1/quarantine", "GET", OPERATORS, scoped=True),
    Rule("api/v1/quarantine/<int:pk>", "GET", OPERATORS, url="api/v1/quarantine/{quarantined}", scoped=True),
    Rule(
        "api/v1/quarantine/<int:pk>/replay",
        "POST",
        OPERATORS,
        url="api/v1/quarantine/{quarantined}/replay",
        scoped=True,
    ),
    Rule("api/v1/tokens", "GET", DEVELOPERS),
    Rule("api/v1/tokens", "POST", DEVELOPERS, body={"name": "new", "scope": "read"}, scoped=True),
    Rule("api/v1/tokens/<int:pk>", "GET", DEVELOPERS, url="api/v1/tokens/{token}"),
    Rule("api/v1/tokens/<int:pk>", "DELETE", DEVELOPERS, url="api/v1/tokens/{token}"),
    # Connections: metadata for operators, developers, admins and auditors; use for operators and up; changes
    # for developers and admins.
    Rule("connections/", "GET", CONNECTION_VIEWERS, page=True),
    Rule("connections/new", "GET", DEVELOPERS, page=True),
    Rule("connections/<slug:slug>/", "GET", CONNECTION_VIEWERS, url="connections/wh/", page=True, scoped=True),
    Rule("connections/<slug:slug>/edit", "GET", DEVELOPERS, url="connections/wh/edit", page=True, scoped=True),
    Rule("connections/<slug:slug>/delete", "POST", DEVELOPERS, url="connections/wh/delete", page=True, scoped=True),
    Rule("connections/<slug:slug>/test", "POST", OPERATORS, url="connections/wh/test", page=True, scoped=True),
    Rule("connections/<slug:slug>/reveal", "POST", OPERATORS, url="connections/wh/reveal", page=True, scoped=True),
    Rule("api/v1/connections", "GET", CONNECTION_VIEWERS),
    Rule("api/v1/connections", "POST", DEVELOPERS, body={"id": "new", "connType": "postgres", "namespaces": ["other"]}),
    Rule("api/v1/connections/<slug:slug>", "GET", CONNECTION_VIEWERS, url="api/v1/connections/wh", scoped=True),
    Rule(
        "api/v1/connections/<slug:slug>",
        "PATCH",
        DEVELOPERS,
        url="api/v1/connections/wh",
        body={"host": "h"},
        scoped=True,
    ),
    Rule("api/v1/connections/<slug:slug>", "DELETE", DEVELOPERS, url="api/v1/connections/wh", scoped=True),
    # Reveal answers 403 "re-authenticate first" even to those allowed; the allowed/refused split is in
    # test_connections. Here: who gets past the door (a 403 with reauthenticate=true counts as allowed).
    Rule("api/v1/connections/<slug:slug>/reveal", "POST", OPERATORS, url="api/v1/connections/wh/reveal", scoped=True),
    Rule("api/v1/connections/<slug:slug>/test", "POST", OPERATORS, url="api/v1/connections/wh/test", scoped=True),
    Rule("api/v1/reauth", "POST", CONNECTION_VIEWERS, body={"password": "wrong"}),
    # Audit trail and compliance: auditors and admins; rules and holds are changed by admins.
    Rule("audit/", "GET", AUDITORS, page=True),
    Rule("api/v1/audit", "GET", AUDITORS),
    Rule("api/v1/audit/verify", "POST", AUDITORS, body={}),
    Rule("compliance/", "GET", AUDITORS, page=True),
    Rule("api/v1/compliance/report", "GET", AUDITORS),
    Rule(
        "api/v1/compliance/reports/<int:pk>/signature",
        "GET",
        AUDITORS,
        url="api/v1/compliance/reports/{report}/signature",
    ),
    Rule("api/v1/compliance/checks", "GET", AUDITORS),
    Rule("api/v1/compliance/checks", "POST", AUDITORS),
    Rule("api/v1/compliance/rules", "GET", AUDITORS),
    Rule("api/v1/compliance/rules/<slug:pk>", "GET", AUDITORS, url="api/v1/compliance/rules/session-timeout"),
    Rule(
        "api/v1/compliance/rules/<slug:pk>",
        "PATCH",
        ADMINS,
        url="api/v1/compliance/rules/session-timeout",
        body={"severity": "high"},
    ),
    Rule("api/v1/compliance/holds", "GET", AUDITORS),
    Rule("api/v1/compliance/holds", "POST", ADMINS, body={"kind": "namespace", "namespace": "pg://db", "reason": "x"}),
    Rule("api/v1/compliance/holds/<int:pk>/release", "POST", ADMINS, url="api/v1/compliance/holds/{hold}/release"),
    Rule("api/v1/classifications", "GET", READERS),
    Rule("classifications/flow/", "GET", READERS, url=f"classifications/flow/?nodeId={NODE}", page=True, scoped=True),
    Rule(
        "api/v1/classifications/preview",
        "GET",
        READERS,
        url=f"api/v1/classifications/preview?nodeId={NODE}&classification=PII",
        scoped=True,
    ),
    # Marquez-compatible reads.
    Rule("api/v1/namespaces", "GET", READERS),
    Rule("api/v1/namespaces/<path:path>", "GET", READERS, url="api/v1/namespaces/pg://db/datasets/orders", scoped=True),
    Rule("api/v1/jobs", "GET", READERS),
    Rule("api/v1/jobs/runs/<path:id>", "GET", READERS, url="api/v1/jobs/runs/r1", scoped=True),
    Rule("api/v1/jobs/runs/<path:id>/facets", "GET", READERS, url="api/v1/jobs/runs/r1/facets?type=run", scoped=True),
    Rule("api/v1/search", "GET", READERS, url="api/v1/search?q=orders"),
    Rule("api/v1/events/lineage", "GET", READERS),
]
# Routes that only name Marquez's paths for the OpenAPI schema: requests reach namespaces/<path:path> first.
SCHEMA_ONLY_PREFIX = "api/v1/namespaces/<path:namespace>"
# Ingestion is for ingest tokens, not people: its own tests (test_ingest_api) cover tokens and refusals.
TOKEN_ONLY = {("api/v1/lineage", "POST"), ("api/v1/lineage/batch", "POST")}
# Django's admin has its own staff and permission checks; the matrix covers its entrance.
COVERED_ELSEWHERE_PREFIXES = ("admin/",)


def _asks_to_reauthenticate(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json") and response.json().get("reauthenticate")


def url_patterns(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if hasattr(pattern, "url_patterns"):
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def test_every_url_has_a_rule():
    covered = {rule.route for rule in RULES} | {route for route, _ in TOKEN_ONLY}
    missing = sorted(
        route
        for route in set(url_patterns())
        if route not in covered
        and not route.startswith((*COVERED_ELSEWHERE_PREFIXES, SCHEMA_ONLY_PREFIX))
        and route != "static/"
    )
    assert missing == [], "add these URLs to RULES with the roles allowed to use them"


@pytest.fixture
def world(db):
    ingest_event(
        event=run_event("COMPLETE", run_id="r1", job=("airflow", "etl.load"), outputs=[dataset("pg://db", "orders")]),
        source="cli",
        derive=False,
    )
    derive_pending()
    broken = QuarantinedEvent.objects.create(body="{}", errors=[{"path": "", "message": "x"}], reason="x", source="api")
    Connection.objects.create(slug="wh", conn_type="generic", host="wh.example")
    users = {name: make_user(name, role) for name, role in CAST.items()}
    users["nobody"] = make_user("nobody", None)
    users[NARROWED] = make_user(NARROWED, NARROWED_ROLE, namespaces=("other",))
    report = ComplianceReport.objects.create(
        start=timezone.now(), end=timezone.now(), format="json", sha256="0", signature="", key_id="", size=0
    )
    hold = LegalHold.objects.create(kind="namespace", namespace="pg://db", reason="litigation")
    return {"users": users, "quarantined": broken.pk, "report": report.pk, "hold": hold.pk}


WHO = (*CAST, "nobody", "anonymous", NARROWED)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_the_role_matrix(client, world, rule, who):
    user = world["users"].get(who)
    if user is not None:
        login(client, user)
    token = create_token(name="someone's", scope="read", owner=world["users"]["devi"]).token
    ids = {key: world[key] for key in ("quarantined", "report", "hold")}
    url = "/" + rule.url.format(token=token.pk, **ids) if rule.url else "/" + rule.route
    kwargs = {}
    if rule.body is not None:
        kwargs = {"data": json.dumps(rule.body), "content_type": "application/json"}
    if rule.form is not None:
        kwargs = {"data": rule.form}
    response = getattr(client, rule.method.lower())(url, **kwargs)

    role = NARROWED_ROLE if who == NARROWED else CAST.get(who)
    if rule.allowed == ANYONE:
        allowed = True
    elif rule.allowed == LOGGED_IN:
        allowed = user is not None
    else:
        allowed = role in rule.allowed
    if who == NARROWED and allowed and rule.scoped:
        assert response.status_code in (403, 404), (response.status_code, response.content[:300])
    elif allowed:
        assert response.status_code < 500
        door_open = response.status_code not in (401, 403) or _asks_to_reauthenticate(response)
        assert door_open, (response.status_code, response.content[:300])
        if rule.page and user is not None:
            assert not response.get("Location", "").startswith("/accounts/login/")
    elif user is None:
        if rule.page:
            assert response.status_code == 302 and response["Location"].startswith(
                ("/accounts/login/", "/admin/login/")
            )
        else:
            assert response.status_code == 401
    else:
        if rule.route == "admin/":
            assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
        else:
            assert response.status_code == 403, (response.status_code, response.content[:300])
