"""Marquez's JSON shapes, built from rows already loaded: no queries here.

Field names and nulls follow Marquez's models as its API serialises them (nulls included, times ISO-8601 UTC).
Fields after the `# Tributary` comments are extras Marquez does not have.

Raw facets name other datasets and jobs; every shape that shows them takes the answer's `Redaction`
(`lineage.read.shapes`), which replaces those of namespaces the reader may not see as the lineage graph does.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from governance.models import Namespace
from governance.times import iso
from lineage.models import Dataset, DatasetVersion, Job, Run
from lineage.openlineage import dataset_attributes
from lineage.read.identity import node_id
from lineage.read.shapes import Redaction

# What Marquez gives a namespace created by OpenLineage events, and a dataset without a dataSource facet.
DEFAULT_OWNER = "anonymous"
DEFAULT_SOURCE = "default"
STREAM_TYPES = {"STREAM", "TOPIC"}


def live_facets(facets: dict[str, Any]) -> dict[str, Any]:
    """Facets without those an event deleted (`{"_deleted": true}`)."""
    return {k: v for k, v in facets.items() if not (isinstance(v, dict) and v.get("_deleted") is True)}


def tag_names(tags: list[dict[str, str]], field: str | None = None) -> list[str]:
    """Marquez's tags are names: the keys of the tags facet, of the dataset (`field` None) or of one field."""
    names = []
    for tag in tags:
        if tag.get("field") == field and tag["key"] not in names:
            names.append(tag["key"])
    return names


def dataset_id(namespace: str, name: str) -> dict[str, str]:
    return {"namespace": namespace, "name": name}


def namespace(row: Namespace) -> dict[str, Any]:
    return {
        "name": row.name,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "ownerName": DEFAULT_OWNER,
        "description": row.description or None,
        "isHidden": False,
    }


def fields(schema: list[dict[str, Any]], tags: list[dict[str, str]]) -> list[dict[str, Any]]:
    result = []
    for item in schema:
        field = {
            "name": item["name"],
            "type": str(item["type"]) if item.get("type") else None,
            "tags": tag_names(tags, item["name"]),
            "description": item.get("description") or None,
        }
        nested = [f for f in item.get("fields") or [] if isinstance(f, dict) and f.get("name")]
        if nested:
            # Tributary: the nested fields of a struct, as the schema facet sent them.
            field["fields"] = fields(nested, [])
        result.append(field)
    return result


def _dataset_type(value: str) -> str:
    """Marquez knows DB_TABLE and STREAM; the datasetType facet's own value is kept in `datasetType`."""
    return "STREAM" if value.upper() in STREAM_TYPES else "DB_TABLE"


def column_lineage(rows: Iterable[tuple[str, str, str, str, list]]) -> list[dict[str, Any]]:
    """Marquez's `columnLineage` of a dataset from (output field, input namespace, input dataset, input field,
    transformations) rows sorted by output field."""
    by_field: dict[str, list[dict[str, Any]]] = {}
    for output_field, namespace_name, dataset_name, input_field, transformations in rows:
        first = transformations[0] if transformations else {}
        by_field.setdefault(output_field, []).append(
            {
                "namespace": namespace_name,
                "dataset": dataset_name,
                "field": input_field,
                "transformationDescription": first.get("description"),
                "transformationType": first.get("type"),
                # Tributary: every transformation of the facet (type, subtype, description, masking).
                "transformations": transformations,
            }
        )
    return [
        {
            "name": name,
            "inputFields": inputs,
            "transformationDescription": inputs[0]["transformationDescription"],
            "transformationType": inputs[0]["transformationType"],
        }
        for name, inputs in by_field.items()
    ]


def dataset(
    row: Dataset,
    *,
    namespace_name: str,
    current_version: Any = None,
    last_modified_at: datetime | None = None,
    lineage: list[dict[str, Any]] | None = None,
    redaction: Redaction,
) -> dict[str, Any]:
    shape = {
        "id": dataset_id(namespace_name, row.name),
        "type": _dataset_type(row.dataset_type),
        "name": row.name,
        "physicalName": row.name,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "namespace": namespace_name,
        "sourceName": row.source_name or DEFAULT_SOURCE,
        "fields": fields(row.fields, row.tags),
        "tags": tag_names(row.tags),
        "lastModifiedAt": iso(last_modified_at),
        "lastLifecycleState": row.lifecycle_state or None,
        "description": row.description or None,
        "currentVersion": str(current_version) if current_version else None,
        "columnLineage": lineage or None,
        "facets": redaction.facets(live_facets(row.facets)),
        "deleted": row.is_deleted,
        # Tributary
        "nodeId": node_id("dataset", namespace_name, row.name),
        "datasetType": row.dataset_type,
        "sourceUri": row.source_uri or None,
        "owners": row.owners,
        "symlinks": redaction.references(row.symlinks),
    }
    if shape["type"] == "STREAM":
        shape["schemaLocation"] = None
    return shape


