"""GET /api/v1/lineage, /column-lineage, /impact, /lineage/report, /lineage/diff on graphs built from events."""

import random
from datetime import timedelta

import pytest

from lineage.derive.queue import derive_pending
from lineage.ingest.services import ingest_event
from lineage.models import Dataset, Job, JobEdge, Run, RunDataset
from lineage.read import traversal
from lineage.read.graph import BOTH, DOWN, UP, adjacency_expander, walk

from .conftest import requires_postgres
from .events import T0, dataset, job_type, run_event

pytestmark = pytest.mark.django_db

WH = "postgres://warehouse:5432"


@pytest.fixture
def reader(as_user):
    return as_user("vera")


def emit(job, inputs, outputs, *, seconds=0, state="COMPLETE", run_id=None, namespace="airflow", **kwargs):
    run_id = run_id or f"run-{job}-{seconds}"
    event = run_event(
        state,
        run_id=run_id,
        job=(namespace, job),
        seconds=seconds,
        inputs=[dataset(WH, name) if isinstance(name, str) else dataset(*name) for name in inputs],
        outputs=[dataset(WH, name) if isinstance(name, str) else dataset(*name) for name in outputs],
        **kwargs,
    )
    result = ingest_event(event=event, source="cli", derive=False)
    assert result.stored, result.errors
    return event


def build(*steps):
    for step in steps:
        emit(*step)
    derive_pending()


def nodes(response) -> dict[str, int]:
    assert response.status_code == 200, response.content
    return {node["id"]: node["depth"] for node in response.json()["graph"]}


def edges(response) -> set[tuple[str, str]]:
    return {(e["origin"], e["destination"]) for n in response.json()["graph"] for e in n["inEdges"] + n["outEdges"]}


def ds(name):
    return f"dataset:{WH}:{name}"


# raw ─load─ staging ─transform─ mart ─report─ dashboard, and a sibling: staging ─export─ crm
ESTATE = [
    ("etl.load", ["raw"], ["staging"]),
    ("etl.transform", ["staging"], ["mart"]),
    ("bi.report", ["mart"], ["dashboard"]),
    ("crm.export", ["staging"], ["crm"]),
]


def test_upstream_is_directed_and_never_contains_a_sibling_branch(reader):
    build(*ESTATE)
    answer = reader.get("/api/v1/lineage", {"nodeId": ds("mart"), "direction": "upstream"})
    assert nodes(answer) == {
        ds("mart"): 0,
        "job:airflow:etl.transform": 1,
        ds("staging"): 2,
        "job:airflow:etl.load": 3,
        ds("raw"): 4,
    }
    assert (ds("staging"), "job:airflow:etl.transform") in edges(answer)
    assert "job:airflow:crm.export" not in nodes(answer)


def test_both_is_upstream_union_downstream_and_depth_counts_edges(reader):
    build(*ESTATE)
    answer = reader.get("/api/v1/lineage", {"nodeId": ds("mart"), "depth": 2})
    assert set(nodes(answer)) == {
        ds("mart"),
        "job:airflow:etl.transform",
        ds("staging"),
        "job:airflow:bi.report",
        ds("dashboard"),
    }


def test_the_graph_has_marquez_shape(reader):
    build(*ESTATE)
    graph = reader.get("/api/v1/lineage", {"nodeId": "job:airflow:etl.transform", "depth": 1}).json()["graph"]
    job = next(n for n in graph if n["type"] == "JOB")
    assert job["id"] == "job:airflow:etl.transform"
    assert job["data"]["inputs"] == [{"namespace": WH, "name": "staging"}]
    assert job["data"]["outputs"] == [{"namespace": WH, "name": "mart"}]
    assert job["data"]["latestRun"]["state"] == "COMPLETED"
    assert job["inEdges"] == [{"origin": ds("staging"), "destination": "job:airflow:etl.transform"}]
    dataset_node = next(n for n in graph if n["id"] == ds("mart"))
    assert dataset_node["type"] == "DATASET"
    assert {"id", "type", "name", "physicalName", "namespace", "sourceName", "fields", "createdAt"} <= set(
        dataset_node["data"]
    )


