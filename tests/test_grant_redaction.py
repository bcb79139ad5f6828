"""A viewer granted one namespace reads nothing of another through raw facets, raw events or the pages.

The estate spans two namespaces. `vault` (hidden from vic) holds the salaries table, the vault DAG and its export
task, which writes a table into `airflow`; airflow's own job reads that table and the salaries, and declares
column lineage and a symlink naming vault's datasets, and its run names the vault DAG's run as its parent. vic is
granted `airflow` only; vera, an unrestricted viewer, sees everything, which proves the names are really there.
"""

import pytest

from lineage.models import RawEvent

from .conftest import login, make_user
from .events import dataset, facet, job_type, run_event

pytestmark = pytest.mark.django_db

SEEN, HIDDEN = "airflow", "vault"
# Every name of the hidden namespace: its own name, its datasets, fields, jobs and run ids.
SECRETS = (HIDDEN, "salaries", "salary_amount", "salaries_alias", "payout", "vault_dag", "vault-dag-run")
RUN = "etl-run-1"


@pytest.fixture
def estate(post_event):
    dag = run_event("COMPLETE", run_id="vault-dag-run-1", job=(HIDDEN, "vault_dag"), job_facets=job_type("DAG"))
    export = run_event(
        "COMPLETE",
        run_id="vault-export-run-1",
        job=(HIDDEN, "vault_dag.payout"),
        seconds=1,
        parent=(HIDDEN, "vault_dag", "vault-dag-run-1"),
        inputs=[dataset(HIDDEN, "salaries", fields=["salary_amount"])],
        outputs=[
            dataset(
                SEEN,
                "staging",
                fields=["amount"],
                column_lineage={"amount": [(HIDDEN, "salaries", "salary_amount")]},
            )
        ],
    )
    load = run_event(
        "COMPLETE",
        run_id=RUN,
        job=(SEEN, "etl.load"),
        seconds=2,
        parent=(HIDDEN, "vault_dag", "vault-dag-run-1"),
        inputs=[dataset(SEEN, "staging"), dataset(HIDDEN, "salaries")],
        outputs=[
            dataset(
                SEEN,
                "report",
                fields=["total", "amount"],
                column_lineage={
                    "total": [(HIDDEN, "salaries", "salary_amount"), (SEEN, "staging", "amount")],
                    "amount": [(SEEN, "staging", "amount")],
                },
                symlinks=facet(identifiers=[{"namespace": HIDDEN, "name": "salaries_alias", "type": "TABLE"}]),
            )
        ],
    )
    for event in (dag, export, load):
        assert post_event(event).status_code == 201


@pytest.fixture
def vic(client, estate):
    return login(client, make_user("vic", "viewer", namespaces=(SEEN,)))


@pytest.fixture
def vera(client, estate):
    return login(client, make_user("vera", "viewer"))


API_READS = (
    f"/api/v1/namespaces/{SEEN}/datasets",
    f"/api/v1/namespaces/{SEEN}/datasets/report",
    f"/api/v1/namespaces/{SEEN}/datasets/report/versions",
    f"/api/v1/namespaces/{SEEN}/datasets/staging",
    f"/api/v1/namespaces/{SEEN}/datasets/staging/versions",
    f"/api/v1/namespaces/{SEEN}/jobs",
    f"/api/v1/namespaces/{SEEN}/jobs/etl.load",
    f"/api/v1/namespaces/{SEEN}/jobs/etl.load/runs",
    "/api/v1/jobs",
    f"/api/v1/jobs/runs/{RUN}",
    f"/api/v1/jobs/runs/{RUN}/facets?type=run",
    f"/api/v1/jobs/runs/{RUN}/facets?type=job",
    "/api/v1/events/lineage",
    "/api/v1/search?q=a",
    "/api/v1/search?q=sal",
    f"/api/v1/lineage?nodeId=dataset:{SEEN}:report",
    f"/api/v1/lineage?nodeId=job:{SEEN}:etl.load&group=dag",
    f"/api/v1/column-lineage?nodeId=dataset:{SEEN}:report",
    f"/api/v1/impact?nodeId=dataset:{SEEN}:staging",
    f"/api/v1/impact?nodeId=job:{SEEN}:etl.load",
    f"/api/v1/lineage/diff?nodeId=dataset:{SEEN}:report&from=2020-01-01T00:00:00Z",
    "/api/v1/lineage/report",
)
PAGES = (
    "/",
    f"/datasets/{SEEN}/report",
    f"/datasets/{SEEN}/staging",
    f"/jobs/{SEEN}/etl.load",
    "/search/?q=a",
    "/search/?q=sal",
    f"/impact/?nodeId=dataset:{SEEN}:staging",
    f"/lineage/?nodeId=dataset:{SEEN}:report",
)


