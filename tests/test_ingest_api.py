"""POST /api/v1/lineage and /api/v1/lineage/batch, as CONTRACT.md describes them."""

import gzip
from datetime import timedelta

import orjson
import pytest
from django.utils import timezone

from governance.tokens import create_token, revoke_token
from lineage.models import Dataset, QuarantinedEvent, RawEvent, Run

from .conftest import INVALID_DIR, example_event_names, invalid_event_names, load_event, requires_postgres

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", example_event_names())
def test_every_example_event_is_accepted_then_recognised_as_a_duplicate(post_event, name):
    event = load_event(name)
    first = post_event(event)
    assert first.status_code == 201, first.json()
    assert first.json()["warnings"] == [] or name == "generic_complete_full_custom_facets.json"
    again = post_event(event)
    assert again.status_code == 200
    assert RawEvent.objects.count() == 1


def test_the_raw_event_is_stored_verbatim_with_its_token(post_event, ingest_token):
    body = b'{"eventType":"START",  "eventTime":"2020-12-28T19:51:01.641Z", ' + (
        b'"run":{"runId":"43d7db3b-8984-4cda-b237-8c6919b36670"},"job":{"namespace":"ns","name":"j"},'
        b'"producer":"p","schemaURL":"s"}'
    )
    assert post_event(body).status_code == 201
    raw = RawEvent.objects.get()
    assert raw.body.encode() == body
    assert raw.token.prefix == ingest_token[: len(raw.token.prefix)]
    assert raw.received_at is not None and raw.source == "api"


def test_gzip_bodies_are_accepted(post_event):
    response = post_event(load_event("airflow_bq_dag_start.json"), gzip_body=True)
    assert response.status_code == 201
    assert Run.objects.filter(run_id=load_event("airflow_bq_dag_start.json")["run"]["runId"]).exists()


def test_an_event_without_run_id_is_refused_and_quarantined(post_event):
    response = post_event(load_event("event_no_run_id.json", INVALID_DIR))
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/run/runId"
    assert RawEvent.objects.count() == 0
    quarantined = QuarantinedEvent.objects.get()
    assert quarantined.errors == response.json()["errors"]
    assert quarantined.pk == response.json()["quarantineId"]


@pytest.mark.parametrize("name", [n for n in invalid_event_names() if n != "event_no_run_id.json"])
def test_a_malformed_standard_facet_is_accepted_with_a_warning(post_event, name):
    response = post_event(load_event(name, INVALID_DIR))
    assert response.status_code == 201
    warnings = response.json()["warnings"]
    assert warnings and all("/facets/" in w["path"] or "Facets/" in w["path"] for w in warnings)
    assert RawEvent.objects.get().warnings == warnings


def test_wrong_types_are_refused_naming_the_path(post_event):
    event = load_event("airflow_bq_dag_start.json")
    event["run"]["runId"] = 42
    response = post_event(event)
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["/run/runId"]