def test_explicit_type_namespace_and_name_parameters(reader):
    build(*ESTATE)
    by_params = reader.get("/api/v1/lineage", {"type": "dataset", "namespace": WH, "name": "mart", "depth": 2})
    by_id = reader.get("/api/v1/lineage", {"nodeId": ds("mart"), "depth": 2})
    assert nodes(by_params) == nodes(by_id)


def test_as_of_answers_as_the_graph_stood_before_and_after_a_job_changed_its_outputs(reader):
    emit("etl.load", ["raw"], ["staging_v1"], seconds=0)
    emit("etl.load", ["raw"], ["staging_v2"], seconds=3600, run_id="second")
    derive_pending()
    before = (T0 + timedelta(minutes=30)).isoformat()
    after = (T0 + timedelta(hours=2)).isoformat()
    start = {"nodeId": ds("raw"), "direction": "downstream"}
    assert set(nodes(reader.get("/api/v1/lineage", {**start, "asOf": before}))) == {
        ds("raw"),
        "job:airflow:etl.load",
        ds("staging_v1"),
    }
    cumulative = nodes(reader.get("/api/v1/lineage", {**start, "asOf": after}))
    assert {ds("staging_v1"), ds("staging_v2")} <= set(cumulative)
    latest = nodes(reader.get("/api/v1/lineage", {**start, "asOf": after, "view": "latest"}))
    assert ds("staging_v2") in latest and ds("staging_v1") not in latest
    latest_before = nodes(reader.get("/api/v1/lineage", {**start, "asOf": before, "view": "latest"}))
    assert ds("staging_v1") in latest_before and ds("staging_v2") not in latest_before


def test_a_node_that_did_not_exist_yet_is_a_404_as_of_then(reader):
    emit("etl.load", ["raw"], ["staging"], seconds=3600)
    derive_pending()
    answer = reader.get("/api/v1/lineage", {"nodeId": ds("raw"), "asOf": T0.isoformat()})
    assert answer.status_code == 404


def test_latest_ignores_failed_runs(reader):
    emit("etl.load", ["raw"], ["good"], seconds=0)
    emit("etl.load", ["raw"], ["half_written"], seconds=60, state="FAIL", run_id="failed")
    derive_pending()
    latest = nodes(reader.get("/api/v1/lineage", {"nodeId": ds("raw"), "view": "latest"}))
    assert ds("good") in latest and ds("half_written") not in latest


def test_tasks_carry_their_dag_and_can_be_collapsed_into_it(reader):
    parent = ("airflow", "etl", "dag-run-1")
    emit("etl", [], [], seconds=0, run_id="dag-run-1", job_facets=job_type("DAG"))
    emit("etl.load", ["raw"], ["staging"], seconds=1, job_facets=job_type("TASK"), parent=parent)
    emit("etl.transform", ["staging"], ["mart"], seconds=2, job_facets=job_type("TASK"), parent=parent)
    derive_pending()
    plain = reader.get("/api/v1/lineage", {"nodeId": ds("mart"), "direction": "upstream"}).json()["graph"]
    task = next(n for n in plain if n["id"] == "job:airflow:etl.transform")
    assert task["data"]["dag"] == {"namespace": "airflow", "name": "etl"}
    assert task["data"]["jobType"] == "TASK"
    grouped = reader.get("/api/v1/lineage", {"nodeId": ds("mart"), "direction": "upstream", "group": "dag"})
    assert set(nodes(grouped)) == {ds("mart"), "job:airflow:etl", ds("staging"), ds("raw")}
    dag = next(n for n in grouped.json()["graph"] if n["id"] == "job:airflow:etl")
    assert dag["data"]["members"] == ["job:airflow:etl.load", "job:airflow:etl.transform"]
    assert (ds("staging"), "job:airflow:etl") in edges(grouped) and ("job:airflow:etl", ds("mart")) in edges(grouped)


