"""The OpenAPI schema at /api/schema/ describes the whole API as it really answers.

Every route under /api/ is in it with every method; every success answer has a typed body; every error answer
has the shared error body; and real calls against a small ingested graph (each operation at least once, with
its success code, and the usual refusals) answer bodies that validate against the schema of their operation and
status code. A view that grows a field keeps conforming; one that renames, drops or retypes a field, or answers
a status its schema does not declare, fails here.
"""

import json
import re
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from schemathesis import checks
from schemathesis.core.failures import FailureGroup

from governance.tokens import create_token
from lineage.models import QuarantinedEvent, RawEvent

from .conftest import login, make_user
from .events import dataset, job_type, run_event
from .test_connections import totp_code

pytestmark = pytest.mark.django_db

# Routes under /api/ that are not operations of the API: the schema and its docs page, and the one view that
# answers every /namespaces/... path by splitting it at a known namespace (its named routes, each with the view
# that answers it, are what the schema lists).
NOT_OPERATIONS = {"api/schema/", "api/docs/", "api/v1/namespaces/{path}"}
JSON = "application/json"
RUN_ID = "0196a1e4-1111-7000-8000-000000000001"
NEXT_RUN_ID = "0196a1e4-1111-7000-8000-000000000002"


@pytest.fixture
def schema(client, cast):
    login(client, cast["vera"])
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    client.logout()
    return response.json()


# --- The schema covers the API ----------------------------------------------------------------------------------


def api_routes(patterns=None, prefix: str = ""):
    """(path as OpenAPI writes it, view class) of every route of the URLconf."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from api_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            # drf-spectacular names a `pk` parameter `id` (SCHEMA_COERCE_PATH_PK).
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{%s}" % ("id" if m[1] == "pk" else m[1]), route)
            view = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            yield path, view or entry.callback


def methods_of(view) -> set[str]:
    if not isinstance(view, type):
        return {"a function view (its methods cannot be listed)"}
    return {m for m in view.http_method_names if m not in ("head", "options", "trace") and hasattr(view, m)}


def test_every_api_route_is_in_the_schema_with_every_method(schema):
    described = {path: set(operations) for path, operations in schema["paths"].items()}
    missing = []
    for path, view in api_routes():
        if not path.startswith("api/") or path in NOT_OPERATIONS:
            continue
        for method in sorted(methods_of(view)):
            if method not in described.get("/" + path, set()):
                missing.append(f"{method.upper()} /{path}")
    assert missing == []
    assert "post" in described["/api/v1/lineage"] and "post" in described["/api/v1/lineage/batch"]


def test_the_schema_is_valid_openapi_and_is_served_as_json_on_request(schema, client, cast):
    validate_schema(schema)
    login(client, cast["vera"])
    by_header = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert by_header.status_code == 200 and by_header.json()["paths"] == schema["paths"]


def test_the_schema_generates_without_warnings_or_errors():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    SchemaGenerator().get_schema(request=None, public=True)
    assert (dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache)) == ({}, {})


def test_the_schema_is_for_logged_in_users_and_token_holders_only(client):
    assert client.get("/api/schema/", {"format": "json"}).status_code in (401, 403)


def untyped_answers(schema) -> list[str]:
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, answer in operation["responses"].items():
                content = answer.get("content", {})
                if code == "204":
                    if content:
                        found.append(f"{method.upper()} {path} 204 has a body")
                    continue
                if not content:
                    found.append(f"{method.upper()} {path} {code} has no body")
                for media_type, body in content.items():
                    described = body.get("schema") or {}
                    free_form = described.get("type") == "object" and not (
                        described.get("properties") or described.get("allOf") or described.get("anyOf")
                    )
                    if not described or free_form:
                        found.append(f"{method.upper()} {path} {code} {media_type}")
    return found


def test_no_answer_of_any_operation_lacks_a_typed_body(schema):
    assert untyped_answers(schema) == []


def test_every_operation_declares_its_refusals_with_the_shared_error_body(schema):
    lacking = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = operation["responses"]
            if "401" not in codes or "403" not in codes:
                lacking.append(f"{method.upper()} {path}: no 401/403")
            for code, answer in codes.items():
                if code in ("400", "422") or not code.startswith("4"):
                    continue
                if answer.get("content", {}).get(JSON, {}).get("schema") != {"$ref": "#/components/schemas/Error"}:
                    lacking.append(f"{method.upper()} {path} {code}")
    assert lacking == []
    error = schema["components"]["schemas"]["Error"]["properties"]
    assert {"code", "message", "errors"} <= set(error)
    assert set(error["errors"]["items"]["properties"]) >= {"path", "message"}


def test_ingestion_takes_the_openlineage_event_kinds_of_the_spec(schema):
    components = schema["components"]["schemas"]
    single = schema["paths"]["/api/v1/lineage"]["post"]["requestBody"]["content"][JSON]["schema"]
    batch = schema["paths"]["/api/v1/lineage/batch"]["post"]["requestBody"]["content"][JSON]["schema"]
    assert single == {"$ref": "#/components/schemas/OpenLineageEvent"}
    assert batch == {"type": "array", "items": single}
    kinds = [one["$ref"].rsplit("/", 1)[-1] for one in components["OpenLineageEvent"]["oneOf"]]
    assert kinds == ["OpenLineageRunEvent", "OpenLineageDatasetEvent", "OpenLineageJobEvent"]
    assert components["OpenLineageRun"]["required"] == ["runId"]
    assert components["OpenLineageJob"]["required"] == ["namespace", "name"]
    assert components["OpenLineageBaseEvent"]["required"] == ["eventTime", "producer", "schemaURL"]


# --- Real answers conform ---------------------------------------------------------------------------------------


def as_json_schema(node):
    """OpenAPI 3.0 schema objects as JSON Schema: `nullable: true` lets null through whatever the rest says (as
    drf-spectacular means it, also beside `allOf`), and `example` is only documentation."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: as_json_schema(value) for key, value in node.items() if key not in ("nullable", "example")}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


