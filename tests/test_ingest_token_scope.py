"""A namespace-limited ingest token draws lineage to other namespaces but does not change their metadata.

The attack: a token limited to `airflow` sends a RunEvent of an `airflow` job whose output, a table in
`postgres://warehouse:5432`, carries `documentation` and `ownership` facets meant to rewrite the table's
description and owner. The edge is lineage and stays; the facets are kept in the raw event, not applied, and
the answer names them.
"""

import random
from datetime import timedelta

import orjson
import pytest
from django.core.management import call_command
from django.utils import timezone

from governance.models import ApiToken
from governance.tokens import create_token
from lineage.derive.fold import fold
from lineage.ingest import services
from lineage.models import ColumnLineage, Dataset, DatasetVersion, Job, JobEdge, RawEvent, Run, RunDataset
from lineage.openlineage import event_hash, parse_event
from lineage.validation import foreign_metadata, scope_warnings

from .conftest import requires_postgres
from .events import PRODUCER, at, dataset, facet, job_type, run_event

WAREHOUSE = "postgres://warehouse:5432"
TABLE = "public.orders"
NOT_YOURS = f"the token may not change metadata of namespace {WAREHOUSE}"
RUN = "0199a000-0000-7000-8000-00000000a001"


def documented(namespace: str, name: str, *, description: str, owner: str, **more) -> dict:
    return dataset(namespace, name, owners=[owner], documentation=facet(description=description), **more)


def job_event(*, job=("airflow", "etl.load"), inputs=(), outputs=(), seconds=0) -> dict:
    return {
        "eventTime": at(seconds),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": {"namespace": job[0], "name": job[1], "facets": {}},
        "inputs": list(inputs),
        "outputs": list(outputs),
    }


def in_good_standing(issued):
    """A token whose use was just recorded, as nearly every token of a running Airflow: on PostgreSQL its
    events are stored by the one-statement way (services.ingest_event_as)."""
    ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=timezone.now() - timedelta(seconds=5))
    return issued


@pytest.fixture(params=["usual", "one statement"])
def airflow_token(request, db):
    """A token limited to `airflow`, on its first use (the usual way) or in good standing (on PostgreSQL, the
    one-statement way; on other databases there is only the usual way)."""
    issued = create_token(name="airflow-only", scope="ingest", namespaces=["airflow"])
    if request.param == "one statement":
        in_good_standing(issued)
    return issued.secret


@pytest.fixture
def warehouse_table(post_event):
    """The warehouse table as its owners described it, with an unlimited token."""
    owners = documented(WAREHOUSE, TABLE, description="Orders, as finance keeps them", owner="team:finance")
    response = post_event(run_event("COMPLETE", run_id="finance-run", job=("finance", "load"), outputs=[owners]))
    assert response.status_code == 201 and response.json()["warnings"] == []
    return Dataset.objects.get(namespace__name=WAREHOUSE, name=TABLE)


def attack(**extra) -> dict:
    forged = documented(WAREHOUSE, TABLE, description="pwned", owner="mallory", **extra)
    return run_event("COMPLETE", run_id=RUN, seconds=60, outputs=[forged])


def assert_unchanged(table: Dataset) -> None:
    now = Dataset.objects.get(namespace__name=WAREHOUSE, name=TABLE)  # a rebuild gives it a new id
    assert (now.description, now.owners) == (
        "Orders, as finance keeps them",
        [{"name": "team:finance", "type": "team"}],
    )
    assert now.facets == table.facets and now.facet_stamps == table.facet_stamps


def edge(job: tuple[str, str], direction: str) -> bool:
    return JobEdge.objects.filter(
        job__namespace__name=job[0],
        job__name=job[1],
        dataset__namespace__name=WAREHOUSE,
        dataset__name=TABLE,
        direction=direction,
    ).exists()


# --- Through the API, as the attacker sends it -------------------------------------------------------------


@pytest.mark.django_db
def test_a_token_limited_to_airflow_draws_the_edge_but_cannot_rewrite_the_warehouse_tables_owner(
    post_event, warehouse_table, airflow_token
):
    event = attack()
    response = post_event(event, token=airflow_token)

    assert response.status_code == 201
    assert response.json()["warnings"] == [
        {"path": "/outputs/0/facets/documentation", "message": NOT_YOURS},
        {"path": "/outputs/0/facets/ownership", "message": NOT_YOURS},
    ]
    assert_unchanged(warehouse_table)
    assert edge(("airflow", "etl.load"), "out")
    raw = RawEvent.objects.get(run_id=RUN)
    assert orjson.loads(raw.body) == event  # kept verbatim, facets and all
    assert raw.namespaces_allowed == ["airflow"] and raw.warnings == response.json()["warnings"]