def test_not_json_is_a_400_and_stores_nothing_in_the_lineage(post_event):
    response = post_event(b"{this is not json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["errors"][0]["message"]
    assert RawEvent.objects.count() == 0


def test_a_non_json_content_type_is_a_415(post_event):
    response = post_event(load_event("airflow_bq_dag_start.json"), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert RawEvent.objects.count() == 0


def test_a_body_over_the_limit_is_a_413(post_event, settings):
    settings.TRIBUTARY_MAX_EVENT_BYTES = 1024
    event = load_event("airflow_bq_dag_start.json")
    event["job"]["facets"]["documentation"] = {"_producer": "p", "_schemaURL": "s", "description": "x" * 2000}
    assert post_event(event).status_code == 413
    assert post_event(event, gzip_body=True).status_code == 413  # small on the wire, big once decompressed
    assert RawEvent.objects.count() == 0


def test_bad_gzip_is_a_400(post_event, client, ingest_token):
    response = client.generic(
        "POST",
        "/api/v1/lineage",
        b"\x1f\x8b\x08\x00not really gzip",
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
        HTTP_AUTHORIZATION=f"Bearer {ingest_token}",
    )
    assert response.status_code == 400
    assert "gzip" in response.json()["errors"][0]["message"]
    truncated = gzip.compress(orjson.dumps(load_event("airflow_bq_dag_start.json")))[:-20]
    response = client.generic(
        "POST",
        "/api/v1/lineage",
        truncated,
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
        HTTP_AUTHORIZATION=f"Bearer {ingest_token}",
    )
    assert response.status_code == 400
    assert RawEvent.objects.count() == 0


def test_no_token_or_a_wrong_one_is_a_401(post_event):
    event = load_event("airflow_bq_dag_start.json")
    assert post_event(event, token=None).status_code == 401
    response = post_event(event, token="trb_not-a-real-token")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert RawEvent.objects.count() == 0


def test_revoked_and_expired_tokens_are_refused(post_event):
    event = load_event("airflow_bq_dag_start.json")
    revoked = create_token(name="old", scope="ingest")
    revoke_token(token=revoked.token)
    expired = create_token(name="tmp", scope="ingest", expires_at=timezone.now() - timedelta(seconds=1))
    assert post_event(event, token=revoked.secret).status_code == 401
    assert post_event(event, token=expired.secret).status_code == 401


def test_a_read_token_cannot_write_lineage(post_event):
    reader = create_token(name="script", scope="read")
    assert post_event(load_event("airflow_bq_dag_start.json"), token=reader.secret).status_code == 403
    assert RawEvent.objects.count() == 0


def test_a_token_outside_its_namespaces_is_a_403(post_event):
    finance = create_token(name="finance-airflow", scope="ingest", namespaces=["finance"])
    event = load_event("airflow_bq_dag_start.json")  # job namespace "airflow"
    response = post_event(event, token=finance.secret)
    assert response.status_code == 403
    assert "airflow" in response.json()["errors"][0]["message"]
    event["job"]["namespace"] = "finance"
    assert post_event(event, token=finance.secret).status_code == 201
    assert RawEvent.objects.count() == 1


def test_token_refusals_are_in_the_audit_trail_without_the_secret(client, post_event):
    from governance.models import AuditRecord

    finance = create_token(name="finance-airflow", scope="ingest", namespaces=["finance"])
    reader = create_token(name="script", scope="read")
    event = load_event("airflow_bq_dag_start.json")  # job namespace "airflow"
    assert post_event(event, token=finance.secret).status_code == 403
    assert post_event(event, token=reader.secret).status_code == 403
    other = load_event("airflow_bq_dag_start.json")
    other["job"]["namespace"] = "finance"
    batch = client.post(
        "/api/v1/lineage/batch",
        orjson.dumps([event, other]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {finance.secret}",
    )
    assert batch.json()["summary"]["failed"] == 1
    denied = list(AuditRecord.objects.filter(action="access.denied").order_by("sequence"))
    assert [(r.actor_label, r.outcome, r.detail["path"]) for r in denied] == [
        (f"token:{finance.token.prefix}", "denied", "/api/v1/lineage"),
        (f"token:{reader.token.prefix}", "denied", "/api/v1/lineage"),
        (f"token:{finance.token.prefix}", "denied", "/api/v1/lineage/batch"),
    ]
    assert "'airflow'" in denied[0].detail["reason"] and denied[2].detail["indexes"] == [0]
    everything = str(list(AuditRecord.objects.values()))
    assert finance.secret not in everything and reader.secret not in everything


def test_the_token_records_when_it_was_last_used(post_event, ingest_token):
    from governance.models import ApiToken

    post_event(load_event("airflow_bq_dag_start.json"))
    assert ApiToken.objects.get().last_used_at is not None


def test_a_batch_reports_each_failure_in_the_spec_shape(post_event):
    good = [load_event(n) for n in ("airflow_bq_dag_start.json", "airflow_gcs_to_bigquery_task_start.json")]
    bad = load_event("event_no_run_id.json", INVALID_DIR)
    response = post_event([good[0], bad, good[1], good[0]], path="/api/v1/lineage/batch")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "partial_success"
    assert body["summary"] | {} == {"received": 4, "successful": 3, "failed": 1, "retriable": 0, "non_retriable": 1}
    assert body["failed_events"] == [{"index": 1, "reason": body["failed_events"][0]["reason"], "retriable": False}]
    assert "/run/runId" in body["failed_events"][0]["reason"]
    assert RawEvent.objects.count() == 2
    assert QuarantinedEvent.objects.count() == 1
    assert Run.objects.count() == 2


def test_a_batch_of_valid_events_is_a_success(post_event):
    events = [load_event(n) for n in example_event_names()]
    response = post_event(events, path="/api/v1/lineage/batch", gzip_body=True)
    assert response.json()["status"] == "success"
    assert response.json()["summary"]["successful"] == len(events)
    assert Dataset.objects.exists()


def test_a_batch_must_be_an_array(post_event):
    response = post_event(load_event("airflow_bq_dag_start.json"), path="/api/v1/lineage/batch")
    assert response.status_code == 400
    assert "array" in response.json()["errors"][0]["message"]
    assert RawEvent.objects.count() == 0


def test_a_batch_element_outside_the_token_namespaces_fails_alone(post_event):
    token = create_token(name="t", scope="ingest", namespaces=["airflow"])
    inside = load_event("airflow_bq_dag_start.json")
    outside = load_event("generic_start_with_schema.json")
    body = post_event([inside, outside], token=token.secret, path="/api/v1/lineage/batch").json()
    assert body["summary"]["successful"] == 1
    assert body["failed_events"][0]["index"] == 1
    assert "namespace" in body["failed_events"][0]["reason"]


# --- The one-statement way (PostgreSQL): services.ingest_event_as --------------------------------------------------


def used(issued, *, ago=timedelta(seconds=5)):
    """A token whose use was recorded `ago`: the state of nearly every token of a running Airflow."""
    from governance.models import ApiToken

    ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=timezone.now() - ago)
    return issued


@requires_postgres()
def test_the_one_statement_way_takes_only_a_token_in_good_standing_allowed_the_namespace():
    from governance.tokens import LAST_USED_RESOLUTION, digest
    from lineage.ingest.services import ACCEPTED, DUPLICATE, ingest_event_as

    event = load_event("airflow_bq_dag_start.json")  # job namespace "airflow"
    body = orjson.dumps(event).decode()
    expired = create_token(name="tmp", scope="ingest", expires_at=timezone.now() + timedelta(seconds=60))
    revoked = used(create_token(name="old", scope="ingest"))
    revoke_token(token=revoked.token)
    declined = {
        "never used (its first use is recorded the usual way)": create_token(name="new", scope="ingest"),
        "use recorded too long ago": used(create_token(name="idle", scope="ingest"), ago=LAST_USED_RESOLUTION * 2),
        "revoked": revoked,
        "read scope": used(create_token(name="script", scope="read")),
        "another namespace": used(create_token(name="fin", scope="ingest", namespaces=["finance"])),
        "expired": used(expired),
        "unknown": None,
    }
    from governance.models import ApiToken

    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for why, issued in declined.items():
        secret_digest = digest(issued.secret if issued else "trb_unknown")
        assert ingest_event_as(event=event, body=body, token_digest=secret_digest) is None, why
    assert RawEvent.objects.count() == 0

    allowed = used(create_token(name="airflow", scope="ingest", namespaces=["finance", "airflow"]))
    first = ingest_event_as(event=event, body=body, token_digest=digest(allowed.secret))
    assert first.outcome == ACCEPTED and first.raw_event_id == RawEvent.objects.get().pk
    again = ingest_event_as(event=event, body=body, token_digest=digest(allowed.secret))
    assert again.outcome == DUPLICATE and again.raw_event_id == first.raw_event_id
    invalid = load_event("event_no_run_id.json", INVALID_DIR)
    assert ingest_event_as(event=invalid, body="{}", token_digest=digest(allowed.secret)) is None


@requires_postgres()
def test_both_ways_store_the_same_row_and_queue_it(post_event):
    from lineage.models import DeriveQueue

    issued = create_token(name="airflow", scope="ingest")
    first, second = load_event("airflow_bq_dag_start.json"), load_event("airflow_bq_dag_complete_airflow_state.json")
    assert post_event(first, token=issued.secret).status_code == 201  # first use: the usual way
    assert post_event(second, token=issued.secret).status_code == 201  # then in one statement
    rows = list(RawEvent.objects.order_by("pk").values("token_id", "source", "kind", "warnings", "event_type"))
    assert rows[0] == {**rows[1], "event_type": "START"} and rows[1]["event_type"] == "COMPLETE"
    assert RawEvent.objects.get(event_type="COMPLETE").body == orjson.dumps(second).decode()
    assert Run.objects.get().state == "COMPLETED"  # queued, and derived on commit
    assert not DeriveQueue.objects.exists()


@requires_postgres()
def test_a_token_in_use_is_refused_at_once_when_revoked_or_outside_its_namespaces(post_event):
    from governance.models import AuditRecord

    issued = create_token(name="fin", scope="ingest", namespaces=["finance"])
    event = load_event("airflow_bq_dag_start.json")
    event["job"]["namespace"] = "finance"
    assert post_event(event, token=issued.secret).status_code == 201
    elsewhere = load_event("airflow_bq_dag_complete_airflow_state.json")  # namespace "airflow"
    assert post_event(elsewhere, token=issued.secret).status_code == 403
    assert AuditRecord.objects.filter(action="access.denied").count() == 1
    revoke_token(token=issued.token)
    event["eventType"] = "COMPLETE"
    assert post_event(event, token=issued.secret).status_code == 401
    assert RawEvent.objects.count() == 1
