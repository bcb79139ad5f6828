"""Synthetic Airflow-like RunEvents of about 3 KB: a task of a DAG reading two tables and writing one, with the
output's schema (10 fields) and column lineage, the parent (DAG run) facet and the provider's usual facets."""

import random
import uuid
from datetime import UTC, datetime, timedelta

JOBS_NS = "bench-airflow"
DATA_NS = "postgres://dwh:5432"
PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.3.0"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET_URL = "https://openlineage.io/spec/facets/1-1-0/{}.json#/$defs/{}"
TYPES = ("bigint", "varchar", "timestamp", "numeric(18,2)", "boolean")


def _facet(name: str, **fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": FACET_URL.format(name, name), **fields}


def _fields(table: str) -> list[dict]:
    return [{"name": f"col_{n:02d}", "type": TYPES[n % len(TYPES)]} for n in range(10)]


def airflow_event(index: int, *, dags: int, tasks: int, tables: int, salt: str, start: datetime) -> dict:
    """The index-th event: task `index % tasks` of DAG `index // tasks % dags`, a fresh runId every time. A task
    always reads the same two tables and writes the same one, as Airflow tasks do from run to run."""
    dag = (index // tasks) % dags
    task = index % tasks
    dag_id, task_id = f"etl_{dag:04d}", f"transform_{task:02d}"
    out = (dag * tasks + task) % tables
    task_rng = random.Random(f"{dag}/{task}")
    inputs = [task_rng.randrange(tables), task_rng.randrange(tables)]
    moment = start + timedelta(milliseconds=index)
    dag_run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{salt}/{dag}/{index // (tasks * dags)}"))
    output_name = f"public.t{out:05d}"
    column_lineage = {
        f"col_{n:02d}": {
            "inputFields": [
                {
                    "namespace": DATA_NS,
                    "name": f"public.t{inputs[n % 2]:05d}",
                    "field": f"col_{n:02d}",
                    "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
                }
            ]
        }
        for n in range(10)
    }
    return {
        "eventType": "COMPLETE",
        "eventTime": moment.isoformat().replace("+00:00", "Z"),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {
            "runId": str(uuid.uuid4()),
            "facets": {
                "parent": _facet(
                    "ParentRunFacet",
                    run={"runId": dag_run_id},
                    job={"namespace": JOBS_NS, "name": dag_id},
                ),
            },
        },
        "job": {
            "namespace": JOBS_NS,
            "name": f"{dag_id}.{task_id}",
            "facets": {
                "jobType": _facet("JobTypeJobFacet", processingType="BATCH", integration="AIRFLOW", jobType="TASK"),
            },
        },
        "inputs": [{"namespace": DATA_NS, "name": f"public.t{i:05d}", "facets": {}} for i in inputs],
        "outputs": [
            {
                "namespace": DATA_NS,
                "name": output_name,
                "facets": {
                    "schema": _facet("SchemaDatasetFacet", fields=_fields(output_name)),
                    "columnLineage": _facet("ColumnLineageDatasetFacet", fields=column_lineage),
                },
            }
        ],
    }


def airflow_events(count: int, *, dags: int = 100, tasks: int = 10, tables: int = 3000, seed: int = 1) -> list[dict]:
    """`count` events; `seed` makes their DAG run ids differ from those of another call."""
    salt = f"{seed}/{uuid.uuid4().hex}"
    start = datetime.now(UTC)
    return [airflow_event(i, dags=dags, tasks=tasks, tables=tables, salt=salt, start=start) for i in range(count)]