@pytest.mark.django_db
def test_the_outcome_stands_after_a_rebuild_even_if_the_token_was_widened_since(
    post_event, warehouse_table, airflow_token
):
    assert post_event(attack(), token=airflow_token).status_code == 201
    ApiToken.objects.filter(name="airflow-only").update(namespaces=["airflow", WAREHOUSE])

    call_command("lineage_rebuild")

    assert_unchanged(warehouse_table)
    assert edge(("airflow", "etl.load"), "out")


@pytest.mark.django_db
def test_a_limited_tokens_job_event_and_inputs_change_no_metadata_elsewhere(post_event, warehouse_table, airflow_token):
    statistics = {"dataQualityAssertions": facet(assertions=[{"assertion": "not_null", "success": True}])}
    read = {**documented(WAREHOUSE, TABLE, description="pwned", owner="mallory"), "inputFacets": statistics}
    written = documented(WAREHOUSE, TABLE, description="pwned too", owner="mallory")

    static = post_event(job_event(inputs=[read], outputs=[written]), token=airflow_token)
    run = post_event(run_event("COMPLETE", run_id=RUN, seconds=60, inputs=[read]), token=airflow_token)

    assert static.status_code == run.status_code == 201
    assert {w["path"] for w in static.json()["warnings"]} == {
        "/inputs/0/facets/documentation",
        "/inputs/0/facets/ownership",
        "/inputs/0/inputFacets/dataQualityAssertions",
        "/outputs/0/facets/documentation",
        "/outputs/0/facets/ownership",
    }
    assert "/inputs/0/inputFacets/dataQualityAssertions" in {w["path"] for w in run.json()["warnings"]}
    assert_unchanged(warehouse_table)
    assert edge(("airflow", "etl.load"), "in") and edge(("airflow", "etl.load"), "out")
    use = RunDataset.objects.get(run__run_id=RUN, dataset=warehouse_table)
    assert use.direction == "in" and use.facets == {}  # the run read it; its quality claims are not applied
    assert not DatasetVersion.objects.filter(dataset=warehouse_table).exclude(run__job__namespace__name="finance")


@pytest.mark.django_db
def test_a_limited_tokens_column_lineage_into_another_namespace_is_not_applied(
    post_event, warehouse_table, airflow_token
):
    source = dataset("airflow", "staging.orders", fields=["id"])
    forged = dataset(WAREHOUSE, TABLE, fields=["id"], column_lineage={"id": [("airflow", "staging.orders", "id")]})
    own = dataset("airflow", "mart.orders", column_lineage={"id": [(WAREHOUSE, TABLE, "id")]})

    response = post_event(
        run_event("COMPLETE", run_id=RUN, seconds=60, inputs=[source], outputs=[forged, own]), token=airflow_token
    )

    assert response.status_code == 201
    assert {w["path"] for w in response.json()["warnings"]} == {
        "/outputs/0/facets/schema",
        "/outputs/0/facets/columnLineage",
    }
    assert_unchanged(warehouse_table)
    assert not ColumnLineage.objects.filter(output_dataset=warehouse_table).exists()
    assert edge(("airflow", "etl.load"), "out")  # the dataset-level edge stays
    # Column lineage of its own output, read from the warehouse table, is the token's to record.
    assert ColumnLineage.objects.filter(input_dataset=warehouse_table, output_dataset__name="mart.orders").exists()


@pytest.mark.django_db
def test_a_limited_token_cannot_put_its_task_under_a_dag_of_another_namespace(post_event, airflow_token):
    dag = run_event("START", run_id="finance-dag-run", job=("finance", "month_end"), job_facets=job_type("DAG"))
    assert post_event(dag).status_code == 201

    task = run_event("START", run_id=RUN, seconds=60, parent=("finance", "month_end", "finance-dag-run"))
    response = post_event(task, token=airflow_token)

    assert response.status_code == 201
    message = "the token may not change metadata of namespace finance"
    assert response.json()["warnings"] == [{"path": "/run/facets/parent", "message": message}]
    child = Job.objects.get(namespace__name="airflow", name="etl.load")
    assert child.parent is None and child.dag is None
    assert not Job.objects.get(namespace__name="finance", name="month_end").children.exists()
    assert Run.objects.get(run_id=RUN).parent_run_id == ""


