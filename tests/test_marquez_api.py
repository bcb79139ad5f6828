"""The Marquez-compatible reads: /api/v1/namespaces, datasets, jobs, runs, search and events, in Marquez's JSON."""

from urllib.parse import quote

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from marquez_client import MarquezClient, errors

from governance.models import Namespace
from governance.tokens import create_token
from lineage.derive.queue import derive_pending
from lineage.ingest import services
from lineage.models import RawEvent
from lineage.openlineage import dataset_version_id

from .conftest import example_event_names, load_event, login, make_user
from .events import at, dataset, job_type, run_event

pytestmark = pytest.mark.django_db

POSTGRES = "postgres://POSTGRES_HOST:1234"
HDFS = "hdfs://dataproc-producer-test-m"


def ingest(*events):
    for event in events:
        result = services.ingest_event(event=event, source="cli", derive=False)
        assert result.stored, result.errors
    derive_pending()


def enc(name: str) -> str:
    """A path segment as clients send it (marquez-python quotes with safe='')."""
    return quote(name, safe="")


@pytest.fixture
def examples(db):
    ingest(*(load_event(name) for name in example_event_names()))


@pytest.fixture
def reader(db):
    return create_token(name="marquez-script", scope="read").secret


@pytest.fixture
def api(client, reader):
    def get(path, **params):
        return client.get(f"/api/v1{path}", params, HTTP_AUTHORIZATION=f"Bearer {reader}")

    return get


# --- Namespaces ------------------------------------------------------------------------------------------


def test_namespaces_are_listed_by_name_in_marquez_shape(api, examples):
    body = api("/namespaces").json()
    names = [ns["name"] for ns in body["namespaces"]]
    assert names == sorted(names) and body["totalCount"] == len(names) == Namespace.objects.count()
    assert {"airflow", POSTGRES, HDFS, "gs://mock-bucket"} <= set(names)
    airflow = next(ns for ns in body["namespaces"] if ns["name"] == "airflow")
    assert airflow == {
        "name": "airflow",
        "createdAt": "2024-11-26T13:05:23.809955Z",
        "updatedAt": "2024-11-26T13:10:46.074886Z",
        "ownerName": "anonymous",
        "description": None,
        "isHidden": False,
    }


def test_a_namespace_with_colons_and_slashes_is_found_encoded_or_not(api, examples):
    for path in (f"/namespaces/{enc(POSTGRES)}", f"/namespaces/{POSTGRES}"):
        response = api(path)
        assert response.status_code == 200, path
        assert response.json()["name"] == POSTGRES


def test_an_unknown_namespace_is_a_404_in_marquez_shape(api, examples):
    for path in ("/namespaces/nope", "/namespaces/nope/datasets", "/namespaces/nope/jobs/x", "/namespaces/a/b:c"):
        response = api(path)
        assert response.status_code == 404, path
        body = response.json()
        assert body["code"] == 404 and body["message"].startswith("Namespace '")
    assert api("/namespaces/nope/jobs/x").json()["message"] == "Namespace 'nope' not found."


def test_namespaces_page_with_limit_and_offset(api, examples):
    everything = [ns["name"] for ns in api("/namespaces").json()["namespaces"]]
    page = api("/namespaces", limit=3, offset=2).json()
    assert [ns["name"] for ns in page["namespaces"]] == everything[2:5]
    assert page["totalCount"] == len(everything)
    assert api("/namespaces", limit=0).json() == {"namespaces": [], "totalCount": len(everything)}


# --- Datasets --------------------------------------------------------------------------------------------


def test_datasets_of_a_namespace_with_colons_are_listed_by_name(api, examples):
    body = api(f"/namespaces/{enc(POSTGRES)}/datasets").json()
    assert [d["name"] for d in body["datasets"]] == [
        "postgres.public.orders",
        "postgres.public.stg_orders",
        "postgres.public.stg_payments",
    ]
    assert body["totalCount"] == 3
    orders = body["datasets"][0]
    assert orders["id"] == {"namespace": POSTGRES, "name": "postgres.public.orders"}
    assert orders["namespace"] == POSTGRES and orders["physicalName"] == "postgres.public.orders"
    assert orders["type"] == "DB_TABLE" and orders["deleted"] is False
    assert set(orders) >= {
        "createdAt",
        "updatedAt",
        "sourceName",
        "fields",
        "tags",
        "lastModifiedAt",
        "lastLifecycleState",
        "description",
        "currentVersion",
        "columnLineage",
        "facets",
    }
    assert all(set(f) >= {"name", "type", "tags", "description"} for f in orders["fields"])


