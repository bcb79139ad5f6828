"""Characters PostgreSQL cannot store are refused at the door.

PostgreSQL's text and jsonb hold neither NUL (U+0000) nor a lone surrogate. JSON can carry a NUL (as the escape
`\\u0000`), so an event can be valid OpenLineage and still impossible to derive: stored raw and queued, it made
every later derivation fail, for every producer. Such an event is refused (400, the JSON pointer of the first
offending value) and kept in the quarantine, whose row must itself be storable.

The attack: a token limited to `airflow` sends an event of its own job whose `documentation` facet says "a\\u0000b".
"""

import json
from datetime import timedelta

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from governance.models import ApiToken
from governance.tokens import create_token
from lineage.ingest import services
from lineage.models import DeriveQueue, Job, QuarantinedEvent, RawEvent
from lineage.validation import may_hold_unstorable, storable_text, unstorable_value, validate_event

from .events import dataset, facet, run_event

NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored"
DESCRIPTION = "/job/facets/documentation/description"


def poisoned(description: str = "a\x00b", **extra) -> dict:
    return run_event(
        "COMPLETE",
        run_id="0199a000-0000-7000-8000-00000000b001",
        job_facets={"documentation": facet(description=description)},
        **extra,
    )


def clean(run_id: str = "0199a000-0000-7000-8000-00000000c001", job=("finance", "load")) -> dict:
    return run_event(
        "COMPLETE",
        run_id=run_id,
        job=job,
        job_facets={"documentation": facet(description="loads the orders")},
        outputs=[dataset("postgres://warehouse:5432", "public.orders")],
    )


@pytest.fixture(params=["usual", "one statement"])
def airflow_token(request, db):
    """A token limited to `airflow`, on its first use or in good standing (on PostgreSQL, the one-statement way
    of services.ingest_event_as)."""
    issued = create_token(name="airflow-only", scope="ingest", namespaces=["airflow"])
    if request.param == "one statement":
        ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=timezone.now() - timedelta(seconds=5))
    return issued.secret


def assert_refused(response, path: str, message: str = NUL_MESSAGE) -> QuarantinedEvent:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == 400
    assert body["errors"] == [{"path": path, "message": message}]
    assert body["message"] == f"{path}: {message}"
    quarantined = QuarantinedEvent.objects.get(pk=body["quarantineId"])
    quarantined.refresh_from_db()  # read back from the database: the row could be stored
    assert quarantined.errors == body["errors"]
    return quarantined


# --- Through the API, as the attacker sends it -------------------------------------------------------------


@pytest.mark.django_db
def test_a_nul_in_a_job_description_is_refused_and_every_producer_carries_on(post_event, airflow_token):
    event = poisoned()
    response = post_event(event, token=airflow_token)

    quarantined = assert_refused(response, DESCRIPTION)
    assert quarantined.token.name == "airflow-only"
    assert orjson.loads(quarantined.body) == event  # the JSON text as sent: the NUL is an escape in it
    assert not RawEvent.objects.exists() and not DeriveQueue.objects.exists()

    # Another producer, with its own token, is not held up by it.
    other = create_token(name="finance", scope="ingest").secret
    assert post_event(clean(), token=other).status_code == 201
    assert Job.objects.get(namespace__name="finance", name="load").description == "loads the orders"
    assert post_event(clean(run_id="0199a000-0000-7000-8000-00000000c002"), token=airflow_token).status_code == 403

    call_command("lineage_rebuild")
    assert Job.objects.filter(namespace__name="finance", name="load").exists()


@pytest.mark.django_db
def test_a_nul_in_a_custom_run_facet_key_is_refused_naming_the_object_that_holds_the_key(post_event, airflow_token):
    event = run_event("COMPLETE", run_id="r-key", run_facets={"x\x00y": facet(value=1)})

    assert_refused(
        post_event(event, token=airflow_token),
        "/run/facets",
        'has a key "x\\u0000y" that contains a NUL character (\\u0000), which cannot be stored',
    )
    assert not RawEvent.objects.exists()


