"""Every endpoint and page × every role (plus anonymous, a user with no role): allowed or refused.

One table. A URL the table does not cover fails `test_every_url_has_a_rule`, so a new endpoint cannot ship
without deciding who may use it.
"""

import json
from dataclasses import dataclass, field

import pytest
from django.urls import get_resolver

from governance.tokens import create_token
from lineage.derive import derive_pending
from lineage.models import QuarantinedEvent
from lineage.services import ingest_event

from .conftest import CAST, login, make_user
from .events import dataset, run_event

ROLES = tuple(CAST.values())
READERS = ROLES
STEWARDS = ("steward", "operator", "developer", "admin")
OPERATORS = ("operator", "developer", "admin")
DEVELOPERS = ("developer", "admin")
ADMINS = ("admin",)
ANYONE = "anyone"  # no login needed
LOGGED_IN = "logged in"  # any logged-in user, with or without a role

NODE = "dataset:pg://db:orders"


@dataclass
class Rule:
    route: str  # the URL pattern, as Django lists it
    method: str
    allowed: tuple[str, ...] | str
    url: str = ""  # the concrete URL to call (default: the route)
    body: dict | None = field(default=None)
    form: dict | None = field(default=None)  # sent as a browser form (multipart) instead of JSON
    page: bool = False  # a browser page: anonymous is sent to the login page

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
    Rule("datasets/<path:path>", "GET", READERS, url="datasets/pg://db/orders", page=True),
    Rule("jobs/<path:path>", "GET", READERS, url="jobs/airflow/etl.load", page=True),
    Rule("lineage/", "GET", READERS, url=f"lineage/?nodeId={NODE}", page=True),
    Rule("impact/", "GET", READERS, url=f"impact/?nodeId={NODE}", page=True),
    Rule("metadata/", "POST", STEWARDS, form={"node": NODE, "tags": "pii"}, page=True),
    Rule("tokens/", "GET", DEVELOPERS, page=True),
    Rule("tokens/<int:pk>/revoke", "POST", DEVELOPERS, url="tokens/{token}/revoke", page=True),
    Rule("admin/", "GET", ADMINS, page=True),
    Rule("api/schema/", "GET", LOGGED_IN),
    Rule("api/docs/", "GET", LOGGED_IN),
    Rule("api/v1/lineage", "GET", READERS, url=f"api/v1/lineage?nodeId={NODE}"),
    Rule("api/v1/lineage/report", "GET", READERS),
    Rule("api/v1/lineage/diff", "GET", READERS, url=f"api/v1/lineage/diff?nodeId={NODE}&from=2020-01-01T00:00:00Z"),
    Rule("api/v1/column-lineage", "GET", READERS, url=f"api/v1/column-lineage?nodeId={NODE}"),
    Rule("api/v1/impact", "GET", READERS, url=f"api/v1/impact?nodeId={NODE}"),
    Rule("api/v1/metadata", "GET", READERS, url=f"api/v1/metadata?nodeId={NODE}"),
    Rule("api/v1/metadata", "PATCH", STEWARDS, url=f"api/v1/metadata?nodeId={NODE}", body={"tags": ["pii"]}),
    Rule("api/v1/quarantine", "GET", OPERATORS),
    Rule("api/v1/quarantine/<int:pk>", "GET", OPERATORS, url="api/v1/quarantine/{quarantined}"),
    Rule("api/v1/quarantine/<int:pk>/replay", "POST", OPERATORS, url="api/v1/quarantine/{quarantined}/replay"),
    Rule("api/v1/tokens", "GET", DEVELOPERS),
    Rule("api/v1/tokens", "POST", DEVELOPERS, body={"name": "new", "scope": "read"}),
    Rule("api/v1/tokens/<int:pk>", "GET", DEVELOPERS, url="api/v1/tokens/{token}"),
    Rule("api/v1/tokens/<int:pk>", "DELETE", DEVELOPERS, url="api/v1/tokens/{token}"),
    # Marquez-compatible reads.
    Rule("api/v1/namespaces", "GET", READERS),
    Rule("api/v1/namespaces/<path:path>", "GET", READERS, url="api/v1/namespaces/pg://db/datasets/orders"),
    Rule("api/v1/jobs", "GET", READERS),
    Rule("api/v1/jobs/runs/<path:id>", "GET", READERS, url="api/v1/jobs/runs/r1"),
    Rule("api/v1/jobs/runs/<path:id>/facets", "GET", READERS, url="api/v1/jobs/runs/r1/facets"),
    Rule("api/v1/search", "GET", READERS, url="api/v1/search?q=orders"),
    Rule("api/v1/events/lineage", "GET", READERS),
]
# Routes that only name Marquez's paths for the OpenAPI schema: requests reach namespaces/<path:path> first.
SCHEMA_ONLY_PREFIX = "api/v1/namespaces/<path:namespace>"
# Ingestion is for ingest tokens, not people: its own tests (test_ingest_api) cover tokens and refusals.
TOKEN_ONLY = {("api/v1/lineage", "POST"), ("api/v1/lineage/batch", "POST")}
# Django's admin has its own staff and permission checks; the matrix covers its entrance.
COVERED_ELSEWHERE_PREFIXES = ("admin/",)


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
    users = {name: make_user(name, role) for name, role in CAST.items()}
    users["nobody"] = make_user("nobody", None)
    return {"users": users, "quarantined": broken.pk}


WHO = (*CAST, "nobody", "anonymous")


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_the_role_matrix(client, world, rule, who):
    user = world["users"].get(who)
    if user is not None:
        login(client, user)
    token = create_token(name="someone's", scope="read", owner=world["users"]["devi"]).token
    url = "/" + rule.url.format(quarantined=world["quarantined"], token=token.pk) if rule.url else "/" + rule.route
    kwargs = {}
    if rule.body is not None:
        kwargs = {"data": json.dumps(rule.body), "content_type": "application/json"}
    if rule.form is not None:
        kwargs = {"data": rule.form}
    response = getattr(client, rule.method.lower())(url, **kwargs)

    role = CAST.get(who)
    if rule.allowed == ANYONE:
        allowed = True
    elif rule.allowed == LOGGED_IN:
        allowed = user is not None
    else:
        allowed = role in rule.allowed
    if allowed:
        assert response.status_code < 500
        assert response.status_code not in (401, 403), (response.status_code, response.content[:300])
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
