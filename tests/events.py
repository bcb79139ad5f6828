"""Small builders of OpenLineage events for tests."""

from datetime import UTC, datetime, timedelta

PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.6.0"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
T0 = datetime(2025, 9, 15, 10, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def facet(**fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/Facet.json", **fields}


def dataset(namespace: str, name: str, *, fields=None, owners=None, column_lineage=None, **facets) -> dict:
    result = {"namespace": namespace, "name": name, "facets": dict(facets)}
    if fields is not None:
        result["facets"]["schema"] = facet(fields=[{"name": f, "type": "VARCHAR"} for f in fields])
    if owners is not None:
        result["facets"]["ownership"] = facet(owners=[{"name": o, "type": "team"} for o in owners])
    if column_lineage is not None:
        result["facets"]["columnLineage"] = facet(
            fields={
                out: {
                    "inputFields": [
                        {"namespace": ns, "name": n, "field": f, "transformations": [{"type": "DIRECT"}]}
                        for ns, n, f in sources
                    ]
                }
                for out, sources in column_lineage.items()
            }
        )
    return result


def run_event(
    event_type: str | None,
    *,
    run_id: str,
    job: tuple[str, str] = ("airflow", "etl.load"),
    seconds: float = 0,
    inputs=(),
    outputs=(),
    run_facets=None,
    job_facets=None,
    parent: tuple[str, str, str] | None = None,
) -> dict:
    event = {
        "eventTime": at(seconds),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, "facets": dict(run_facets or {})},
        "job": {"namespace": job[0], "name": job[1], "facets": dict(job_facets or {})},
        "inputs": list(inputs),
        "outputs": list(outputs),
    }
    if event_type is not None:
        event["eventType"] = event_type
    if parent is not None:
        namespace, name, parent_run = parent
        event["run"]["facets"]["parent"] = facet(job={"namespace": namespace, "name": name}, run={"runId": parent_run})
    return event


def job_type(kind: str) -> dict:
    return {"jobType": facet(integration="AIRFLOW", jobType=kind, processingType="BATCH")}