class Conformance:
    """Checks answers against the schema of their operation and status code."""

    def __init__(self, schema: dict):
        self.schema = schema

    def validator(self, body_schema: dict) -> Draft202012Validator:
        # The components travel with the schema, so `#/components/schemas/...` resolves.
        return Draft202012Validator(as_json_schema({**body_schema, "components": self.schema["components"]}))

    def __call__(self, response, method: str, path: str, status: int | None = None):
        operation = self.schema["paths"][path][method]
        code = response.status_code
        body = getattr(response, "content", b"") if not response.streaming else b"".join(response.streaming_content)
        if status is not None:
            assert code == status, (method, path, code, body[:500])
        declared = operation["responses"].get(str(code))
        assert declared is not None, f"{method.upper()} {path} answered {code}, which its schema does not declare"
        CALLED.add((method, path, code))
        if code == 204:
            assert not body and not declared.get("content")
            return response
        media_type = response["Content-Type"].split(";")[0].strip()
        assert media_type in declared["content"], (method, path, code, media_type)
        if media_type == JSON:
            errors = sorted(
                self.validator(declared["content"][media_type]["schema"]).iter_errors(json.loads(body)),
                key=lambda e: list(e.path),
            )
            assert not errors, f"{method.upper()} {path} {code}: " + "; ".join(
                f"{'/'.join(map(str, e.path))}: {e.message[:300]}" for e in errors[:5]
            )
        return response


# What the conformance tests of this file called, for the last test's count.
CALLED: set[tuple[str, str, int]] = set()
RAN: set[str] = set()


@pytest.fixture
def conforms(schema, request):
    RAN.add(request.node.name)
    return Conformance(schema)