def test_limit_keeps_the_nearest_nodes_and_says_how_many_there_are(reader):
    build(*ESTATE)
    answer = reader.get("/api/v1/lineage", {"nodeId": ds("raw"), "direction": "downstream", "limit": 3}).json()
    assert [n["depth"] for n in answer["graph"]] == [0, 1, 2]
    assert answer["truncated"] is True and answer["totalNodes"] == 9


def test_column_lineage_from_a_dataset_and_from_a_field(reader):
    source = dataset(WH, "orders", fields=["id", "email", "amount"])
    target = dataset(
        WH,
        "mart",
        fields=["id", "email_hash"],
        column_lineage={"email_hash": [(WH, "orders", "email")], "id": [(WH, "orders", "id")]},
    )
    report = dataset(WH, "report", fields=["contact"], column_lineage={"contact": [(WH, "mart", "email_hash")]})
    for index, (inputs, output) in enumerate([([source], target), ([target], report)]):
        ingest_event(
            event=run_event("COMPLETE", run_id=f"r{index}", seconds=index, inputs=inputs, outputs=[output]),
            source="cli",
            derive=False,
        )
    derive_pending()
    answer = reader.get("/api/v1/column-lineage", {"nodeId": ds("report")})
    assert set(nodes(answer)) == {
        f"datasetField:{WH}:report:contact",
        f"datasetField:{WH}:mart:email_hash",
        f"datasetField:{WH}:orders:email",
    }
    contact = next(n for n in answer.json()["graph"] if n["data"]["field"] == "contact")
    assert contact["type"] == "DATASET_FIELD"
    assert contact["data"]["inputFields"][0]["field"] == "email_hash"
    assert contact["data"]["inputFields"][0]["transformationType"] == "DIRECT"
    assert contact["inEdges"] == [
        {"origin": f"datasetField:{WH}:report:contact", "destination": f"datasetField:{WH}:mart:email_hash"}
    ]

    field = f"datasetField:{WH}:orders:email"
    upstream_only = reader.get("/api/v1/column-lineage", {"nodeId": field})
    assert set(nodes(upstream_only)) == {field}
    downstream = reader.get("/api/v1/column-lineage", {"nodeId": field, "withDownstream": "true"})
    assert set(nodes(downstream)) == {field, f"datasetField:{WH}:mart:email_hash", f"datasetField:{WH}:report:contact"}
    # /lineage from a field answers with the field graph too.
    assert set(nodes(reader.get("/api/v1/lineage", {"nodeId": field, "direction": "downstream"}))) == set(
        nodes(downstream)
    )


