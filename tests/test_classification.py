"""Classifications follow lineage: pure propagation on hand-made graphs, then the API on ingested events."""

import json
from urllib.parse import quote

import pytest

from compliance.classification import in_memory_flows, propagate
from lineage.derive.queue import derive_pending
from lineage.ingest.services import ingest_event

from .conftest import login, make_user
from .events import dataset, run_event


def f(dataset_id, name):
    return ("field", (dataset_id, name))


def d(dataset_id):
    return ("dataset", dataset_id)


def reached(inferred):
    return {i.node: i.path for i in inferred}


def test_a_column_flows_along_column_lineage_and_keeps_its_path():
    columns = [(f("crm", "email"), f("stg", "email")), (f("stg", "email"), f("mart", "contact"))]
    result = reached(propagate([(f("crm", "email"), "PII")], flows_for=in_memory_flows(columns, [])))
    assert result == {
        f("stg", "email"): (f("crm", "email"), f("stg", "email")),
        f("mart", "contact"): (f("crm", "email"), f("stg", "email"), f("mart", "contact")),
    }


def test_without_column_lineage_the_whole_output_dataset_inherits():
    # crm -> export is a job with no column lineage: any column of export may hold the email.
    result = reached(propagate([(f("crm", "email"), "PII")], flows_for=in_memory_flows([], [("crm", "export")])))
    assert set(result) == {d("export")}


def test_column_lineage_between_two_datasets_takes_precedence_over_dataset_lineage():
    columns = [(f("crm", "id"), f("mart", "id"))]  # the email does not go to mart
    result = reached(propagate([(f("crm", "email"), "PII")], flows_for=in_memory_flows(columns, [("crm", "mart")])))
    assert result == {}


def test_a_whole_classified_dataset_flows_to_linked_columns_and_unlinked_datasets():
    columns = [(f("crm", "email"), f("mart", "contact"))]
    result = reached(
        propagate([(d("crm"), "PII")], flows_for=in_memory_flows(columns, [("crm", "mart"), ("crm", "dump")]))
    )
    assert set(result) == {f("mart", "contact"), d("dump")}


def test_a_diamond_reaches_each_node_once_by_its_shortest_path():
    columns = [
        (f("a", "x"), f("b", "x")),
        (f("a", "x"), f("c", "x")),
        (f("b", "x"), f("d", "x")),
        (f("c", "x"), f("d", "x")),
        (f("a", "x"), f("d", "x")),
    ]
    result = reached(propagate([(f("a", "x"), "PII")], flows_for=in_memory_flows(columns, [])))
    assert result[f("d", "x")] == (f("a", "x"), f("d", "x"))
    assert len(result) == 3


def test_a_cycle_terminates():
    columns = [(f("a", "x"), f("b", "x")), (f("b", "x"), f("a", "x"))]
    result = reached(propagate([(f("a", "x"), "PII")], flows_for=in_memory_flows(columns, [])))
    assert set(result) == {f("b", "x")}


def test_a_chain_of_twenty_hops():
    columns = [(f(i, "x"), f(i + 1, "x")) for i in range(20)]
    inferred = propagate([(f(0, "x"), "PII")], flows_for=in_memory_flows(columns, []))
    assert len(inferred) == 20 and max(i.hops for i in inferred) == 20
    assert inferred[-1].path == tuple(f(i, "x") for i in range(21))


# --- Through the API -------------------------------------------------------------------------------------------

CRM = "postgres://crm:5432"
WH = "postgres://warehouse:5432"


@pytest.fixture
def estate(db):
    """crm.customers.email -> wh.stg_customers.email -> wh.mart.contact; and a job with no column lineage:
    wh.stg_customers -> wh.exports (any column)."""
    steps = [
        (
            [dataset(CRM, "customers", fields=["id", "email"])],
            dataset(
                WH,
                "stg_customers",
                fields=["id", "email"],
                column_lineage={"email": [(CRM, "customers", "email")], "id": [(CRM, "customers", "id")]},
            ),
        ),
        (
            [dataset(WH, "stg_customers")],
            dataset(WH, "mart", fields=["contact"], column_lineage={"contact": [(WH, "stg_customers", "email")]}),
        ),
        ([dataset(WH, "stg_customers")], dataset(WH, "exports")),
    ]
    for number, (inputs, output) in enumerate(steps):
        ingest_event(
            event=run_event(
                "COMPLETE",
                run_id=f"r{number}",
                job=("airflow", f"job{number}"),
                seconds=number,
                inputs=inputs,
                outputs=[output],
            ),
            source="cli",
            derive=False,
        )
    derive_pending()


def test_the_preview_says_where_a_new_tag_would_reach_before_it_is_saved(client, estate):
    login(client, make_user("stan", "steward"))
    answer = client.get(
        "/api/v1/classifications/preview", {"nodeId": f"datasetField:{CRM}:customers:email", "classification": "pii"}
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    reached_nodes = {i["node"]: i["path"] for i in body["inferred"]}
    assert set(reached_nodes) == {
        f"datasetField:{WH}:stg_customers:email",
        f"datasetField:{WH}:mart:contact",
        f"dataset:{WH}:exports",
    }
    assert reached_nodes[f"datasetField:{WH}:mart:contact"] == [
        f"datasetField:{CRM}:customers:email",
        f"datasetField:{WH}:stg_customers:email",
        f"datasetField:{WH}:mart:contact",
    ]
    assert body["canSave"] is True
    assert client.get("/api/v1/classifications").json()["sources"] == []  # nothing saved by a preview


def test_a_saved_classification_is_inferred_downstream(client, estate):
    login(client, make_user("stan", "steward"))
    patch = client.patch(
        f"/api/v1/metadata?nodeId=dataset:{CRM}:customers",
        json.dumps({"fields": {"email": {"classifications": ["PII"]}}}),
        content_type="application/json",
    )
    assert patch.status_code == 200
    body = client.get("/api/v1/classifications", {"classification": "PII"}).json()
    assert body["sources"] == [{"node": f"datasetField:{CRM}:customers:email", "classification": "PII"}]
    assert {i["node"] for i in body["inferred"]} == {
        f"datasetField:{WH}:stg_customers:email",
        f"datasetField:{WH}:mart:contact",
        f"dataset:{WH}:exports",
    }


def test_a_reader_narrowed_to_the_warehouse_sees_no_crm_names(client, estate):
    login(client, make_user("stan", "steward"))
    client.patch(
        f"/api/v1/metadata?nodeId=dataset:{CRM}:customers",
        json.dumps({"classifications": ["PII"]}),
        content_type="application/json",
    )
    login(client, make_user("wendy", "viewer", namespaces=(WH,)))
    text = client.get("/api/v1/classifications").content.decode()
    assert CRM not in text


def test_one_click_from_a_column_to_where_it_ends_up(client, estate):
    login(client, make_user("vera", "viewer"))
    page = client.get(f"/datasets/{CRM}/customers").content.decode()
    field = quote(f"datasetField:{CRM}:customers:email", safe="")
    assert f"/classifications/flow/?nodeId={field}" in page
    flow = client.get(f"/classifications/flow/?nodeId=datasetField:{CRM}:customers:email&classification=PII")
    text = flow.content.decode()
    assert flow.status_code == 200 and "This is a preview" in text
    assert f"datasetField:{WH}:mart:contact" in text and f"dataset:{WH}:exports" in text
