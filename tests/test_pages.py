"""The steward's pages: home and search, dataset, job, lineage explorer and impact, on an estate built from events."""

import html as markup
import json
import re

import pytest

from lineage.annotations import update_metadata
from lineage.derive.queue import derive_pending
from lineage.ingest.services import ingest_event
from lineage.models import Annotation
from lineage.read.pages import duration_chart, schema_history

from .conftest import login, make_user
from .events import dataset, facet, job_type, run_event

pytestmark = pytest.mark.django_db

AIRFLOW = "airflow-prod"
WH = "postgres://warehouse:5432"
LANDING = "s3://acme-landing"
HR = "hr"

ORDERS = "analytics.raw.orders"
MART = "analytics.marts.orders_daily"
CSV = "crm/hubspot/orders.csv"  # a name with slashes, in a namespace with slashes


def emit(event):
    result = ingest_event(event=event, source="cli", derive=False)
    assert result.stored, result.errors


def quality(*checks):
    return {
        "dataQualityAssertions": facet(
            assertions=[{"assertion": name, "success": ok, "column": column} for name, column, ok in checks]
        )
    }


@pytest.fixture
def estate(db):
    """landing CSV ─etl.load_orders─ raw.orders ─etl.build_mart─ marts.orders_daily, all under the DAG `etl`;
    the mart build fails on its second run; raw.orders gains a column; an HR table lives in its own namespace."""
    emit(run_event("COMPLETE", run_id="dag-1", job=(AIRFLOW, "etl"), seconds=0, job_facets=job_type("DAG")))
    load = dict(job=(AIRFLOW, "etl.load_orders"), parent=(AIRFLOW, "etl", "dag-1"), job_facets=job_type("TASK"))
    emit(run_event("START", run_id="load-1", seconds=10, **load))
    emit(
        run_event(
            "COMPLETE",
            run_id="load-1",
            seconds=70,
            inputs=[dataset(LANDING, CSV, fields=["id", "total"])],
            outputs=[
                dataset(
                    WH,
                    ORDERS,
                    fields=["id", "total"],
                    owners=["team:platform"],
                    column_lineage={"id": [(LANDING, CSV, "id")], "total": [(LANDING, CSV, "total")]},
                    documentation=facet(description="Orders as loaded from the shop's nightly export."),
                )
            ],
            **load,
        )
    )
    emit(run_event("COMPLETE", run_id="dag-2", job=(AIRFLOW, "etl"), seconds=3600, job_facets=job_type("DAG")))
    load2 = {**load, "parent": (AIRFLOW, "etl", "dag-2")}
    emit(run_event("START", run_id="load-2", seconds=3610, **load2))
    emit(
        run_event(
            "COMPLETE",
            run_id="load-2",
            seconds=3700,
            inputs=[dataset(LANDING, CSV, fields=["id", "total"])],
            outputs=[dataset(WH, ORDERS, fields=["id", "total", "currency"], owners=["team:platform"])],
            **load2,
        )
    )
    mart = dict(
        job=(AIRFLOW, "etl.build_mart"),
        parent=(AIRFLOW, "etl", "dag-2"),
        job_facets={**job_type("TASK"), "sql": facet(query="INSERT INTO marts.orders_daily SELECT 42")},
    )
    emit(run_event("START", run_id="mart-1", seconds=3800, **mart))
    emit(
        run_event(
            "COMPLETE",
            run_id="mart-1",
            seconds=3860,
            inputs=[dict(dataset(WH, ORDERS), inputFacets=quality(("not_null", "id", True)))],
            outputs=[
                dataset(
                    WH,
                    MART,
                    fields=["day", "revenue"],
                    owners=["team:finance"],
                    column_lineage={"revenue": [(WH, ORDERS, "total")]},
                )
            ],
            **mart,
        )
    )
    emit(run_event("START", run_id="mart-2", seconds=7200, **mart))
    emit(
        run_event(
            "FAIL",
            run_id="mart-2",
            seconds=7230,
            run_facets={
                "errorMessage": facet(message="relation marts.orders_daily is locked", programmingLanguage="sql")
            },
            **mart,
        )
    )
    emit(
        run_event(
            "COMPLETE",
            run_id="hr-1",
            job=(HR, "hr.export"),
            seconds=50,
            inputs=[dataset(HR, "employees", fields=["salary"])],
            outputs=[dataset(WH, "analytics.raw.headcount")],
        )
    )
    derive_pending()