@pytest.mark.django_db
def test_a_limited_token_still_changes_metadata_within_its_namespaces(post_event, warehouse_table):
    issued = create_token(name="airflow-and-warehouse", scope="ingest", namespaces=["airflow", WAREHOUSE])
    own = documented("airflow", "staging.orders", description="staged", owner="team:airflow")
    forged = documented(WAREHOUSE, TABLE, description="the new description", owner="team:airflow")

    response = post_event(run_event("COMPLETE", run_id=RUN, seconds=60, outputs=[own, forged]), token=issued.secret)

    assert response.status_code == 201 and response.json()["warnings"] == []
    assert Dataset.objects.get(pk=warehouse_table.pk).description == "the new description"
    assert Dataset.objects.get(namespace__name="airflow", name="staging.orders").description == "staged"


@pytest.mark.django_db
def test_an_unlimited_token_and_an_operators_load_still_change_everything(post_event, warehouse_table, tmp_path):
    response = post_event(attack())  # the unlimited token of the fixture
    assert response.status_code == 201 and response.json()["warnings"] == []
    assert Dataset.objects.get(pk=warehouse_table.pk).description == "pwned"

    later = documented(WAREHOUSE, TABLE, description="loaded by an operator", owner="team:finance")
    path = tmp_path / "events.jsonl"
    path.write_text(orjson.dumps(run_event("COMPLETE", run_id="load-run", seconds=120, outputs=[later])).decode())
    call_command("lineage_load", str(path))
    assert Dataset.objects.get(pk=warehouse_table.pk).description == "loaded by an operator"
    assert RawEvent.objects.get(run_id="load-run").namespaces_allowed is None


@pytest.mark.django_db
def test_the_batch_endpoint_applies_the_same_rule(post_event, warehouse_table, airflow_token):
    refused = {
        "eventTime": at(90),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": documented(WAREHOUSE, TABLE, description="pwned", owner="mallory"),
    }
    response = post_event(orjson.dumps([attack(), refused]), token=airflow_token, path="/api/v1/lineage/batch")

    body = response.json()
    assert response.status_code == 200 and body["summary"]["successful"] == 1
    assert body["failed_events"][0]["index"] == 1  # a DatasetEvent of the warehouse is not the token's to send
    assert {(w["index"], w["path"], w["message"]) for w in body["warnings"]} == {
        (0, "/outputs/0/facets/documentation", NOT_YOURS),
        (0, "/outputs/0/facets/ownership", NOT_YOURS),
    }
    assert_unchanged(warehouse_table)
    assert edge(("airflow", "etl.load"), "out")


@requires_postgres()
@pytest.mark.django_db
def test_the_one_statement_way_stores_what_the_usual_way_stores_for_a_limited_token(warehouse_table):
    from governance.tokens import authenticate_secret, digest

    issued = in_good_standing(create_token(name="airflow-only", scope="ingest", namespaces=["airflow"]))
    fast, usual = attack(), run_event("COMPLETE", run_id="other-run", seconds=70, outputs=[attack()["outputs"][0]])

    direct = services.ingest_event_as(event=fast, body=orjson.dumps(fast).decode(), token_digest=digest(issued.secret))
    assert direct is not None, "the one-statement way takes a limited token's event with foreign facets"
    slow = services.ingest_event(event=usual, token=authenticate_secret(issued.secret))

    assert direct.warnings == slow.warnings and len(direct.warnings) == 2
    rows = RawEvent.objects.filter(run_id__in=[RUN, "other-run"]).values("token_id", "warnings", "namespaces_allowed")
    assert (
        rows[0]
        == rows[1]
        == {"token_id": issued.token.pk, "warnings": direct.warnings, "namespaces_allowed": ["airflow"]}
    )
    unlimited = in_good_standing(create_token(name="all", scope="ingest"))
    event = run_event("COMPLETE", run_id="third-run", seconds=80, outputs=[attack()["outputs"][0]])
    answer = services.ingest_event_as(
        event=event, body=orjson.dumps(event).decode(), token_digest=digest(unlimited.secret)
    )
    assert answer.warnings == [] and RawEvent.objects.get(run_id="third-run").namespaces_allowed is None


# --- The rule itself: pure, no database -----------------------------------------------------------------


def parsed(event: dict, kind: str = "run"):
    return parse_event(event, kind=kind, digest=event_hash(event))