@pytest.mark.django_db
def test_a_nul_in_a_job_name_is_refused_not_a_server_error(post_event, airflow_token):
    event = run_event("START", run_id="r-name", job=("airflow", "etl\x00load"))

    assert_refused(post_event(event, token=airflow_token), "/job/name")
    assert not RawEvent.objects.exists()


@pytest.mark.django_db
def test_a_nul_deep_in_an_output_is_named_by_its_pointer(post_event):
    output = dataset("warehouse", "orders", fields=["id", "amount\x00"])

    assert_refused(
        post_event(run_event("COMPLETE", run_id="r-deep", outputs=[output])), "/outputs/0/facets/schema/fields/1/name"
    )


@pytest.mark.django_db
def test_a_batch_with_a_nul_event_fails_that_event_and_stores_the_others(post_event, airflow_token):
    events = [
        run_event("START", run_id="r-1"),
        poisoned(),
        run_event("COMPLETE", run_id="r-1", seconds=30),
    ]
    response = post_event(events, token=airflow_token, path="/api/v1/lineage/batch")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "partial_success"
    assert body["summary"]["successful"] == 2 and body["summary"]["failed"] == 1
    assert body["failed_events"] == [{"index": 1, "reason": f"{DESCRIPTION}: {NUL_MESSAGE}", "retriable": False}]
    quarantined = QuarantinedEvent.objects.get()
    assert quarantined.source == "batch" and orjson.loads(quarantined.body) == events[1]
    assert RawEvent.objects.count() == 2
    assert Job.objects.get(namespace__name="airflow", name="etl.load").description == ""


@pytest.mark.django_db
def test_a_lone_surrogate_is_refused_as_invalid_json_and_quarantined(post_event):
    body = orjson.dumps(run_event("START", run_id="r-surrogate", job=("airflow", "LONE"))).replace(b"LONE", b"\\ud800")

    response = post_event(body)

    assert response.status_code == 400 and "not valid JSON" in response.json()["message"]
    quarantined = QuarantinedEvent.objects.get()
    assert "\\ud800" in quarantined.body
    assert not RawEvent.objects.exists()
    batch = post_event(b"[" + body + b"]", path="/api/v1/lineage/batch")
    assert batch.status_code == 400 and not RawEvent.objects.exists()


@pytest.mark.django_db
def test_a_body_with_a_raw_nul_byte_is_quarantined_with_the_byte_replaced(post_event):
    response = post_event(b'{"eventTime": "a\x00b"}')

    assert response.status_code == 400 and "not valid JSON" in response.json()["message"]
    quarantined = QuarantinedEvent.objects.get()
    quarantined.refresh_from_db()
    assert quarantined.body == '{"eventTime": "a\ufffdb"}'


@pytest.mark.django_db
def test_a_backslash_before_u0000_is_an_ordinary_string(post_event):
    # JSON text "a\\u0000b": a backslash, then the letters u0000. The quick look at the bytes sees `\u0000`;
    # the walk finds no NUL.
    event = poisoned(description="a\\u0000b")
    assert b'"a\\\\u0000b"' in orjson.dumps(event)

    response = post_event(event)

    assert response.status_code == 201, response.content
    assert Job.objects.get(namespace__name="airflow", name="etl.load").description == "a\\u0000b"
    assert not QuarantinedEvent.objects.exists()


@pytest.mark.django_db
def test_replaying_a_quarantined_nul_event_refuses_it_again_and_keeps_it(post_event):
    quarantined = assert_refused(post_event(poisoned()), DESCRIPTION)

    result = services.replay_quarantined(item=quarantined)

    assert result.outcome == services.REFUSED
    quarantined.refresh_from_db()
    assert quarantined.status == QuarantinedEvent.Status.PENDING
    assert quarantined.errors == [{"path": DESCRIPTION, "message": NUL_MESSAGE}]
    assert not RawEvent.objects.exists()