@pytest.fixture
def viewer(client, estate):
    return login(client, make_user("vera", "viewer"))


@pytest.fixture
def steward(client, estate):
    return login(client, make_user("stan", "steward"))


def page(client, url, status=200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.content[:300])
    return response.content.decode()


def text(html: str) -> str:
    """The page's text, tags and whitespace folded, for assertions that read like the page."""
    return markup.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


# --- Home and search ---------------------------------------------------------------------------------------


def test_home_shows_totals_failing_jobs_recent_runs_and_namespaces(viewer):
    html = text(page(viewer, "/"))
    assert "failed runs" in html
    assert "Failing jobs" in html and "etl.build_mart" in html and "relation marts.orders_daily is locked" in html
    assert "Recent runs" in html and "etl.load_orders" in html
    for namespace in (AIRFLOW, WH, LANDING, HR):
        assert namespace in html


def test_home_of_a_narrowed_viewer_counts_only_their_namespaces(client, estate):
    login(client, make_user("nina", "viewer", namespaces=(WH,)))
    html = text(page(client, "/"))
    assert WH in html and HR not in html and "etl.build_mart" not in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("orders_daily", MART),  # name
        ("acme-landing", CSV),  # namespace
        ("nightly export", ORDERS),  # description
        ("team:finance", MART),  # owner
        ("currency", "currency"),  # a field
    ],
)
def test_search_finds_datasets_jobs_and_fields(viewer, query, expected):
    html = page(viewer, f"/search/?q={query}")
    assert expected in html


def test_search_finds_what_stewards_wrote(viewer):
    update_metadata(kind="dataset", namespace=WH, name=ORDERS, changes={"tags": ["gold-tier"]}, user=None)
    assert ORDERS in page(viewer, "/search/?q=gold-tier")


def test_search_answers_a_fragment_to_the_instant_search(viewer):
    response = viewer.get("/search/?q=etl", headers={"X-Requested-With": "fetch"})
    html = response.content.decode()
    assert "etl.build_mart" in html and "<html" not in html and "Jobs" in html


def test_search_never_shows_namespaces_the_reader_may_not_see(client, estate):
    login(client, make_user("nina", "viewer", namespaces=(WH,)))
    html = page(client, "/search/?q=e")
    assert "hr.export" not in html and "employees" not in html and "salary" not in html
    assert ORDERS in html


# --- Dataset page ------------------------------------------------------------------------------------------


def test_dataset_page_shows_identity_labels_schema_versions_jobs_runs_quality_and_the_connection_slot(viewer):
    html = page(viewer, f"/datasets/{WH}/{ORDERS}")
    flat = text(html)
    assert WH in flat and ORDERS in flat
    assert "Orders as loaded from the shop's nightly export." in flat
    assert "team:platform" in flat
    # Schema with column lineage: total is computed from the CSV's total and feeds the mart's revenue.
    assert re.search(r"total .*orders\.csv\.\s*total", flat.replace("<b>", ""))
    assert f"/datasets/{LANDING}/{CSV}#field-total" in html
    assert f"/datasets/{WH}/{MART}#field-revenue" in html
    # The second load added a column: a schema diff.
    assert 'class="diff-add"' in html and "currency" in html.split('class="diff-add"')[1][:200]
    assert "etl.load_orders" in flat and "etl.build_mart" in flat  # producer and consumer
    assert "wrote" in flat and "read" in flat  # recent runs
    assert "not_null" in flat and "passed" in flat  # quality assertions from the input facets
    assert 'data-slot="connection"' in html and "Connection" in flat