def leaks(client, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.content[:300])
    text = response.content.decode()
    return [secret for secret in SECRETS if secret in text]


@pytest.mark.parametrize("path", API_READS + PAGES)
def test_a_viewer_granted_one_namespace_reads_no_name_of_another(vic, path):
    assert leaks(vic, path) == []


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/namespaces/{SEEN}/datasets/report",
        f"/api/v1/namespaces/{SEEN}/datasets",
        f"/api/v1/namespaces/{SEEN}/datasets/report/versions",
        f"/api/v1/namespaces/{SEEN}/jobs/etl.load",
        f"/api/v1/jobs/runs/{RUN}",
        f"/api/v1/jobs/runs/{RUN}/facets?type=run",
        "/api/v1/events/lineage",
        f"/datasets/{SEEN}/staging",
        f"/jobs/{SEEN}/etl.load",
    ],
)
def test_an_unrestricted_viewer_still_reads_the_other_namespace_there(vera, path):
    assert HIDDEN in vera.get(path).content.decode()


# --- What stands in for the hidden names ------------------------------------------------------------------


def restricted(kind: str, text: str) -> bool:
    prefix = f"restricted:{kind}:"
    return text.startswith(prefix) and text[len(prefix) :].isdigit()


def test_the_column_lineage_facet_shows_a_hidden_input_field_as_a_placeholder(vic):
    report = vic.get(f"/api/v1/namespaces/{SEEN}/datasets/report").json()
    hidden, shown = report["facets"]["columnLineage"]["fields"]["total"]["inputFields"]
    assert shown == {"namespace": SEEN, "name": "staging", "field": "amount", "transformations": [{"type": "DIRECT"}]}
    assert restricted("dataset", hidden.pop("name"))
    assert hidden == {"namespace": "restricted", "field": "restricted", "transformations": [{"type": "DIRECT"}]} | {
        "restricted": True
    }
    # Marquez's derived columnLineage lists what the reader may follow, as /api/v1/column-lineage does.
    total = next(f for f in report["columnLineage"] if f["name"] == "total")
    assert [(i["namespace"], i["dataset"], i["field"]) for i in total["inputFields"]] == [(SEEN, "staging", "amount")]


def test_a_symlink_into_a_hidden_namespace_is_a_placeholder(vic):
    report = vic.get(f"/api/v1/namespaces/{SEEN}/datasets/report").json()
    (link,) = report["symlinks"]
    assert link["namespace"] == "restricted" and restricted("dataset", link["name"]) and link["restricted"]
    (identifier,) = report["facets"]["symlinks"]["identifiers"]
    assert identifier == link  # one placeholder per hidden dataset within an answer


def test_a_hidden_parent_job_and_run_are_placeholders_wherever_they_appear(vic):
    job = vic.get(f"/api/v1/namespaces/{SEEN}/jobs/etl.load").json()
    assert job["parent"] == job["dag"] == {"namespace": "restricted", "name": job["parentJobName"]}
    assert restricted("job", job["parentJobName"])
    parent = job["latestRun"]["facets"]["parent"]
    assert parent["job"] == {"namespace": "restricted", "name": job["parentJobName"], "restricted": True}
    assert restricted("run", parent["run"]["runId"])
    run = vic.get(f"/api/v1/jobs/runs/{RUN}").json()
    assert restricted("run", run["parentRunId"]) and run["facets"]["parent"]["run"]["runId"] == run["parentRunId"]


def test_a_narrowed_reader_gets_raw_events_redacted_and_others_get_them_verbatim(client, estate):
    login(client, make_user("vic", "viewer", namespaces=(SEEN,)))
    (event,) = client.get("/api/v1/events/lineage").json()["events"]  # the vault jobs' events are not theirs
    assert event["job"] == {"namespace": SEEN, "name": "etl.load", "facets": {}}
    staging, hidden = event["inputs"]
    assert staging["name"] == "staging"
    assert hidden == {"namespace": "restricted", "name": hidden["name"], "facets": {}, "restricted": True}
    login(client, make_user("vera", "viewer"))
    body = client.get("/api/v1/events/lineage").content.decode()
    for raw in RawEvent.objects.values_list("body", flat=True):
        assert raw in body