# --- Other ways in ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_lineage_load_reports_a_nul_event_as_refused_and_loads_the_rest(tmp_path, capsys):
    lines = [orjson.dumps(clean()), orjson.dumps(poisoned()), b'{"eventTime": "a\x00b"}']
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(lines))
    (tmp_path / "batch.json").write_bytes(orjson.dumps([poisoned(description="x\x00"), clean(run_id="r-file")]))

    with pytest.raises(CommandError, match="3 event"):
        call_command("lineage_load", str(tmp_path), "--no-progress")

    out = capsys.readouterr().out
    assert f"events.jsonl:2: {DESCRIPTION}: {NUL_MESSAGE}" in out
    assert f"batch.json[0]: {DESCRIPTION}: {NUL_MESSAGE}" in out
    assert QuarantinedEvent.objects.count() == 3
    assert RawEvent.objects.count() == 2
    assert Job.objects.get(namespace__name="finance", name="load").description == "loads the orders"


@pytest.mark.django_db
def test_an_event_with_a_lone_surrogate_from_python_is_refused_with_its_pointer():
    # Over HTTP orjson refuses lone surrogates; a caller of the service can still hand one over.
    event = run_event("START", run_id="r-py", job=("airflow", "etl\ud800"))

    result = services.ingest_event(event=event, source="cli")

    assert result.outcome == services.REFUSED
    assert result.errors == [
        {"path": "/job/name", "message": "contains a lone surrogate (\\ud800), which cannot be stored"}
    ]
    quarantined = QuarantinedEvent.objects.get(pk=result.quarantine_id)
    assert json.loads(quarantined.body)["job"]["name"] == "etl\ud800"  # kept as a JSON escape
    assert not RawEvent.objects.exists()


# --- The check itself (pure) -------------------------------------------------------------------------------------


def test_the_first_offending_value_in_document_order_is_named():
    event = {"a": ["ok", {"b": "x\x00"}], "c": "\x00"}
    assert unstorable_value(event).path == "/a/1/b"
    assert unstorable_value({"k~/\x00": 1}).path == ""
    assert unstorable_value({"ok": {"x": [1, 2.5, None, True, "é😀"]}}) is None


@pytest.mark.django_db
def test_a_nul_nested_deeper_than_pythons_recursion_limit_is_found(post_event):
    # orjson reads JSON up to 1024 levels deep; Python's recursion stops at 1000 frames.
    deep = b'{"n": ' * 1000 + b'{"leaf": "\\u0000"}' + b"}" * 1000
    body = orjson.dumps(run_event("START", run_id="r-nest", run_facets={"deep": "DEEP"})).replace(b'"DEEP"', deep)

    assert_refused(post_event(body), "/run/facets/deep" + "/n" * 1000 + "/leaf")


def test_the_quick_look_at_the_text_matches_only_escapes_that_could_make_an_unstorable_string():
    assert may_hold_unstorable('{"a": "\\u0000"}')
    assert may_hold_unstorable('{"a": "\\ud800"}') and may_hold_unstorable('{"a": "\\uDFFF"}')
    assert not may_hold_unstorable('{"a": "line\\nbreak, \\u00e9, \\ud7ff, u0000"}')
    # validate_event walks the event only when the text it came from could hide one (or is not given).
    event = {"a": "\x00"}
    assert not any(p.message == NUL_MESSAGE for p in validate_event(event, text='{"a": "b"}').errors)
    assert validate_event(event, text='{"a": "\\u0000"}').errors[0].message == NUL_MESSAGE
    assert validate_event(event).errors[0].message == NUL_MESSAGE


def test_quarantine_text_is_made_storable():
    assert storable_text("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert storable_text("plain é") == "plain é"
