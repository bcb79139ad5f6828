"""A viewer granted one namespace reads nothing of another through raw facets, raw events or the pages.

The estate spans two namespaces. `vault` (hidden from vic) holds the salaries table, the vault DAG and its export
task, which writes a table into `airflow`; airflow's own job reads that table and the salaries, and declares
column lineage and a symlink naming vault's datasets, and its run names the vault DAG's run as its parent. vic is
granted `airflow` only; vera, an unrestricted viewer, sees everything, which proves the names are really there.
"""

import pytest

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
    f"/api/v1/lineage?nodeId=dataset:{SEEN}:report",
    f"/api/v1/lineage?nodeId=job:{SEEN}:etl.load&group=dag",
    f"/api/v1/column-lineage?nodeId=dataset:{SEEN}:report",
    f"/api/v1/impact?nodeId=dataset:{SEEN}:staging",
    f"/api/v1/impact?nodeId=job:{SEEN}:etl.load",
)
PAGES = (
    "/",
    f"/datasets/{SEEN}/report",
    f"/datasets/{SEEN}/staging",
    f"/jobs/{SEEN}/etl.load",
    "/search/?q=a",
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