def test_the_graph_names_a_jobs_hidden_dag_by_a_placeholder_of_its_own(vic):
    nodes = vic.get("/api/v1/lineage", {"nodeId": f"job:{SEEN}:etl.load"}).json()["graph"]
    load = next(n for n in nodes if n["id"] == f"job:{SEEN}:etl.load")
    dag = load["data"]["dag"]
    assert load["data"]["parent"] == dag and dag["namespace"] == "restricted" and restricted("job", dag["name"])
    assert load["data"]["parentJobName"] == dag["name"]
    assert dag["name"] not in {n["id"] for n in nodes}  # the DAG is not a node here: the task that wrote staging is
    grouped = vic.get("/api/v1/lineage", {"nodeId": f"job:{SEEN}:etl.load", "group": "dag"}).json()["graph"]
    assert f"job:{SEEN}:etl.load" in {n["id"] for n in grouped}  # not folded into a DAG the reader cannot see


def test_impact_groups_jobs_under_a_hidden_dag_by_its_placeholder(vic, client):
    body = vic.get("/api/v1/impact", {"nodeId": f"dataset:{SEEN}:staging"}).json()
    (group,) = body["dags"]
    assert restricted("job", group["dag"]) and [j["name"] for j in group["jobs"]] == ["etl.load"]
    page = vic.get("/impact/", {"nodeId": f"dataset:{SEEN}:staging"}).content.decode()
    assert "a job in a namespace you cannot see" in page


def test_the_dataset_page_says_a_hidden_job_wrote_a_version_without_naming_or_linking_it(vic):
    page = vic.get(f"/datasets/{SEEN}/staging").content.decode()
    assert "written by <span" in page and "a job in a namespace you cannot see" in page
    assert f"/jobs/{HIDDEN}" not in page


def test_the_dataset_page_links_the_writer_for_an_unrestricted_viewer(vera):
    page = vera.get(f"/datasets/{SEEN}/staging").content.decode()
    assert f'written by <a href="/jobs/{HIDDEN}/vault_dag.payout">vault_dag.payout</a>' in page


def test_the_job_page_says_its_dag_is_hidden(vic):
    page = vic.get(f"/jobs/{SEEN}/etl.load").content.decode()
    assert "Its DAG is in a namespace you cannot see." in page


def test_a_version_of_a_dataset_read_alone_is_redacted_like_the_list(vic):
    path = f"/api/v1/namespaces/{SEEN}/datasets/report"
    version = vic.get(path).json()["currentVersion"]
    assert leaks(vic, f"{path}/versions/{version}") == []


# --- The redaction itself (pure) --------------------------------------------------------------------------


def test_redaction_replaces_every_reference_into_a_hidden_namespace_and_keeps_the_rest():
    from lineage.read.shapes import Redaction

    redaction = Redaction({SEEN})
    facets = {
        "lifecycleStateChange": {
            "lifecycleStateChange": "RENAME",
            "previousIdentifier": {"namespace": HIDDEN, "name": "salaries"},
        },
        "parent": {
            "job": {"namespace": SEEN, "name": "etl"},
            "run": {"runId": "etl-run"},
            "root": {"job": {"namespace": HIDDEN, "name": "vault_dag"}, "run": {"runId": "vault-dag-run-1"}},
        },
        "columnLineage": {
            "dataset": [
                {
                    "namespace": HIDDEN,
                    "name": "salaries",
                    "field": "salary_amount",
                    "transformations": [
                        {"type": "INDIRECT", "subtype": "FILTER", "description": "salaries > 0", "masking": False}
                    ],
                }
            ]
        },
        "ownership": {"owners": [{"name": "team:payroll", "type": "team"}]},
    }
    redacted = redaction.facets(facets)
    assert redacted["lifecycleStateChange"]["previousIdentifier"] == {
        "namespace": "restricted",
        "name": "restricted:dataset:1",
        "restricted": True,
    }
    assert redacted["parent"]["job"] == facets["parent"]["job"] and redacted["parent"]["run"] == {"runId": "etl-run"}
    assert redacted["parent"]["root"] == {
        "job": {"namespace": "restricted", "name": "restricted:job:2", "restricted": True},
        "run": {"runId": "restricted:run:3"},
    }
    (hidden,) = redacted["columnLineage"]["dataset"]
    assert hidden["name"] == "restricted:dataset:1"  # the same dataset keeps its number within the answer
    assert hidden["transformations"] == [{"type": "INDIRECT", "subtype": "FILTER", "masking": False}]
    assert redacted["ownership"] == facets["ownership"]
    assert Redaction(None).facets(facets) is facets  # an unrestricted reader's facets are not even copied