def dataset_version(
    row: DatasetVersion,
    *,
    dataset_row: Dataset,
    namespace_name: str,
    created_by_run: dict[str, Any] | None,
    redaction: Redaction,
) -> dict[str, Any]:
    attributes = dataset_attributes(row.facets)
    version = str(row.version)
    return {
        "id": {**dataset_id(namespace_name, dataset_row.name), "version": version},
        "type": _dataset_type(attributes["dataset_type"]),
        "name": dataset_row.name,
        "physicalName": dataset_row.name,
        "createdAt": iso(row.created_at),
        "version": version,
        "namespace": namespace_name,
        "sourceName": attributes["source_name"] or dataset_row.source_name or DEFAULT_SOURCE,
        "fields": fields(row.fields, attributes["tags"]),
        "tags": tag_names(attributes["tags"]),
        "lifecycleState": row.lifecycle_state or None,
        "description": attributes["description"] or None,
        "currentSchemaVersion": None,
        "createdByRun": created_by_run,
        "facets": redaction.facets(live_facets(row.facets)),
        # Tributary
        "updatedAt": iso(row.updated_at),
    }


def run(row: Run, *, io: list[tuple[str, str, str, str | None, dict]], redaction: Redaction) -> dict[str, Any]:
    """A run (loaded with its job, the job's namespace and its job version) and its (direction, namespace, name,
    version, input/output facets) uses of datasets."""
    job_namespace, job_name = row.job.namespace.name, row.job.name
    versions: dict[str, list] = {"in": [], "out": []}
    for direction, namespace_name, name, version, io_facets in io:
        versions[direction].append(
            {
                "datasetVersionId": {**dataset_id(namespace_name, name), "version": version},
                "facets": redaction.facets(io_facets),
            }
        )
    facets = live_facets(row.facets)
    parent_facet = facets.get("parent")
    parent_job = parent_facet.get("job") if isinstance(parent_facet, dict) else None
    parent_namespace = parent_job.get("namespace") if isinstance(parent_job, dict) else None
    job_version = None
    if row.job_version is not None:
        job_version = {"namespace": job_namespace, "name": job_name, "version": str(row.job_version.version)}
    return {
        "id": row.run_id,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "nominalStartTime": iso(row.nominal_start_time),
        "nominalEndTime": iso(row.nominal_end_time),
        "state": row.state,
        "startedAt": iso(row.started_at),
        "endedAt": iso(row.ended_at),
        "durationMs": row.duration_ms,
        "args": {},
        "jobVersion": job_version,
        "inputDatasetVersions": versions["in"],
        "outputDatasetVersions": versions["out"],
        "facets": redaction.facets(facets),
        # Tributary
        "job": {"namespace": job_namespace, "name": job_name},
        "parentRunId": redaction.run_id(row.parent_run_id, job_namespace=parent_namespace) or None,
    }


def _job_ref(job: Job | None, redaction: Redaction) -> dict[str, str] | None:
    return None if job is None else redaction.job_ref(job.namespace.name, job.name)


def job(
    row: Job,
    *,
    latest_runs: list[dict[str, Any]],
    inputs: list[dict[str, str]],
    outputs: list[dict[str, str]],
    with_latest_runs: bool,
    redaction: Redaction,
) -> dict[str, Any]:
    """A job (loaded with its namespace, parent and DAG) with its latest runs, newest first; a parent or DAG in a
    namespace the reader may not see is named by its placeholder."""
    namespace_name = row.namespace.name
    parent = row.parent
    parent_ref = _job_ref(parent, redaction)
    simple_name = row.name
    if parent is not None and row.name.startswith(parent.name + "."):
        simple_name = row.name[len(parent.name) + 1 :]
    latest = latest_runs[0] if latest_runs else None
    shape = {
        "id": {"namespace": namespace_name, "name": row.name},
        "type": "STREAM" if row.processing_type.upper() in ("STREAM", "STREAMING") else "BATCH",
        "name": row.name,
        "simpleName": simple_name,
        "parentJobName": parent_ref["name"] if parent_ref is not None else None,
        "parentJobUuid": None,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "namespace": namespace_name,
        "inputs": inputs,
        "outputs": outputs,
        "location": row.source_code_location or None,
        "description": row.description or None,
        "latestRun": latest,
        "facets": redaction.facets(live_facets(row.facets)),
        "currentVersion": latest["jobVersion"]["version"] if latest and latest["jobVersion"] else None,
        "labels": [label for label in (row.job_type, row.integration) if label],
        "tags": tag_names(row.tags),
        # Tributary
        "nodeId": node_id("job", namespace_name, row.name),
        "jobType": row.job_type or None,
        "integration": row.integration or None,
        "parent": parent_ref,
        "dag": _job_ref(row.dag, redaction),
        "owners": row.owners,
    }
    if with_latest_runs:
        shape["latestRuns"] = latest_runs
    return shape


def search_result(kind: str, name: str, updated_at: datetime, namespace_name: str) -> dict[str, Any]:
    return {
        "type": kind,
        "name": name,
        "updatedAt": iso(updated_at),
        "namespace": namespace_name,
        "nodeId": node_id(kind.lower(), namespace_name, name),
    }