def graph_events() -> list[dict]:
    """A DAG task reading an owned table and writing a table with column lineage, run twice."""
    orders = dataset("warehouse", "public.orders", fields=["id", "amount"], owners=["team:sales"])
    totals = dataset(
        "warehouse",
        "public.totals",
        fields=["amount"],
        column_lineage={"amount": [("warehouse", "public.orders", "amount")]},
    )
    return [
        run_event(
            "START",
            run_id=RUN_ID,
            job=("airflow", "etl.load"),
            inputs=[orders],
            outputs=[totals],
            job_facets=job_type("TASK"),
        ),
        run_event(
            "COMPLETE", run_id=RUN_ID, job=("airflow", "etl.load"), seconds=60, inputs=[orders], outputs=[totals]
        ),
        run_event(
            "COMPLETE", run_id=NEXT_RUN_ID, job=("airflow", "etl.load"), seconds=3600, inputs=[orders], outputs=[totals]
        ),
    ]


def test_ingestion_answers_conform_to_the_schema(client, conforms, post_event, ingest_token):
    event, *others = graph_events()
    conforms(post_event(event), "post", "/api/v1/lineage", 201)
    conforms(post_event(event), "post", "/api/v1/lineage", 200)
    broken = {**others[0], "run": {}}
    conforms(post_event(broken), "post", "/api/v1/lineage", 400)
    conforms(post_event(b"not json"), "post", "/api/v1/lineage", 400)
    conforms(post_event(event, token=None), "post", "/api/v1/lineage", 401)
    conforms(post_event(event, content_type="text/plain"), "post", "/api/v1/lineage", 415)
    batch = conforms(
        post_event([*others, {"eventTime": "x"}], path="/api/v1/lineage/batch"), "post", "/api/v1/lineage/batch", 200
    )
    assert batch.json()["status"] == "partial_success"
    conforms(post_event({"not": "an array"}, path="/api/v1/lineage/batch"), "post", "/api/v1/lineage/batch", 400)
    conforms(post_event([], path="/api/v1/lineage/batch", token=None), "post", "/api/v1/lineage/batch", 401)


@pytest.fixture
def graph(post_event):
    for event in graph_events():
        assert post_event(event).status_code == 201
    post_event({**graph_events()[0], "run": {}})  # one refused event in the quarantine


def test_lineage_reads_conform_to_the_schema(client, cast, conforms, graph):
    login(client, cast["ada"])
    node = {"nodeId": "dataset:warehouse:public.orders"}
    conforms(client.get("/api/v1/lineage", node), "get", "/api/v1/lineage", 200)
    conforms(client.get("/api/v1/lineage", {**node, "group": "dag", "limit": 1}), "get", "/api/v1/lineage", 200)
    conforms(
        client.get("/api/v1/lineage", {"nodeId": "datasetField:warehouse:public.totals:amount"}),
        "get",
        "/api/v1/lineage",
        200,
    )
    conforms(client.get("/api/v1/lineage", {**node, "depth": -1}), "get", "/api/v1/lineage", 400)
    conforms(client.get("/api/v1/lineage", {"nodeId": "dataset:warehouse:nothing"}), "get", "/api/v1/lineage", 404)
    column = {"nodeId": "dataset:warehouse:public.totals"}
    conforms(client.get("/api/v1/column-lineage", column), "get", "/api/v1/column-lineage", 200)
    conforms(client.get("/api/v1/impact", node), "get", "/api/v1/impact", 200)
    conforms(client.get("/api/v1/lineage/report"), "get", "/api/v1/lineage/report", 200)
    since = {**node, "from": "2025-09-15T10:30:00Z"}
    conforms(client.get("/api/v1/lineage/diff", since), "get", "/api/v1/lineage/diff", 200)
    conforms(client.get("/api/v1/lineage/diff", node), "get", "/api/v1/lineage/diff", 400)
    conforms(client.get("/api/v1/metadata", node), "get", "/api/v1/metadata", 200)
    login(client, cast["stan"])
    edit = {"description": "Orders", "tags": ["sales"], "owners": [{"name": "team:sales", "type": "team"}]}
    patched = client.patch("/api/v1/metadata?nodeId=dataset:warehouse:public.orders", edit, content_type=JSON)
    conforms(patched, "patch", "/api/v1/metadata", 200)
    client.logout()
    conforms(client.get("/api/v1/lineage", node), "get", "/api/v1/lineage", None)