def test_impact_groups_jobs_by_dag_lists_owners_and_critical_jobs(reader):
    emit("ingest", [], [("pg://db", "orders")], seconds=0)
    for index, dag in enumerate(["sales", "finance"]):
        emit(dag, [], [], seconds=index, run_id=f"dag-{dag}", job_facets=job_type("DAG"))
    parent = {"sales": ("airflow", "sales", "dag-sales"), "finance": ("airflow", "finance", "dag-finance")}
    owned = dataset(WH, "sales_clean", owners=["team:sales"])
    emit("sales.clean", [("pg://db", "orders")], [], seconds=5, parent=parent["sales"])
    ingest_event(
        event=run_event(
            "COMPLETE",
            run_id="clean-out",
            job=("airflow", "sales.clean"),
            seconds=6,
            outputs=[owned],
            parent=parent["sales"],
        ),
        source="cli",
        derive=False,
    )
    emit("sales.aggregate", ["sales_clean"], ["sales_daily"], seconds=7, parent=parent["sales"])
    emit("finance.ledger", ["sales_daily"], ["ledger"], seconds=8, parent=parent["finance"])
    derive_pending()
    answer = reader.get("/api/v1/impact", {"nodeId": "dataset:pg://db:orders"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["summary"] == {
        "datasets": 3,
        "jobs": 3,
        "dags": 2,
        "hops": 3,
        "criticalTransformations": 3,
        "restricted": 0,
    }
    assert {g["dag"]: [j["id"] for j in g["jobs"]] for g in body["dags"]} == {
        "job:airflow:sales": ["job:airflow:sales.clean", "job:airflow:sales.aggregate"],
        "job:airflow:finance": ["job:airflow:finance.ledger"],
    }
    assert body["owners"] == [{"name": "team:sales", "datasets": [ds("sales_clean")], "jobs": []}]
    assert body["criticalTransformations"][0] == {
        "id": "job:airflow:sales.clean",
        "datasetsCutOff": 3,
        "dag": "job:airflow:sales",
    }
    assert body["recommendations"][0].startswith("Review before changing")


def test_the_lineage_report_is_computed_and_cached_until_lineage_changes(reader, django_assert_max_num_queries):
    build(*ESTATE)
    first = reader.get("/api/v1/lineage/report").json()
    assert (first["datasets"], first["transformations"], first["edges"]) == (5, 4, 8)
    assert first["hasCycles"] is False and first["maxDepth"] == 6
    assert first["orphanedDatasets"] == {"count": 0, "datasets": []}
    assert first["weaklyConnectedComponents"]["count"] == 1
    with django_assert_max_num_queries(15):  # the cached answer: session, role and fingerprint, no graph load
        again = reader.get("/api/v1/lineage/report").json()
    assert again["computedAt"] == first["computedAt"]
    build(("loop.back", ["dashboard"], ["raw"]))
    changed = reader.get("/api/v1/lineage/report").json()
    assert (changed["hasCycles"] is True and changed["computedAt"] != first["computedAt"]) or changed["hasCycles"]


def test_the_diff_lists_what_appeared_and_disappeared(reader):
    emit("etl.load", ["raw"], ["old_table"], seconds=0)
    emit("etl.load", ["raw"], ["new_table"], seconds=3600, run_id="second")
    derive_pending()
    answer = reader.get(
        "/api/v1/lineage/diff",
        {
            "nodeId": ds("raw"),
            "direction": "downstream",
            "from": (T0 + timedelta(minutes=1)).isoformat(),
            "to": (T0 + timedelta(hours=2)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert [n["id"] for n in body["added"]["nodes"]] == [ds("new_table")]
    assert [n["id"] for n in body["removed"]["nodes"]] == [ds("old_table")]
    assert body["added"]["edges"] == [{"origin": "job:airflow:etl.load", "destination": ds("new_table")}]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"nodeId": "dataset:x:y", "depth": "-1"}, "depth"),
        ({"nodeId": "dataset:x:y", "depth": "deep"}, "depth"),
        ({"nodeId": "dataset:x:y", "direction": "sideways"}, "direction"),
        ({"nodeId": "dataset:x:y", "asOf": "last tuesday"}, "asOf"),
        ({"nodeId": "dataset:x:y", "view": "newest"}, "view"),
        ({"nodeId": "table:x:y"}, "nodeId"),
        ({}, "nodeId"),
        ({"type": "sheet", "namespace": "x", "name": "y"}, "type"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(reader, query, parameter):
    build(*ESTATE)
    query = {k: (ds("mart") if v == "dataset:x:y" else v) for k, v in query.items()}
    answer = reader.get("/api/v1/lineage", query)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["parameter"] == parameter


@pytest.mark.parametrize(
    "path", ["/api/v1/lineage", "/api/v1/column-lineage", "/api/v1/impact", "/api/v1/lineage/diff"]
)
def test_an_unknown_node_is_a_404(reader, path):
    build(*ESTATE)
    for node in (ds("nope"), "dataset:unknown-namespace:t", "job:airflow:nope"):
        if path == "/api/v1/column-lineage" and node.startswith("job"):
            continue
        answer = reader.get(path, {"nodeId": node, "from": T0.isoformat()})
        assert answer.status_code == 404, (path, node)


def test_reading_lineage_needs_a_login(client):
    assert client.get("/api/v1/lineage", {"nodeId": ds("mart")}).status_code in (401, 403)


def test_the_openapi_schema_lists_the_lineage_endpoints(reader):
    schema = reader.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path, parameters in {
        "/api/v1/lineage": {"nodeId", "depth", "direction", "asOf", "view", "group", "limit"},
        "/api/v1/column-lineage": {"nodeId", "depth", "withDownstream"},
        "/api/v1/impact": {"nodeId"},
        "/api/v1/lineage/diff": {"nodeId", "from", "to"},
        "/api/v1/lineage/report": set(),
    }.items():
        listed = {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}
        assert parameters <= listed, path
    assert "post" in schema["paths"]["/api/v1/lineage/batch"]


# --- The SQL walk agrees with the reference walk ---------------------------------------------------------


def random_estate(rng: random.Random, datasets: int = 30, jobs: int = 25):
    """Random jobs over a small pool of tables: cycles, diamonds, self-loops and changes of outputs."""
    for job in range(jobs):
        for version in range(rng.choice([1, 1, 2])):
            inputs = rng.sample(range(datasets), rng.randint(0, 3))
            outputs = rng.sample(range(datasets), rng.randint(1, 2))
            emit(
                f"job{job}",
                [f"t{i}" for i in inputs],
                [f"t{o}" for o in outputs],
                seconds=rng.randint(0, 7200),
                state=rng.choice(["COMPLETE", "COMPLETE", "FAIL"]),
                run_id=f"r{job}-{version}",
            )
    derive_pending()


def reference_edges(as_of=None, view=traversal.CUMULATIVE):
    """The graph's edges computed the plain way, in Python."""
    rows = []
    if view == traversal.LATEST:
        for job in Job.objects.all():
            runs = Run.objects.filter(job=job, state="COMPLETED")
            if as_of is not None:
                runs = runs.filter(ended_at__lte=as_of)
            latest = runs.order_by("-ended_at", "-id").first()
            if latest is not None:
                rows += [
                    (job.pk, dataset_id, direction)
                    for dataset_id, direction in RunDataset.objects.filter(run=latest).values_list(
                        "dataset_id", "direction"
                    )
                ]
    else:
        edges = JobEdge.objects.all()
        if as_of is not None:
            edges = edges.filter(first_seen__lte=as_of)
        rows = list(edges.values_list("job_id", "dataset_id", "direction"))
    return [
        (("dataset", d), ("job", j)) if direction == "in" else (("job", j), ("dataset", d)) for j, d, direction in rows
    ]


@pytest.mark.parametrize("seed", range(4))
def test_the_sql_walk_matches_the_reference_walk(seed):
    rng = random.Random(seed)
    random_estate(rng)
    for _ in range(12):
        as_of = rng.choice([None, T0 + timedelta(seconds=rng.randint(0, 7200))])
        view = rng.choice([traversal.CUMULATIVE, traversal.LATEST])
        expand = adjacency_expander(reference_edges(as_of, view))
        kind = rng.choice(["dataset", "job"])
        model = Dataset if kind == "dataset" else Job
        start = (kind, rng.choice(list(model.objects.values_list("pk", flat=True))))
        depth, direction = rng.randint(0, 12), rng.choice([UP, DOWN, BOTH])
        expected = walk(start, depth=depth, direction=direction, expand=expand)
        actual, _ = traversal.walk(
            traversal.Query(start=start, depth=depth, direction=direction, as_of=as_of, view=view)
        )
        assert actual.depths == expected.depths, (start, depth, direction, as_of, view)
        assert actual.edges == expected.edges, (start, depth, direction, as_of, view)


@pytest.mark.parametrize("seconds", [0, 1.5, 59.000001, 3600.123456])
def test_node_times_read_for_answers_are_written_as_python_writes_them(seconds):
    from governance.times import iso

    emit("etl.load", ["raw"], ["staging"], seconds=seconds)
    derive_pending()
    dataset = Dataset.objects.get(name="staging")
    job = Job.objects.get(name="etl.load")
    assert iso(traversal.dataset_rows([dataset.pk])[dataset.pk]["created_at"]) == iso(dataset.created_at)
    row = traversal.job_rows([job.pk])[job.pk]
    assert iso(row["updated_at"]) == iso(job.updated_at)
    assert iso(row["run_ended_at"]) == iso(Run.objects.get(job=job).ended_at)
    assert iso(row["run_started_at"]) is None


def test_a_node_id_splits_at_the_longest_known_namespace(reader):
    # Two namespaces, one a prefix of the other: "postgres://db" + "5432:t" reads as "postgres://db:5432" + "t".
    build(("a.load", [("postgres://db", "5432:t")], [("postgres://db:5432", "u")]))
    assert set(nodes(reader.get("/api/v1/lineage", {"nodeId": "dataset:postgres://db:5432:u"}))) >= {
        "dataset:postgres://db:5432:u",
        "job:airflow:a.load",
    }
    # The longest known namespace wins, so the shorter one's dataset is not reached through this id.
    answer = reader.get("/api/v1/lineage", {"nodeId": "dataset:postgres://db:5432:t"})
    assert answer.status_code == 404
    assert "no dataset 't' in namespace 'postgres://db:5432'" in answer.content.decode()
    # Explicit parameters name it without splitting (its id, as Marquez writes it, still reads both ways).
    explicit = reader.get(
        "/api/v1/lineage",
        {"type": "dataset", "namespace": "postgres://db", "name": "5432:t", "direction": "downstream"},
    )
    assert set(nodes(explicit)) == {
        "dataset:postgres://db:5432:t",
        "job:airflow:a.load",
        "dataset:postgres://db:5432:u",
    }
    column = {"type": "datasetField", "namespace": "postgres://db", "name": "5432:t", "field": "id"}
    assert reader.get("/api/v1/column-lineage", column).status_code == 200
    assert reader.get("/api/v1/lineage", {"nodeId": "job:airflow:a.load"}).status_code == 200
    assert reader.get("/api/v1/lineage", {"nodeId": "dataset:nowhere:t"}).status_code == 404


@requires_postgres()
def test_repeated_queries_are_prepared_on_postgresql(reader):
    """TRIBUTARY_DB_PREPARED_STATEMENTS (on by default): the lineage queries are planned once per connection."""
    from django.db import connection

    build(*ESTATE)
    for _ in range(6):
        assert reader.get("/api/v1/lineage", {"nodeId": ds("mart"), "depth": 6}).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any("WITH RECURSIVE walk" in statement for statement in prepared), prepared


@requires_postgres()
def test_prepared_reads_survive_a_column_added_by_a_migration(reader):
    """Web processes keep running while a deployment migrates: their prepared statements must not break."""
    from django.db import connection

    from governance.tokens import authenticate_secret, create_token

    build(*ESTATE)
    issued = create_token(name="script", scope="read")
    for _ in range(6):
        assert authenticate_secret(issued.secret) is not None
        assert reader.get("/api/v1/lineage", {"nodeId": ds("mart"), "depth": 2}).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's transaction holds deferred checks
        cursor.execute("ALTER TABLE governance_apitoken ADD COLUMN added_later integer")
        cursor.execute("ALTER TABLE lineage_dataset ADD COLUMN added_later integer")
    assert authenticate_secret(issued.secret) is not None
    assert reader.get("/api/v1/lineage", {"nodeId": ds("mart"), "depth": 2}).status_code == 200