def test_a_viewer_gets_no_editor_and_a_steward_does(client, estate):
    login(client, make_user("vera", "viewer"))
    assert "data-metadata-form" not in page(client, f"/datasets/{WH}/{ORDERS}")
    login(client, make_user("stan", "steward"))
    html = page(client, f"/datasets/{WH}/{ORDERS}")
    assert "data-metadata-form" in html and "csrfmiddlewaretoken" in html


def test_dataset_paths_split_at_the_longest_visible_namespace(viewer, estate):
    # Namespace with "://" and a name with slashes.
    assert CSV in page(viewer, f"/datasets/{LANDING}/{CSV}")
    # A namespace that is a prefix of another: s3://b holds "sub/x.csv", s3://b/sub holds "y.csv".
    emit(run_event("COMPLETE", run_id="x", job=("airflow", "x"), outputs=[dataset("s3://b", "sub/x.csv")]))
    emit(run_event("COMPLETE", run_id="y", job=("airflow", "y"), outputs=[dataset("s3://b/sub", "y.csv")]))
    derive_pending()
    assert "sub/x.csv" in text(page(viewer, "/datasets/s3://b/sub/x.csv"))
    html = text(page(viewer, "/datasets/s3://b/sub/y.csv"))
    assert "s3://b/sub" in html and "y.csv" in html
    # Percent-encoded (as a browser sends spaces and other reserved characters) works too.
    assert page(viewer, "/datasets/s3%3A%2F%2Fb/sub%2Fx.csv")


@pytest.mark.parametrize(
    "url",
    [f"/datasets/{WH}/nope", "/datasets/postgres://unknown:1/x", f"/datasets/{WH}", "/jobs/airflow-prod/nope"],
)
def test_unknown_nodes_answer_404(viewer, url):
    page(viewer, url, status=404)


def test_nodes_in_namespaces_the_reader_may_not_see_answer_404(client, estate):
    login(client, make_user("nina", "viewer", namespaces=(WH,)))
    page(client, f"/datasets/{HR}/employees", status=404)
    page(client, f"/jobs/{HR}/hr.export", status=404)
    page(client, f"/lineage/?nodeId=dataset:{HR}:employees", status=404)
    page(client, f"/impact/?nodeId=dataset:{HR}:employees", status=404)
    page(client, f"/datasets/{WH}/{ORDERS}")  # their own namespace works


def test_pages_send_anonymous_visitors_to_the_login_page(client, estate):
    response = client.get(f"/datasets/{WH}/{ORDERS}")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- Steward edits -----------------------------------------------------------------------------------------


def test_a_steward_edits_tags_and_classifications_with_the_form(steward):
    response = steward.post(
        "/metadata/", {"node": f"dataset:{WH}:{ORDERS}", "tags": "gold, finance, gold", "classifications": "PII"}
    )
    assert response.status_code == 302 and response["Location"] == f"/datasets/{WH}/{ORDERS}"
    annotation = Annotation.objects.get(kind="dataset", namespace=WH, name=ORDERS)
    assert annotation.tags == ["gold", "finance"] and annotation.classifications == ["PII"]
    assert annotation.updated_by.username == "stan"
    html = page(steward, f"/datasets/{WH}/{ORDERS}")
    assert "chip-pii" in html and "badge-pii" in html and "gold" in html


def test_the_form_changes_only_what_it_sends(steward):
    update_metadata(kind="dataset", namespace=WH, name=ORDERS, changes={"owners": [{"name": "ann"}]}, user=None)
    steward.post("/metadata/", {"node": f"dataset:{WH}:{ORDERS}", "tags": "gold"})
    annotation = Annotation.objects.get(kind="dataset", namespace=WH, name=ORDERS)
    assert annotation.owners == [{"name": "ann"}] and annotation.tags == ["gold"]


def test_a_viewer_may_not_edit(viewer):
    response = viewer.post("/metadata/", {"node": f"dataset:{WH}:{ORDERS}", "tags": "gold"})
    assert response.status_code == 403
    assert not Annotation.objects.exists()