def test_marquez_reads_conform_to_the_schema(client, cast, conforms, graph):
    login(client, cast["vera"])
    ns, ds, job = "warehouse", "public.totals", "etl.load"
    conforms(client.get("/api/v1/namespaces"), "get", "/api/v1/namespaces", 200)
    conforms(client.get("/api/v1/namespaces", {"limit": 5000}), "get", "/api/v1/namespaces", 400)
    conforms(client.get(f"/api/v1/namespaces/{ns}"), "get", "/api/v1/namespaces/{namespace}", 200)
    conforms(client.get("/api/v1/namespaces/nowhere"), "get", "/api/v1/namespaces/{namespace}", 404)
    conforms(client.get(f"/api/v1/namespaces/{ns}/datasets"), "get", "/api/v1/namespaces/{namespace}/datasets", 200)
    path = "/api/v1/namespaces/{namespace}/datasets/{dataset}"
    conforms(client.get(f"/api/v1/namespaces/{ns}/datasets/{ds}"), "get", path, 200)
    versions = conforms(client.get(f"/api/v1/namespaces/{ns}/datasets/{ds}/versions"), "get", path + "/versions", 200)
    version = versions.json()["versions"][0]["version"]
    conforms(
        client.get(f"/api/v1/namespaces/{ns}/datasets/{ds}/versions/{version}"),
        "get",
        path + "/versions/{version}",
        200,
    )
    conforms(client.get("/api/v1/namespaces/airflow/jobs"), "get", "/api/v1/namespaces/{namespace}/jobs", 200)
    conforms(
        client.get(f"/api/v1/namespaces/airflow/jobs/{job}"), "get", "/api/v1/namespaces/{namespace}/jobs/{job}", 200
    )
    conforms(
        client.get(f"/api/v1/namespaces/airflow/jobs/{job}/runs"),
        "get",
        "/api/v1/namespaces/{namespace}/jobs/{job}/runs",
        200,
    )
    conforms(client.get("/api/v1/jobs"), "get", "/api/v1/jobs", 200)
    conforms(client.get(f"/api/v1/jobs/runs/{RUN_ID}"), "get", "/api/v1/jobs/runs/{id}", 200)
    conforms(
        client.get(f"/api/v1/jobs/runs/{RUN_ID}/facets", {"type": "job"}), "get", "/api/v1/jobs/runs/{id}/facets", 200
    )
    conforms(client.get("/api/v1/search", {"q": "orders"}), "get", "/api/v1/search", 200)
    conforms(client.get("/api/v1/search"), "get", "/api/v1/search", 400)
    conforms(client.get("/api/v1/events/lineage"), "get", "/api/v1/events/lineage", 200)


def test_quarantine_answers_conform_to_the_schema(client, cast, conforms, graph):
    login(client, cast["otto"])
    listed = conforms(client.get("/api/v1/quarantine"), "get", "/api/v1/quarantine", 200)
    item = listed.json()["events"][0]["id"]
    conforms(client.get(f"/api/v1/quarantine/{item}"), "get", "/api/v1/quarantine/{id}", 200)
    conforms(client.post(f"/api/v1/quarantine/{item}/replay"), "post", "/api/v1/quarantine/{id}/replay", 422)
    fixable = QuarantinedEvent.objects.get(pk=item)
    fixable.status = QuarantinedEvent.Status.PENDING
    fixable.body = RawEvent.objects.order_by("pk").first().body.replace(RUN_ID, "0196a1e4-1111-7000-8000-00000000000f")
    fixable.save()
    conforms(client.post(f"/api/v1/quarantine/{item}/replay"), "post", "/api/v1/quarantine/{id}/replay", 200)
    conforms(client.post(f"/api/v1/quarantine/{item}/replay"), "post", "/api/v1/quarantine/{id}/replay", 409)
    login(client, cast["vera"])
    conforms(client.get("/api/v1/quarantine"), "get", "/api/v1/quarantine", 403)