def test_the_fold_keeps_nodes_and_edges_in_other_namespaces_but_not_their_metadata():
    forged = documented(WAREHOUSE, TABLE, description="pwned", owner="mallory")
    statistics = {"outputStatistics": facet(rowCount=1)}
    event = parsed(run_event("COMPLETE", run_id=RUN, outputs=[{**forged, "outputFacets": statistics}]))

    limited = fold([event], scopes={event.digest: frozenset({"airflow"})})
    whole = fold([event])

    key = (WAREHOUSE, TABLE)
    assert key in limited.datasets and limited.datasets[key].facets.values == {}
    assert whole.datasets[key].facets.values.keys() == {"documentation", "ownership"}
    assert limited.job_edges.keys() == whole.job_edges.keys() == {(("airflow", "etl.load"), key, "out")}
    assert limited.run_datasets[(RUN, key, "out")].facets.values == {}
    assert not limited.versions and whole.versions
    assert limited.jobs.keys() == whole.jobs.keys() and limited.runs[RUN].state == whole.runs[RUN].state


def test_the_fold_drops_a_parent_link_to_another_namespace_only():
    abroad = parsed(run_event("START", run_id="a", parent=("finance", "month_end", "r")))
    at_home = parsed(run_event("START", run_id="b", job=("airflow", "t2"), parent=("airflow", "dag", "r2")))
    scope = frozenset({"airflow"})

    delta = fold([abroad, at_home], scopes={abroad.digest: scope, at_home.digest: scope})

    assert ("finance", "month_end") not in delta.jobs and delta.jobs[("airflow", "etl.load")].parent is None
    assert "parent" not in delta.runs["a"].facets.values
    assert delta.jobs[("airflow", "t2")].parent == ("airflow", "dag")


def test_with_scopes_the_fold_still_ignores_order_and_duplicates():
    scope = frozenset({"airflow"})
    events = [
        parsed(run_event("START", run_id=RUN, outputs=[documented(WAREHOUSE, TABLE, description="a", owner="x")])),
        parsed(run_event("COMPLETE", run_id=RUN, seconds=9, outputs=[dataset(WAREHOUSE, TABLE, fields=["id"])])),
        parsed(run_event("COMPLETE", run_id="finance", job=("finance", "load"), outputs=[dataset(WAREHOUSE, TABLE)])),
    ]
    scopes = {events[0].digest: scope, events[1].digest: scope}
    expected = fold(events, scopes=scopes)
    for seed in range(20):
        shuffled = events + random.Random(seed).sample(events, 2)
        random.Random(seed).shuffle(shuffled)
        assert fold(shuffled, scopes=scopes) == expected


def test_every_facet_about_another_namespace_is_named_and_none_about_the_own():
    event = run_event(
        "COMPLETE",
        run_id=RUN,
        inputs=[{**dataset(WAREHOUSE, TABLE, fields=["id"]), "inputFacets": {"custom": {"x": 1}}}],
        outputs=[dataset("airflow", "own", fields=["id"]), dataset("s3://bucket", "key", tags=facet(tags=[]))],
        parent=("finance", "dag", "r"),
    )
    foreign = foreign_metadata(event, "run")
    assert [(ns, p.path) for ns, p in foreign] == [
        ("finance", "/run/facets/parent"),
        (WAREHOUSE, "/inputs/0/facets/schema"),
        (WAREHOUSE, "/inputs/0/inputFacets/custom"),
        ("s3://bucket", "/outputs/1/facets/tags"),
    ]
    assert [p.path for p in scope_warnings(foreign, ["airflow", WAREHOUSE])] == [
        "/run/facets/parent",
        "/outputs/1/facets/tags",
    ]
    assert scope_warnings(foreign, None) == scope_warnings(foreign, []) == []
    dataset_event = {"dataset": dataset(WAREHOUSE, TABLE, fields=["id"])}
    assert foreign_metadata(dataset_event, "dataset") == []


@pytest.mark.django_db
def test_events_stored_before_the_rule_get_their_tokens_namespaces_for_the_next_rebuild():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("lineage.migrations.0005_raw_event_namespaces_allowed")
    limited = create_token(name="airflow-only", scope="ingest", namespaces=["airflow"]).token
    unlimited = create_token(name="all", scope="ingest").token
    for token, run_id in ((limited, "old-limited"), (unlimited, "old-unlimited"), (None, "old-load")):
        event = attack()
        event["run"]["runId"] = run_id
        values = services._raw_values(event, orjson.dumps(event).decode(), "run", [], token=None, source="api")
        RawEvent.objects.create(**{**values, "token": token})

    migration.from_tokens(apps, None)

    allowed = dict(RawEvent.objects.values_list("run_id", "namespaces_allowed"))
    assert allowed == {"old-limited": ["airflow"], "old-unlimited": None, "old-load": None}