def test_a_steward_may_not_edit_outside_their_namespaces(client, estate):
    login(client, make_user("sami", "steward", namespaces=(AIRFLOW,)))
    assert client.post("/metadata/", {"node": f"dataset:{WH}:{ORDERS}", "tags": "x"}).status_code == 404
    login(client, make_user("sven", "steward", namespaces=(WH, AIRFLOW)))
    assert client.post("/metadata/", {"node": f"dataset:{WH}:{ORDERS}", "tags": "x"}).status_code == 302


def test_a_too_long_tag_is_refused_with_a_message(steward):
    response = steward.post("/metadata/", {"node": f"dataset:{WH}:{ORDERS}", "tags": "x" * 101}, follow=True)
    assert "Not saved" in response.content.decode()
    assert not Annotation.objects.exists()


def test_the_lineage_answer_carries_steward_classifications_for_the_explorer(viewer):
    update_metadata(
        kind="dataset",
        namespace=WH,
        name=ORDERS,
        changes={"classifications": ["GDPR"], "fields": {"total": {"classifications": ["PII"]}}, "tags": ["gold"]},
        user=None,
    )
    graph = viewer.get(f"/api/v1/lineage?nodeId=dataset:{WH}:{ORDERS}&depth=2").json()["graph"]
    data = {node["id"]: node["data"] for node in graph}
    assert data[f"dataset:{WH}:{ORDERS}"]["classifications"] == ["GDPR", "PII"]
    assert data[f"dataset:{WH}:{ORDERS}"]["stewardTags"] == ["gold"]
    assert data[f"job:{AIRFLOW}:etl.load_orders"]["classifications"] == []


# --- Job page ----------------------------------------------------------------------------------------------


def test_job_page_shows_type_sql_dag_siblings_io_runs_chart_and_failures(viewer):
    html = page(viewer, f"/jobs/{AIRFLOW}/etl.build_mart")
    flat = text(html)
    assert "TASK" in flat and "INSERT INTO marts.orders_daily SELECT 42" in flat
    assert f'href="/jobs/{AIRFLOW}/etl"' in html  # its DAG
    assert "etl.load_orders" in flat  # a sibling task
    assert ORDERS in flat and MART in flat  # input and output
    assert "FAILED" in flat and "COMPLETED" in flat  # run history
    assert "<svg" in html and 'class="pt pt-completed"' in html and 'class="pt pt-failed"' in html  # durations
    assert "relation marts.orders_daily is locked" in flat  # the failure's message


def test_a_dag_page_lists_its_tasks(viewer):
    flat = text(page(viewer, f"/jobs/{AIRFLOW}/etl"))
    assert "etl.load_orders" in flat and "etl.build_mart" in flat


# --- Lineage explorer and impact ---------------------------------------------------------------------------