def test_token_and_connection_answers_conform_to_the_schema(client, cast, conforms):
    login(client, cast["devi"])
    made = conforms(
        client.post("/api/v1/tokens", {"name": "airflow", "scope": "ingest"}, content_type=JSON),
        "post",
        "/api/v1/tokens",
        201,
    )
    token = made.json()["id"]
    conforms(client.post("/api/v1/tokens", {"scope": "root"}, content_type=JSON), "post", "/api/v1/tokens", 400)
    conforms(client.get("/api/v1/tokens"), "get", "/api/v1/tokens", 200)
    conforms(client.get(f"/api/v1/tokens/{token}"), "get", "/api/v1/tokens/{id}", 200)
    conforms(client.delete(f"/api/v1/tokens/{token}"), "delete", "/api/v1/tokens/{id}", 204)
    conforms(client.get("/api/v1/tokens/99999"), "get", "/api/v1/tokens/{id}", 404)

    fields = {
        "id": "warehouse",
        "connType": "postgres",
        "host": "127.0.0.1",
        "port": 1,
        "login": "etl",
        "password": "s3cret",
        "extra": {"sslmode": "disable"},
    }
    conforms(client.post("/api/v1/connections", fields, content_type=JSON), "post", "/api/v1/connections", 201)
    conforms(client.get("/api/v1/connections"), "get", "/api/v1/connections", 200)
    one = "/api/v1/connections/{slug}"
    conforms(client.get("/api/v1/connections/warehouse"), "get", one, 200)
    conforms(
        client.patch("/api/v1/connections/warehouse", {"description": "DWH"}, content_type=JSON), "patch", one, 200
    )
    conforms(client.post("/api/v1/connections/warehouse/reveal"), "post", one + "/reveal", 403)
    conforms(client.post("/api/v1/reauth", {"password": "wrong"}, content_type=JSON), "post", "/api/v1/reauth", 400)
    conforms(
        client.post(
            "/api/v1/reauth",
            {"password": "Devi-password-1", "code": totp_code(cast["devi"])},
            content_type=JSON,
        ),
        "post",
        "/api/v1/reauth",
        200,
    )
    revealed = conforms(client.post("/api/v1/connections/warehouse/reveal"), "post", one + "/reveal", 200)
    assert revealed.json() == {"password": "s3cret", "extra": {"sslmode": "disable"}}
    conforms(client.post("/api/v1/connections/warehouse/test"), "post", one + "/test", 200)
    conforms(client.delete("/api/v1/connections/warehouse"), "delete", one, 204)
    conforms(client.get("/api/v1/connections/warehouse"), "get", one, 404)