def test_a_dataset_shows_its_schema_version_last_modification_and_column_lineage(api, examples):
    body = api(f"/namespaces/{enc(HDFS)}/datasets/{enc('/user/hive/warehouse/t2')}").json()
    assert body["name"] == "/user/hive/warehouse/t2" and body["namespace"] == HDFS
    assert [(f["name"], f["type"], f["tags"]) for f in body["fields"]] == [("a", "integer", []), ("b", "string", [])]
    run_id = load_event("spark_dataproc_hive_insert_complete_sql.json")["run"]["runId"]
    assert body["currentVersion"] == str(dataset_version_id(HDFS, "/user/hive/warehouse/t2", run_id))
    assert body["lastModifiedAt"] == "2024-10-17T09:18:29.267000Z"
    assert body["sourceName"] == HDFS
    assert body["columnLineage"] == [
        {
            "name": name,
            "inputFields": [
                {
                    "namespace": HDFS,
                    "dataset": "/user/hive/warehouse/t1",
                    "field": name,
                    "transformationDescription": "",
                    "transformationType": "DIRECT",
                    "transformations": [{"type": "DIRECT", "masking": False, "subtype": "IDENTITY", "description": ""}],
                }
            ],
            "transformationDescription": "",
            "transformationType": "DIRECT",
        }
        for name in ("a", "b")
    ]
    assert "schema" in body["facets"] and body["nodeId"] == f"dataset:{HDFS}:/user/hive/warehouse/t2"


def test_a_dropped_table_is_marked_deleted_with_its_lifecycle_state(api, examples):
    body = api(f"/namespaces/{HDFS}/datasets//user/hive/warehouse/t1").json()  # unencoded, as a WSGI server decodes
    assert body["deleted"] is True and body["lastLifecycleState"] == "DROP"


def test_a_dataset_never_written_has_no_version(api, examples):
    body = api("/namespaces/bigquery/datasets/bigquery-public-data.samples.shakespeare").json()
    assert body["currentVersion"] is None and body["lastModifiedAt"] is None and body["columnLineage"] is None
    assert body["sourceName"] == "bigquery" and [f["name"] for f in body["fields"]][:2] == ["word", "word_count"]


def test_an_unknown_dataset_is_a_404(api, examples):
    response = api("/namespaces/bigquery/datasets/no.such.table")
    assert response.status_code == 404
    assert response.json()["message"] == "Dataset 'no.such.table' not found."


def test_dataset_tags_and_field_tags_come_from_the_tags_facet(api):
    tags = {
        "_producer": "p",
        "_schemaURL": "s",
        "tags": [{"key": "pii", "value": "true"}, {"key": "email", "value": "yes", "field": "email"}],
    }
    ingest(
        run_event("COMPLETE", run_id="r1", outputs=[dataset("warehouse", "users", fields=["id", "email"], tags=tags)])
    )
    body = api("/namespaces/warehouse/datasets/users").json()
    assert body["tags"] == ["pii"]
    assert [(f["name"], f["tags"]) for f in body["fields"]] == [("id", []), ("email", ["email"])]