def explorer_config(html: str) -> dict:
    match = re.search(r'<script id="explorer-config" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


def test_the_explorer_page_loads_the_graph_library_and_its_options(viewer):
    html = page(viewer, f"/lineage/?nodeId=dataset:{WH}:{ORDERS}&direction=upstream&depth=4&group=dag")
    config = explorer_config(html)
    assert config["nodeId"] == f"dataset:{WH}:{ORDERS}"
    assert (config["direction"], config["depth"], config["group"]) == ("upstream", "4", "dag")
    assert config["limit"] == "300" and config["step"] == 300
    assert (
        "vendor/cytoscape/cytoscape.min.js" in html and "vendor/cytoscape-dagre/" in html and "js/explorer.js" in html
    )
    for label in (
        "Direction",
        "Depth",
        "Collapse tasks into their DAG",
        "As of",
        "Find in graph",
        "Export PNG",
        "Export SVG",
    ):
        assert label in html


def test_the_explorer_ignores_unexpected_options(viewer):
    config = explorer_config(page(viewer, f"/lineage/?nodeId=dataset:{WH}:{ORDERS}&direction=sideways&depth=-3"))
    assert (config["direction"], config["depth"]) == ("both", "6")


def test_the_explorer_without_a_node_offers_search(viewer):
    html = page(viewer, "/lineage/")
    assert "explorer-config" not in html and 'name="q"' in html


@pytest.mark.parametrize("node", ["dataset:nowhere:x", "nonsense", f"dataset:{WH}:nope"])
def test_the_explorer_and_impact_answer_404_for_unknown_nodes(viewer, node):
    page(viewer, f"/lineage/?nodeId={node}", status=404)
    page(viewer, f"/impact/?nodeId={node}", status=404)


def test_impact_groups_by_dag_and_owner_and_writes_a_notification(viewer):
    html = page(viewer, f"/impact/?nodeId=dataset:{LANDING}:{CSV}")
    flat = text(html)
    assert "Affected jobs by DAG" in flat and f'href="/jobs/{AIRFLOW}/etl"' in html
    assert "etl.load_orders" in flat and "etl.build_mart" in flat
    assert MART in flat and "team:finance" in flat and "team:platform" in flat
    assert "Recommendations" in flat and "critical transformation" in flat
    notification = re.search(r'<textarea id="notification"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert "Heads-up: a change to dataset crm/hubspot/orders.csv" in notification
    assert "- team:finance: analytics.marts.orders_daily (postgres://warehouse:5432)" in notification
    assert explorer_config(html)["direction"] == "downstream"


# --- Pure helpers ------------------------------------------------------------------------------------------


class Version:
    def __init__(self, fields):
        self.fields = fields


def test_schema_history_keeps_only_changes():
    v1 = Version([{"name": "id", "type": "int"}, {"name": "total", "type": "int"}])
    same = Version([{"name": "id", "type": "int"}, {"name": "total", "type": "int"}])
    silent = Version([])
    v2 = Version([{"name": "id", "type": "bigint"}, {"name": "address", "type": "struct", "fields": [{"name": "zip"}]}])
    changes = schema_history([v1, same, silent, v2])
    assert [c.version for c in changes] == [v1, v2]
    assert changes[0].first
    assert changes[1].added == [{"name": "address", "type": "struct"}, {"name": "address.zip", "type": ""}]
    assert changes[1].removed == [{"name": "total", "type": "int"}]
    assert changes[1].retyped == [("id", "int", "bigint")]


def test_duration_chart_places_runs_by_time_and_duration():
    from datetime import UTC, datetime, timedelta

    from lineage.models import Run

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    runs = [
        Run(run_id="a", state="COMPLETED", started_at=t0, ended_at=t0 + timedelta(seconds=10)),
        Run(
            run_id="b", state="FAILED", started_at=t0 + timedelta(hours=1), ended_at=t0 + timedelta(hours=1, seconds=20)
        ),
        Run(run_id="c", state="RUNNING", started_at=t0 + timedelta(hours=2)),
    ]
    chart = duration_chart(runs, width=100, height=60, pad=10)
    first, second = chart["points"]
    assert (first["x"], second["x"]) == (10, 90)  # oldest left, newest right
    assert (first["y"], second["y"]) == (30, 10)  # the longest at the top
    assert second["state"] == "failed" and chart["max_seconds"] == 20
    assert duration_chart([runs[2]]) is None


def test_a_steward_classifies_one_field_and_keeps_the_others(steward):
    update_metadata(
        kind="dataset", namespace=WH, name=ORDERS, changes={"fields": {"id": {"description": "key"}}}, user=None
    )
    response = steward.post(
        "/metadata/", {"node": f"dataset:{WH}:{ORDERS}", "field": "total", "field_classifications": "PII, SOX"}
    )
    assert response["Location"] == f"/datasets/{WH}/{ORDERS}#field-total"
    annotation = Annotation.objects.get(kind="dataset", namespace=WH, name=ORDERS)
    assert annotation.fields == {"id": {"description": "key"}, "total": {"classifications": ["PII", "SOX"]}}
    html = page(steward, f"/datasets/{WH}/{ORDERS}")
    assert "Classifications of total" in html and "chip-pii" in html