def test_audit_and_compliance_answers_conform_to_the_schema(client, cast, conforms, graph):
    login(client, cast["audrey"])
    conforms(client.get("/api/v1/audit"), "get", "/api/v1/audit", 200)
    conforms(client.get("/api/v1/audit", {"format": "csv"}), "get", "/api/v1/audit", 200)
    conforms(client.get("/api/v1/audit", {"limit": 0}), "get", "/api/v1/audit", 400)
    conforms(client.post("/api/v1/audit/verify", {}, content_type=JSON), "post", "/api/v1/audit/verify", 200)
    report = conforms(client.get("/api/v1/compliance/report"), "get", "/api/v1/compliance/report", 200)
    conforms(client.get("/api/v1/compliance/report", {"format": "pdf"}), "get", "/api/v1/compliance/report", 200)
    conforms(client.get("/api/v1/compliance/report", {"start": "soon"}), "get", "/api/v1/compliance/report", 400)
    conforms(
        client.get(f"/api/v1/compliance/reports/{report['X-Report-Id']}/signature"),
        "get",
        "/api/v1/compliance/reports/{id}/signature",
        200,
    )
    conforms(client.get("/api/v1/compliance/checks"), "get", "/api/v1/compliance/checks", 200)
    conforms(client.post("/api/v1/compliance/checks"), "post", "/api/v1/compliance/checks", 200)
    rules = conforms(client.get("/api/v1/compliance/rules"), "get", "/api/v1/compliance/rules", 200)
    rule = rules.json()["rules"][0]["id"]
    conforms(client.get(f"/api/v1/compliance/rules/{rule}"), "get", "/api/v1/compliance/rules/{id}", 200)
    conforms(client.get("/api/v1/compliance/holds"), "get", "/api/v1/compliance/holds", 200)
    conforms(client.get("/api/v1/classifications"), "get", "/api/v1/classifications", 200)
    preview = {"nodeId": "dataset:warehouse:public.orders", "classification": "PII"}
    conforms(client.get("/api/v1/classifications/preview", preview), "get", "/api/v1/classifications/preview", 200)

    login(client, cast["ada"])
    conforms(
        client.patch(f"/api/v1/compliance/rules/{rule}", {"enabled": False}, content_type=JSON),
        "patch",
        "/api/v1/compliance/rules/{id}",
        200,
    )
    hold = {"kind": "dataset", "namespace": "warehouse", "name": "public.orders", "reason": "litigation"}
    placed = conforms(
        client.post("/api/v1/compliance/holds", hold, content_type=JSON), "post", "/api/v1/compliance/holds", 201
    )
    conforms(
        client.post(f"/api/v1/compliance/holds/{placed.json()['id']}/release"),
        "post",
        "/api/v1/compliance/holds/{id}/release",
        200,
    )

    narrowed = make_user("nina", "viewer", namespaces=("warehouse",))
    login(client, narrowed)
    conforms(client.get("/api/v1/audit"), "get", "/api/v1/audit", 403)
    conforms(
        client.get("/api/v1/lineage", {"nodeId": "dataset:warehouse:public.orders"}), "get", "/api/v1/lineage", 200
    )


# --- Generated requests (schemathesis) ---------------------------------------------------------------------------

FUZZED_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@contextmanager
def in_test_transaction():
    """Calls to the WSGI application itself, inside the test's transaction: Django's request signals would close
    the connection (its test client unhooks them the same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def fuzzed(operation, application, *, headers: dict):
    """A Hypothesis test of one operation: generated requests, their answers checked."""

    @given(case=operation.as_strategy())
    @settings(max_examples=10, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def call(case):
        response = case.call(app=application, headers=headers)
        case.validate_response(response, checks=FUZZED_CHECKS)

    return call


def test_generated_requests_get_declared_answers_and_never_a_server_error(schema, graph, ingest_token):
    """schemathesis makes requests from the schema for every read operation (with a read token) and for both
    ingestion operations (with an ingest token): each answer is one its operation declares, with the declared media
    type and a body of the declared shape, and never a 5xx. Derandomized and few examples, to stay quick and
    stable; the writes of governance are covered by the calls above."""
    reader = create_token(name="schemathesis", scope="read").secret
    application = get_wsgi_application()
    failures = []
    for result in schemathesis.openapi.from_dict(schema).get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "GET":
            token = reader
        elif operation.path in ("/api/v1/lineage", "/api/v1/lineage/batch"):
            token = ingest_token
        else:
            continue
        call = fuzzed(operation, application, headers={"Authorization": f"Bearer {token}"})
        try:
            with in_test_transaction():
                call()
        except (Exception, FailureGroup) as error:  # schemathesis' failures are a BaseExceptionGroup
            failures.append(f"{operation.method.upper()} {operation.path}: {str(error)[:1500]}")
    assert failures == [], "\n\n".join(failures)


def test_every_operation_was_called_with_a_success_code_above(schema, request):
    """The conformance tests above call every operation of the schema at least once with a success code (when
    the whole file runs: a selection of tests calls less)."""
    conformance_tests = {item.name for item in request.session.items if "conforms" in item.fixturenames}
    if not conformance_tests <= RAN:
        pytest.skip("run the whole file: only some of the conformance tests ran")
    operations = {(method, path) for path, ops in schema["paths"].items() for method in ops}
    succeeded = {(method, path) for method, path, code in CALLED if 200 <= code < 300}
    assert sorted(operations - succeeded) == []