def test_dataset_versions_list_each_run_that_wrote_it_newest_first(api):
    table = dataset("warehouse", "orders", fields=["id"])
    ingest(
        run_event("COMPLETE", run_id="run-1", job=("etl", "load"), seconds=0, outputs=[table]),
        run_event("COMPLETE", run_id="run-2", job=("etl", "load"), seconds=60, outputs=[table]),
    )
    body = api("/namespaces/warehouse/datasets/orders/versions").json()
    assert body["totalCount"] == 2
    versions = body["versions"]
    assert [v["createdByRun"]["id"] for v in versions] == ["run-2", "run-1"]
    newest = versions[0]
    assert newest["version"] == newest["id"]["version"] == str(dataset_version_id("warehouse", "orders", "run-2"))
    assert newest["id"] | {} == {"namespace": "warehouse", "name": "orders", "version": newest["version"]}
    assert [f["name"] for f in newest["fields"]] == ["id"]
    assert newest["createdByRun"]["state"] == "COMPLETED"
    assert api("/namespaces/warehouse/datasets/orders").json()["currentVersion"] == newest["version"]
    one = api(f"/namespaces/warehouse/datasets/orders/versions/{versions[1]['version']}").json()
    assert one["createdByRun"]["id"] == "run-1"
    assert api("/namespaces/warehouse/datasets/orders/versions", limit=1, offset=1).json()["versions"][0] == one
    missing = api("/namespaces/warehouse/datasets/orders/versions/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["message"].startswith("Dataset version '")
    assert api("/namespaces/warehouse/datasets/orders/versions/not-a-uuid").status_code == 404


def test_a_dataset_whose_name_ends_in_versions_is_still_a_dataset(api):
    ingest(
        run_event("COMPLETE", run_id="r1", outputs=[dataset("gs://bucket", "exports/versions", fields=["id"])]),
        run_event("COMPLETE", run_id="r2", outputs=[dataset("gs://bucket", "exports", fields=["id"])]),
    )
    assert api(f"/namespaces/{enc('gs://bucket')}/datasets/{enc('exports/versions')}").json()["name"] == (
        "exports/versions"
    )
    body = api(f"/namespaces/{enc('gs://bucket')}/datasets/{enc('exports/versions')}/versions").json()
    assert body["versions"][0]["name"] == "exports/versions"
    # Decoded, `exports/versions` names both; the dataset that exists by that exact name wins.
    assert api("/namespaces/gs://bucket/datasets/exports/versions").json()["name"] == "exports/versions"
    assert api(f"/namespaces/{enc('gs://bucket')}/datasets/exports/versions/versions").json()["totalCount"] == 1
    assert api("/namespaces/gs://bucket/datasets/elsewhere/versions").json()["message"] == (
        "Dataset 'elsewhere' not found."
    )


def test_the_longest_namespace_wins_where_a_path_reads_two_ways(api):
    ingest(
        run_event("COMPLETE", run_id="r1", outputs=[dataset("gs://bucket", "a.csv")]),
        run_event("COMPLETE", run_id="r2", outputs=[dataset("gs://bucket/datasets", "b.csv")]),
    )
    assert api("/namespaces/gs://bucket/datasets").json()["name"] == "gs://bucket/datasets"
    assert [d["name"] for d in api("/namespaces/gs://bucket/datasets/datasets").json()["datasets"]] == ["b.csv"]
    assert api("/namespaces/gs://bucket/datasets/a.csv").json()["namespace"] == "gs://bucket"
    assert api(f"/namespaces/{enc('gs://bucket')}/jobs").json() == {"jobs": [], "totalCount": 0}


def test_datasets_page_with_limit_and_offset(api):
    ingest(*(run_event("COMPLETE", run_id=f"r{i}", outputs=[dataset("lake", f"t{i:02}")]) for i in range(12)))
    page = api("/namespaces/lake/datasets", limit=5, offset=10).json()
    assert [d["name"] for d in page["datasets"]] == ["t10", "t11"] and page["totalCount"] == 12


# --- Jobs and runs ---------------------------------------------------------------------------------------


def test_jobs_of_a_namespace_are_listed_most_recently_updated_first(api, examples):
    body = api("/namespaces/airflow/jobs").json()
    jobs = body["jobs"]
    assert body["totalCount"] == len(jobs)
    assert [j["updatedAt"] for j in jobs] == sorted((j["updatedAt"] for j in jobs), reverse=True)
    upload = next(j for j in jobs if j["name"] == "BQ.upload")
    assert upload["id"] == {"namespace": "airflow", "name": "BQ.upload"}
    assert (upload["simpleName"], upload["parentJobName"], upload["type"]) == ("upload", "BQ", "BATCH")
    assert upload["labels"] == ["TASK", "AIRFLOW"] and upload["jobType"] == "TASK"
    assert upload["dag"] == upload["parent"] == {"namespace": "airflow", "name": "BQ"}
    assert upload["inputs"] == [
        {"namespace": "gs://mock-bucket", "name": "copied.csv"},
        {"namespace": "gs://mock-bucket", "name": "test.csv"},
    ]
    assert upload["outputs"] == [{"namespace": "bigquery", "name": "mock-project.test.upload"}]
    latest = upload["latestRun"]
    assert latest["id"] == "01936893-9751-7b3c-8f76-8ac6d0e5f8a3" and latest["state"] == "COMPLETED"
    assert latest["durationMs"] == 4058 and latest["startedAt"] == "2024-11-26T13:05:25.547948Z"
    assert upload["currentVersion"] == latest["jobVersion"]["version"]
    assert "latestRuns" not in upload  # the detail has them; a listing stays cheap
    dag = next(j for j in jobs if j["name"] == "BQ")
    assert (
        dag["jobType"] == "DAG"
        and dag["parentJobName"] is None
        and dag["dag"] == {"namespace": "airflow", "name": "BQ"}
    )


def test_a_job_has_its_latest_ten_runs_newest_first(api):
    ingest(*(run_event("COMPLETE", run_id=f"run-{i:02}", job=("etl", "nightly"), seconds=i * 60) for i in range(12)))
    body = api("/namespaces/etl/jobs/nightly").json()
    assert [r["id"] for r in body["latestRuns"]] == [f"run-{i:02}" for i in range(11, 1, -1)]
    assert body["latestRun"] == body["latestRuns"][0]


def test_a_job_that_never_ran_has_the_datasets_of_its_job_event(api):
    job_event = load_event("static_job_event_inputs_outputs.json")
    job_event["job"]["name"] = "declared"
    ingest(job_event)
    body = api("/namespaces/openlineage/jobs/declared").json()
    assert body["latestRun"] is None and body["latestRuns"] == [] and body["currentVersion"] is None
    assert body["inputs"] == [{"namespace": "openlineage", "name": "dataset_a"}]
    assert body["outputs"] == [{"namespace": "openlineage", "name": "dataset_b"}]


def test_an_unknown_job_is_a_404(api, examples):
    response = api("/namespaces/airflow/jobs/BQ.nope")
    assert response.status_code == 404 and response.json()["message"] == "Job 'BQ.nope' not found."
    assert api("/namespaces/airflow/jobs/BQ.nope/runs").status_code == 404


def test_runs_of_a_job_name_the_dataset_versions_they_read_and_wrote(api, examples):
    body = api("/namespaces/airflow/jobs/BQ.copy/runs").json()
    assert body["totalCount"] == 1
    run = body["runs"][0]
    assert set(run) >= {
        "id",
        "createdAt",
        "updatedAt",
        "nominalStartTime",
        "nominalEndTime",
        "state",
        "startedAt",
        "endedAt",
        "durationMs",
        "args",
        "jobVersion",
        "inputDatasetVersions",
        "outputDatasetVersions",
        "facets",
    }
    assert run["jobVersion"]["namespace"] == "airflow" and run["jobVersion"]["name"] == "BQ.copy"
    upload_run = load_event("airflow_gcs_to_bigquery_task_complete_column_lineage.json")["run"]["runId"]
    # BQ.copy read the table BQ.upload wrote: at the version that run made.
    assert run["inputDatasetVersions"] == [
        {
            "datasetVersionId": {
                "namespace": "bigquery",
                "name": "mock-project.test.upload",
                "version": str(dataset_version_id("bigquery", "mock-project.test.upload", upload_run)),
            },
            "facets": run["inputDatasetVersions"][0]["facets"],
        }
    ]
    [output] = run["outputDatasetVersions"]
    assert output["datasetVersionId"]["version"] == str(
        dataset_version_id("bigquery", "mock-project.test.upload_cp", run["id"])
    )


def test_runs_are_paged_newest_first(api):
    ingest(*(run_event("COMPLETE", run_id=f"run-{i}", job=("etl", "hourly"), seconds=i * 60) for i in range(5)))
    page = api("/namespaces/etl/jobs/hourly/runs", limit=2, offset=1).json()
    assert [r["id"] for r in page["runs"]] == ["run-3", "run-2"] and page["totalCount"] == 5


def test_a_run_is_found_by_its_id_even_when_it_is_not_a_uuid(api, examples):
    body = api("/jobs/runs/run_id").json()
    assert body["id"] == "run_id" and body["job"] == {"namespace": "job_namespace", "name": "job_name"}
    assert body["state"] == "COMPLETED"
    failed = api("/jobs/runs/01994d1d-7a00-7d88-9f03-1a5c7e9b2d46").json()
    assert failed["state"] == "FAILED" and "errorMessage" in failed["facets"]
    missing = api("/jobs/runs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Run '00000000-0000-0000-0000-000000000000' not found."


def test_the_facets_of_a_run_and_of_its_job(api, examples):
    run_id = "01936893-9751-7b3c-8f76-8ac6d0e5f8a3"
    run_facets = api(f"/jobs/runs/{run_id}/facets", type="run").json()
    assert run_facets["runId"] == run_id and "nominalTime" in run_facets["facets"]
    assert "jobType" in api(f"/jobs/runs/{run_id}/facets", type="job").json()["facets"]
    assert api(f"/jobs/runs/{run_id}/facets").json()["parameter"] == "type"


def test_all_jobs_of_every_namespace_and_by_state_of_their_latest_run(api, examples):
    body = api("/jobs").json()
    assert (
        body["totalCount"]
        == len(api("/jobs", limit=1000).json()["jobs"])
        > len(api("/namespaces/airflow/jobs").json()["jobs"])
    )
    failed = api("/jobs", lastRunStates="FAILED", limit=1000).json()["jobs"]
    assert {j["latestRun"]["state"] for j in failed if j["latestRun"]} == {"FAILED"}
    assert any(j["latestRun"] is None for j in failed)  # as Marquez: jobs that never ran are kept
    both = api("/jobs", lastRunStates=["FAILED", "ABORTED"], limit=1000).json()
    assert {j["latestRun"]["state"] for j in both["jobs"] if j["latestRun"]} == {"FAILED", "ABORTED"}
    assert both["totalCount"] == len(both["jobs"])


def test_a_job_whose_name_ends_in_runs_is_still_a_job(api):
    ingest(
        run_event("COMPLETE", run_id="r1", job=("reports", "daily/runs")),
        run_event("COMPLETE", run_id="r2", job=("reports", "daily/runs"), seconds=5),
    )
    assert api(f"/namespaces/reports/jobs/{enc('daily/runs')}").json()["name"] == "daily/runs"
    assert api(f"/namespaces/reports/jobs/{enc('daily/runs')}/runs").json()["totalCount"] == 2
    assert api("/namespaces/reports/jobs/daily/runs/runs").json()["totalCount"] == 2


def test_listing_jobs_takes_the_same_number_of_queries_for_3_or_60_jobs(api, django_assert_max_num_queries):
    def jobs(first, count):
        return [
            run_event(
                "COMPLETE",
                run_id=f"run-{i}",
                job=("many", f"dag.task_{i}"),
                job_facets=job_type("TASK"),
                parent=("many", "dag", "dag-run"),
                inputs=[dataset("many", f"in_{i}")],
                outputs=[dataset("many", f"out_{i}", column_lineage={"id": [("many", f"in_{i}", "id")]})],
            )
            for i in range(first, first + count)
        ]

    ingest(*jobs(0, 3))
    with CaptureQueriesContext(connection) as few:
        assert len(api("/namespaces/many/jobs").json()["jobs"]) == 4  # and the DAG
    ingest(*jobs(3, 57))
    with django_assert_max_num_queries(len(few)):
        assert len(api("/namespaces/many/jobs").json()["jobs"]) == 61
    with django_assert_max_num_queries(len(few)):
        assert len(api("/jobs").json()["jobs"]) == 61
    with CaptureQueriesContext(connection) as few_datasets:
        api("/namespaces/many/datasets", limit=3)
    with django_assert_max_num_queries(len(few_datasets)):
        assert len(api("/namespaces/many/datasets").json()["datasets"]) == 100
    with CaptureQueriesContext(connection) as few_runs:
        api("/namespaces/many/jobs/dag.task_0/runs")
    with django_assert_max_num_queries(len(few_runs)):
        api("/namespaces/many/jobs/dag/runs")


# --- Search ----------------------------------------------------------------------------------------------


def test_search_finds_datasets_and_jobs_by_name(api, examples):
    body = api("/search", q="upload").json()
    assert body["totalCount"] == len(body["results"]) == 7
    assert [r["name"] for r in body["results"]] == sorted(r["name"] for r in body["results"])
    job = next(r for r in body["results"] if r["type"] == "JOB")
    assert job == {
        "type": "JOB",
        "name": "BQ.upload",
        "updatedAt": "2024-11-26T13:05:29.606867Z",
        "namespace": "airflow",
        "nodeId": "job:airflow:BQ.upload",
    }
    assert {r["type"] for r in api("/search", q="upload", filter="dataset").json()["results"]} == {"DATASET"}
    assert [r["name"] for r in api("/search", q="UPLOAD", filter="JOB").json()["results"]] == ["BQ.upload"]


def test_search_sorts_limits_and_filters_like_marquez(api, examples):
    recent = api("/search", q="upload", sort="updated_at").json()["results"]
    assert [r["updatedAt"] for r in recent] == sorted((r["updatedAt"] for r in recent), reverse=True)
    assert len(api("/search", q="a").json()["results"]) == 10  # Marquez's default limit for search
    page = api("/search", q="upload", limit=2, offset=2).json()
    assert [r["name"] for r in page["results"]] == [r["name"] for r in api("/search", q="upload").json()["results"]][
        2:4
    ]
    assert page["totalCount"] == 7
    assert [r["name"] for r in api("/search", q="upload_c%").json()["results"]] == ["mock-project.test.upload_cp"]
    assert [r["name"] for r in api("/search", q="BQ.cop_").json()["results"]] == ["BQ.copy"]
    assert api("/search", q="upload.csv").json()["totalCount"] == 0  # `.` is literal, not a regex
    in_bigquery = api("/search", q="upload", namespace="bigquery").json()["results"]
    assert {r["namespace"] for r in in_bigquery} == {"bigquery"} and len(in_bigquery) == 2
    assert api("/search", q="upload", after="2024-11-27").json()["totalCount"] == 0
    assert api("/search", q="upload", before="2024-11-27").json()["totalCount"] == 7


# --- Events ----------------------------------------------------------------------------------------------


def test_lineage_events_are_the_run_events_as_received_newest_first(client, reader):
    older = run_event("START", run_id="r1", seconds=0)
    newer = run_event("COMPLETE", run_id="r1", seconds=30)
    body = (
        b'{"eventType": "COMPLETE",   "eventTime": "'
        + newer["eventTime"].encode()
        + b'", '
        + (orjson.dumps({k: v for k, v in newer.items() if k not in ("eventType", "eventTime")})[1:])
    )
    services.ingest_event(event=orjson.loads(body), body=body.decode(), source="cli", derive=False)
    ingest(older, load_event("static_dataset_event_schema.json"))
    response = client.get("/api/v1/events/lineage", HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert response["Content-Type"] == "application/json"
    assert b'"eventType": "COMPLETE",   "eventTime"' in response.content  # verbatim
    events = response.json()
    assert events["totalCount"] == 2  # RunEvents only, as Marquez
    assert [e["eventTime"] for e in events["events"]] == [newer["eventTime"], older["eventTime"]]
    ascending = client.get(
        "/api/v1/events/lineage", {"sortDirection": "asc"}, HTTP_AUTHORIZATION=f"Bearer {reader}"
    ).json()
    assert [e["eventType"] for e in ascending["events"]] == ["START", "COMPLETE"]


def test_lineage_events_between_two_times(api):
    ingest(*(run_event("COMPLETE", run_id=f"r{i}", seconds=i * 60) for i in range(5)))
    body = api("/events/lineage", after=at(60), before=at(180)).json()
    assert [e["run"]["runId"] for e in body["events"]] == ["r2", "r1"] and body["totalCount"] == 2
    body = api("/events/lineage", limit=2, offset=1, sortDirection="ASC").json()
    assert [e["run"]["runId"] for e in body["events"]] == ["r1", "r2"] and body["totalCount"] == 5
    assert api("/events/lineage", after="2025-09-15T10:02:00 00:00").json()["totalCount"] == 3
    assert RawEvent.objects.count() == 5


# --- Parameters, authentication and visibility -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/namespaces", {"limit": "-1"}, "limit"),
        ("/namespaces", {"limit": "abc"}, "limit"),
        ("/namespaces", {"limit": "5000"}, "limit"),
        ("/namespaces/airflow/jobs", {"offset": "-3"}, "offset"),
        ("/namespaces/airflow/jobs", {"lastRunStates": "SIDEWAYS"}, "lastRunStates"),
        ("/namespaces/airflow/datasets", {"limit": "1.5"}, "limit"),
        ("/jobs", {"limit": "-1"}, "limit"),
        ("/search", {}, "q"),
        ("/search", {"q": "a", "filter": "sideways"}, "filter"),
        ("/search", {"q": "a", "sort": "sideways"}, "sort"),
        ("/search", {"q": "a", "before": "yesterday"}, "before"),
        ("/events/lineage", {"before": "not-a-time"}, "before"),
        ("/events/lineage", {"after": "2024-13-45"}, "after"),
        ("/events/lineage", {"sortDirection": "sideways"}, "sortDirection"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(api, examples, path, params, parameter):
    response = api(path, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400 and body["parameter"] == parameter and body["message"].startswith(parameter)


@pytest.mark.parametrize(
    "path",
    ["/namespaces", "/namespaces/airflow", "/namespaces/airflow/jobs", "/jobs", "/search?q=a", "/events/lineage"],
)
def test_reads_need_a_session_or_a_token(client, examples, path):
    assert client.get(f"/api/v1{path}").status_code == 401
    assert client.get(f"/api/v1{path}", HTTP_AUTHORIZATION="Bearer trb_wrong").status_code == 401


def test_a_logged_in_user_reads_with_the_session(client, examples):
    login(client, make_user("vera", "viewer"))
    assert client.get("/api/v1/namespaces/airflow/jobs/BQ").json()["name"] == "BQ"


def test_a_user_without_a_role_reads_nothing(client, examples):
    login(client, make_user("nobody", None))
    assert client.get("/api/v1/namespaces").status_code == 403


def test_objects_in_a_namespace_the_user_may_not_read_answer_like_unknown_ones(client, examples):
    narrowed = create_token(name="airflow-only", scope="read", namespaces=["airflow"]).secret

    def api(path, **params):
        return client.get(f"/api/v1{path}", params, HTTP_AUTHORIZATION=f"Bearer {narrowed}")

    assert [ns["name"] for ns in api("/namespaces").json()["namespaces"]] == ["airflow"]
    assert {j["namespace"] for j in api("/jobs", limit=1000).json()["jobs"]} == {"airflow"}
    hidden = api("/namespaces/bigquery/datasets/mock-project.test.upload")
    unknown = api("/namespaces/nowhere/datasets/mock-project.test.upload")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["message"] == "Namespace 'bigquery' not found."
    assert unknown.json()["message"] == "Namespace 'nowhere' not found."
    assert api("/jobs/runs/run_id").status_code == 404  # a run of job_namespace
    upload = api("/namespaces/airflow/jobs/BQ.upload").json()
    assert upload["inputs"] == [] and upload["outputs"] == []  # gs://mock-bucket and bigquery are hidden
    assert {r["namespace"] for r in api("/search", q="upload").json()["results"]} == {"airflow"}
    events = api("/events/lineage", limit=1000).json()
    assert events["totalCount"] == len(events["events"]) > 0
    assert {e["job"]["namespace"] for e in events["events"]} == {"airflow"}


# --- The marquez-python client ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_marquez_python_client_reads_tributary_unchanged(live_server):
    ingest(*(load_event(name) for name in example_event_names()))
    client = MarquezClient(url=live_server.url, api_key=create_token(name="marquez-python", scope="read").secret)

    namespaces = client.list_namespaces()["namespaces"]
    assert {"airflow", HDFS, POSTGRES} <= {ns["name"] for ns in namespaces}
    assert client.get_namespace(POSTGRES)["name"] == POSTGRES
    assert client.list_namespaces(limit=2, offset=1)["namespaces"] == namespaces[1:3]

    datasets = client.list_datasets(HDFS)
    assert [d["name"] for d in datasets["datasets"]] == ["/user/hive/warehouse/t1", "/user/hive/warehouse/t2"]
    t2 = client.get_dataset(HDFS, "/user/hive/warehouse/t2")
    assert t2["id"] == {"namespace": HDFS, "name": "/user/hive/warehouse/t2"} and t2["columnLineage"]
    versions = client.list_dataset_versions(HDFS, "/user/hive/warehouse/t2")["versions"]
    assert versions[0]["version"] == t2["currentVersion"]
    assert client.get_dataset_version(HDFS, "/user/hive/warehouse/t2", t2["currentVersion"]) == versions[0]

    jobs = client.list_jobs("airflow")
    assert jobs["totalCount"] == len(jobs["jobs"]) and "BQ.upload" in {j["name"] for j in jobs["jobs"]}
    job = client.get_job("airflow", "BQ.upload")
    assert job["latestRun"]["state"] == "COMPLETED" and job["parentJobName"] == "BQ"
    runs = client.list_job_runs("airflow", "BQ.upload")["runs"]
    assert [r["id"] for r in runs] == [job["latestRun"]["id"]]
    assert client.get_job_run(runs[0]["id"]) == runs[0]

    spark = "open_lineage_integration_create_table.execute_create_hive_table_as_select_command.default_tbl1"
    assert client.get_job("testColumnLevelLineage", spark)["outputs"] == [
        {"namespace": "file", "name": "/tmp/cll_test/tbl1"}
    ]
    with pytest.raises(errors.APIError):
        client.get_dataset("airflow", "no.such.table")


# --- OpenAPI ---------------------------------------------------------------------------------------------


def test_the_openapi_schema_lists_every_marquez_path_and_its_parameters(client, reader):
    schema = client.get("/api/schema/", {"format": "json"}, HTTP_AUTHORIZATION=f"Bearer {reader}").json()
    expected = {
        "/api/v1/namespaces": {"limit", "offset"},
        "/api/v1/namespaces/{namespace}": {"namespace"},
        "/api/v1/namespaces/{namespace}/datasets": {"namespace", "limit", "offset"},
        "/api/v1/namespaces/{namespace}/datasets/{dataset}": {"namespace", "dataset"},
        "/api/v1/namespaces/{namespace}/datasets/{dataset}/versions": {"namespace", "dataset", "limit", "offset"},
        "/api/v1/namespaces/{namespace}/datasets/{dataset}/versions/{version}": {"namespace", "dataset", "version"},
        "/api/v1/namespaces/{namespace}/jobs": {"namespace", "lastRunStates", "limit", "offset"},
        "/api/v1/namespaces/{namespace}/jobs/{job}": {"namespace", "job"},
        "/api/v1/namespaces/{namespace}/jobs/{job}/runs": {"namespace", "job", "limit", "offset"},
        "/api/v1/jobs": {"lastRunStates", "limit", "offset"},
        "/api/v1/jobs/runs/{id}": {"id"},
        "/api/v1/jobs/runs/{id}/facets": {"id", "type"},
        "/api/v1/search": {"q", "filter", "sort", "limit", "offset", "namespace", "before", "after"},
        "/api/v1/events/lineage": {"before", "after", "sortDirection", "limit", "offset"},
    }
    for path, parameters in expected.items():
        operation = schema["paths"][path]["get"]
        assert {p["name"] for p in operation["parameters"]} == parameters, path
        assert all(p.get("description") and p.get("schema") for p in operation["parameters"]), path
        assert {"200", "400", "401"} <= set(operation["responses"]), path
    assert not any("{path}" in path for path in schema["paths"])  # the router is not an endpoint
