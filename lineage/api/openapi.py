"""Schema-only descriptions of the lineage API's JSON for /api/schema/: OpenLineage events in, Marquez shapes out.

Nothing here runs while a request is answered (the ingestion hot path included): these are OpenAPI 3.0 components
added to the generated schema by `add_components`, a drf-spectacular post-processing hook (SPECTACULAR_SETTINGS).
The shapes are those of `lineage.read.shapes`, `lineage.api.marquez.shapes`, `lineage.read.reports` and the views; the
conformance test (tests/test_openapi.py) checks real answers against them.
"""

import copy
import json
from functools import cache
from typing import Any

from governance.openapi import (
    ANY,
    BOOLEAN,
    FREE_OBJECT,
    INTEGER,
    NULLABLE_INTEGER,
    NULLABLE_STRING,
    NULLABLE_TIME,
    STRING,
    STRINGS,
    TIME,
    array,
    errors,
    nullable,
    obj,
    ref,
    typed,
)
from lineage.validation import CORE_FILE, FACET_BASES

# --- OpenLineage events (the request bodies of POST /api/v1/lineage and /lineage/batch) -----------------------

OPENLINEAGE_PREFIX = "OpenLineage"


def _as_openapi(node: Any) -> Any:
    """The spec's JSON Schema (2020-12) as OpenAPI 3.0 components: `$defs` refs point at components, and
    `format` is dropped because ingestion does not assert it (naive eventTime, non-UUID runId and non-URI producer
    are accepted, as Marquez does)."""
    if isinstance(node, list):
        return [_as_openapi(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {}
    for key, value in node.items():
        if key in ("format", "$schema", "$id"):
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
            value = f"#/components/schemas/{OPENLINEAGE_PREFIX}{value.removeprefix('#/$defs/')}"
        converted[key] = _as_openapi(value)
    return converted


@cache
def openlineage_components() -> dict[str, Any]:
    core = json.loads(CORE_FILE.read_text())
    definitions = copy.deepcopy(core["$defs"])
    # Facets are checked one by one against their own schemas, and a bad facet is a warning, not a refusal: to the
    # event's structure a facet is an object.
    for base in FACET_BASES:
        definitions[base] = {
            "type": "object",
            "description": f"A {base}: an object (standard facets are checked against their own schema; a facet "
            "that breaks it is kept in the raw event but not applied, and named in `warnings`).",
        }
    definitions.pop("BaseFacet", None)
    components = {f"{OPENLINEAGE_PREFIX}{name}": _as_openapi(schema) for name, schema in definitions.items()}
    components[f"{OPENLINEAGE_PREFIX}Event"] = {
        "description": "One OpenLineage event, as the spec (`OpenLineage.json`) defines it.",
        "oneOf": [ref(f"{OPENLINEAGE_PREFIX}{kind}") for kind in ("RunEvent", "DatasetEvent", "JobEvent")],
    }
    return components


EVENT = ref(f"{OPENLINEAGE_PREFIX}Event")
EVENT_BATCH = array(EVENT)

PROBLEM = obj({"path": STRING, "message": STRING}, description="A JSON pointer into the event, and the problem.")
INGEST_ANSWER = obj(
    {
        "status": {"type": "string", "enum": ["accepted", "duplicate"]},
        "warnings": array(ref("EventProblem")),
    },
    description="`accepted` (201, first time) or `duplicate` (200, the same event again: nothing changed); "
    "`warnings` name standard facets that broke their schema and were not applied.",
)
INGEST_REFUSAL = obj(
    {"errors": array(ref("EventProblem")), "quarantineId": NULLABLE_INTEGER},
    optional=("quarantineId",),
    description="The event broke the core schema (or was not JSON): nothing was applied, the raw payload is kept in "
    "the quarantine.",
)
BATCH_ANSWER = obj(
    {
        "status": {"type": "string", "enum": ["success", "partial_success"]},
        "summary": obj(
            {
                "received": INTEGER,
                "successful": INTEGER,
                "failed": INTEGER,
                "retriable": INTEGER,
                "non_retriable": INTEGER,
            },
            optional=("retriable", "non_retriable"),
        ),
        "failed_events": array(obj({"index": INTEGER, "reason": STRING, "retriable": BOOLEAN})),
        "warnings": array(
            obj({"index": INTEGER, "path": STRING, "message": STRING}, optional=("path",)),
        ),
    },
    optional=("warnings",),
    description="As `openlineage/spec/OpenLineage.yml`: each failed event by its index in the batch.",
)

# --- The lineage graph (GET /lineage, /column-lineage) --------------------------------------------------------

EDGE = obj({"origin": STRING, "destination": STRING})
DATASET_REF = obj({"namespace": STRING, "name": STRING})
OWNERS = array(FREE_OBJECT)
FIELD = obj(
    {"name": STRING, "type": NULLABLE_STRING, "tags": STRINGS, "description": NULLABLE_STRING},
    description="A field of a dataset's schema.",
)
MARKS = {"classifications": STRINGS, "stewardTags": STRINGS}

GRAPH_DATASET = obj(
    {
        "id": ref("DatasetRef"),
        "type": STRING,
        "name": STRING,
        "physicalName": STRING,
        "createdAt": TIME,
        "updatedAt": TIME,
        "namespace": STRING,
        "sourceName": STRING,
        "fields": array(ref("Field")),
        "tags": STRINGS,
        "lastModifiedAt": NULLABLE_TIME,
        "description": NULLABLE_STRING,
        "lastLifecycleState": NULLABLE_STRING,
        "owners": OWNERS,
        "deleted": BOOLEAN,
        **MARKS,
    },
    description="Marquez's DatasetData, with owners, deleted and what stewards marked.",
)
# What Marquez's JobData (in a graph) and Job (its API) share.
JOB_BASE = {
    "id": ref("DatasetRef"),
    "type": {"type": "string", "enum": ["BATCH", "STREAM"]},
    "name": STRING,
    "simpleName": STRING,
    "parentJobName": NULLABLE_STRING,
    "createdAt": TIME,
    "updatedAt": TIME,
    "namespace": STRING,
    "inputs": array(ref("DatasetRef")),
    "outputs": array(ref("DatasetRef")),
    "location": NULLABLE_STRING,
    "description": NULLABLE_STRING,
}
GRAPH_JOB = obj(
    {
        **JOB_BASE,
        "latestRun": nullable(
            obj({"id": STRING, "state": NULLABLE_STRING, "startedAt": NULLABLE_TIME, "endedAt": NULLABLE_TIME})
        ),
        "jobType": NULLABLE_STRING,
        "integration": NULLABLE_STRING,
        "parent": nullable(FREE_OBJECT),
        "dag": nullable(FREE_OBJECT),
        "owners": OWNERS,
        "members": STRINGS,
        **MARKS,
    },
    optional=("members",),
    description="Marquez's JobData, with Tributary's job type, DAG and owners; `members` lists a DAG's tasks when "
    "grouped by DAG.",
)
RESTRICTED = obj(
    {"restricted": {"type": "boolean", "enum": [True]}},
    description="A node in a namespace the reader may not see: only its type is told.",
)
GRAPH_NODE = obj(
    {
        "id": STRING,
        "type": {"type": "string", "enum": ["DATASET", "JOB"]},
        "data": {"anyOf": [ref("LineageDatasetData"), ref("LineageJobData"), ref("RestrictedNode")]},
        "depth": INTEGER,
        "inEdges": array(ref("Edge")),
        "outEdges": array(ref("Edge")),
    }
)
LINEAGE_GRAPH = obj(
    {
        "graph": array(ref("LineageNode")),
        "truncated": BOOLEAN,
        "totalNodes": INTEGER,
    },
    optional=("truncated", "totalNodes"),
    description="Marquez's lineage graph, nearest nodes first; with `limit`, whether nodes were left out.",
)
INPUT_FIELD = obj(
    {
        "namespace": STRING,
        "dataset": STRING,
        "datasetVersion": NULLABLE_STRING,
        "field": STRING,
        "transformationDescription": NULLABLE_STRING,
        "transformationType": NULLABLE_STRING,
        "transformations": array(FREE_OBJECT),
    },
    optional=("datasetVersion",),
)
COLUMN_NODE = obj(
    {
        "id": STRING,
        "type": {"type": "string", "enum": ["DATASET_FIELD"]},
        "data": obj(
            {
                "namespace": STRING,
                "dataset": STRING,
                "datasetVersion": NULLABLE_STRING,
                "field": STRING,
                "fieldType": NULLABLE_STRING,
                "transformationDescription": NULLABLE_STRING,
                "transformationType": NULLABLE_STRING,
                "inputFields": array(ref("InputField")),
            }
        ),
        "depth": INTEGER,
        "inEdges": array(ref("Edge")),
        "outEdges": array(ref("Edge")),
    }
)
COLUMN_GRAPH = obj({"graph": array(ref("ColumnLineageNode"))})
LINEAGE_ANSWER = {
    "description": "The lineage graph; from a datasetField node, the column-lineage graph.",
    "anyOf": [ref("LineageGraph"), ref("ColumnLineageGraph")],
}

# --- Impact, report, diff ---------------------------------------------------------------------------------------

IMPACT = obj(
    {
        "node": STRING,
        "summary": obj(
            {
                "datasets": INTEGER,
                "jobs": INTEGER,
                "dags": INTEGER,
                "hops": INTEGER,
                "criticalTransformations": INTEGER,
                "restricted": INTEGER,
            }
        ),
        "dags": array(
            obj(
                {
                    "dag": NULLABLE_STRING,
                    "jobs": array(
                        obj(
                            {
                                "id": STRING,
                                "name": STRING,
                                "depth": INTEGER,
                                "latestRunState": NULLABLE_STRING,
                                "owners": OWNERS,
                            }
                        )
                    ),
                }
            )
        ),
        "datasets": array(obj({"id": STRING, "namespace": STRING, "name": STRING, "depth": INTEGER, "owners": OWNERS})),
        "owners": array(obj({"name": STRING, "datasets": STRINGS, "jobs": STRINGS})),
        "criticalTransformations": array(obj({"id": STRING, "datasetsCutOff": INTEGER, "dag": NULLABLE_STRING})),
        "recommendations": STRINGS,
    },
    description="Everything downstream of a node: jobs grouped by Airflow DAG (`dag` null for jobs outside one), "
    "datasets with owners, critical transformations, recommendations.",
)
LINEAGE_REPORT = obj(
    {
        "nodes": INTEGER,
        "edges": INTEGER,
        "datasets": INTEGER,
        "transformations": INTEGER,
        "averageConnections": {"type": "number"},
        "criticalPaths": array(obj({"node": STRING, "outDegree": INTEGER})),
        "orphanedDatasets": obj({"count": INTEGER, "datasets": STRINGS}),
        "maxDepth": INTEGER,
        "hasCycles": BOOLEAN,
        "cycles": array(STRINGS),
        "weaklyConnectedComponents": obj({"count": INTEGER, "largest": array(INTEGER)}),
        "computedAt": NULLABLE_TIME,
        "computeSeconds": {"type": "number", "nullable": True},
        "stale": BOOLEAN,
    },
    description="Statistics of the whole graph the reader may see (cached; `stale` while it is recomputed).",
)
DIFF_PART = obj(
    {
        "nodes": array(obj({"id": STRING, "type": {"type": "string", "enum": ["DATASET", "JOB"]}})),
        "edges": array(ref("Edge")),
    }
)
LINEAGE_DIFF = obj(
    {"from": TIME, "to": NULLABLE_TIME, "added": ref("LineageDiffPart"), "removed": ref("LineageDiffPart")}
)

# --- Metadata and quarantine ------------------------------------------------------------------------------------

METADATA = obj(
    {
        "node": STRING,
        "description": STRING,
        "tags": STRINGS,
        "owners": array(obj({"name": STRING, "type": STRING}, optional=("type",))),
        "classifications": STRINGS,
        "fields": {
            "type": "object",
            "additionalProperties": obj(
                {"description": STRING, "tags": STRINGS, "classifications": STRINGS},
                optional=("description", "tags", "classifications"),
            ),
        },
        "updatedAt": NULLABLE_TIME,
        "updatedBy": NULLABLE_STRING,
    },
    description="What stewards say about a dataset or job.",
)
QUARANTINED = obj(
    {
        "id": INTEGER,
        "receivedAt": TIME,
        "source": STRING,
        "status": STRING,
        "reason": STRING,
        "errors": array(FREE_OBJECT),
        "token": NULLABLE_STRING,
        "replayedAt": NULLABLE_TIME,
    },
    description="A refused event kept for inspection and replay; `token` is the prefix of the token that sent it.",
)
QUARANTINED_DETAIL = {"allOf": [ref("QuarantinedEvent"), obj({"body": STRING})]}
QUARANTINE_LIST = obj({"events": array(ref("QuarantinedEvent")), "totalCount": INTEGER})
REPLAYED = {
    "allOf": [
        ref("QuarantinedEvent"),
        obj({"outcome": STRING, "warnings": array(ref("EventProblem"))}),
    ]
}

# --- Marquez-compatible reads -----------------------------------------------------------------------------------

NAMESPACE = obj(
    {
        "name": STRING,
        "createdAt": TIME,
        "updatedAt": TIME,
        "ownerName": STRING,
        "description": NULLABLE_STRING,
        "isHidden": BOOLEAN,
    }
)
MARQUEZ_FIELD = obj(
    {
        "name": STRING,
        "type": NULLABLE_STRING,
        "tags": STRINGS,
        "description": NULLABLE_STRING,
        "fields": array(ref("MarquezField")),
    },
    optional=("fields",),
)
DATASET_VERSION_ID = obj({"namespace": STRING, "name": STRING, "version": NULLABLE_STRING})
DATASET = obj(
    {
        "id": ref("DatasetRef"),
        "type": {"type": "string", "enum": ["DB_TABLE", "STREAM"]},
        "name": STRING,
        "physicalName": STRING,
        "createdAt": TIME,
        "updatedAt": TIME,
        "namespace": STRING,
        "sourceName": STRING,
        "fields": array(ref("MarquezField")),
        "tags": STRINGS,
        "lastModifiedAt": NULLABLE_TIME,
        "lastLifecycleState": NULLABLE_STRING,
        "description": NULLABLE_STRING,
        "currentVersion": NULLABLE_STRING,
        "columnLineage": nullable(array(FREE_OBJECT)),
        "facets": FREE_OBJECT,
        "deleted": BOOLEAN,
        "nodeId": STRING,
        "datasetType": STRING,
        "sourceUri": NULLABLE_STRING,
        "owners": OWNERS,
        "symlinks": array(ANY),
        "schemaLocation": NULLABLE_STRING,
    },
    optional=("schemaLocation",),
    description="Marquez's Dataset; `nodeId`, `datasetType`, `sourceUri`, `owners` and `symlinks` are Tributary's.",
)
DATASET_VERSION = obj(
    {
        "id": ref("DatasetVersionId"),
        "type": {"type": "string", "enum": ["DB_TABLE", "STREAM"]},
        "name": STRING,
        "physicalName": STRING,
        "createdAt": TIME,
        "version": STRING,
        "namespace": STRING,
        "sourceName": STRING,
        "fields": array(ref("MarquezField")),
        "tags": STRINGS,
        "lifecycleState": NULLABLE_STRING,
        "description": NULLABLE_STRING,
        "currentSchemaVersion": NULLABLE_STRING,
        "createdByRun": nullable(ref("Run")),
        "facets": FREE_OBJECT,
        "updatedAt": TIME,
    }
)
RUN = obj(
    {
        "id": STRING,
        "createdAt": TIME,
        "updatedAt": TIME,
        "nominalStartTime": NULLABLE_TIME,
        "nominalEndTime": NULLABLE_TIME,
        "state": STRING,
        "startedAt": NULLABLE_TIME,
        "endedAt": NULLABLE_TIME,
        "durationMs": NULLABLE_INTEGER,
        "args": FREE_OBJECT,
        "jobVersion": nullable(obj({"namespace": STRING, "name": STRING, "version": STRING})),
        "inputDatasetVersions": array(obj({"datasetVersionId": ref("DatasetVersionId"), "facets": FREE_OBJECT})),
        "outputDatasetVersions": array(obj({"datasetVersionId": ref("DatasetVersionId"), "facets": FREE_OBJECT})),
        "facets": FREE_OBJECT,
        "job": ref("DatasetRef"),
        "parentRunId": NULLABLE_STRING,
    },
    description="Marquez's Run; `job` and `parentRunId` are Tributary's.",
)
JOB = obj(
    {
        **JOB_BASE,
        "parentJobUuid": NULLABLE_STRING,
        "latestRun": nullable(ref("Run")),
        "facets": FREE_OBJECT,
        "currentVersion": NULLABLE_STRING,
        "labels": STRINGS,
        "tags": STRINGS,
        "nodeId": STRING,
        "jobType": NULLABLE_STRING,
        "integration": NULLABLE_STRING,
        "parent": nullable(ref("DatasetRef")),
        "dag": nullable(ref("DatasetRef")),
        "owners": OWNERS,
        "latestRuns": array(ref("Run")),
    },
    optional=("latestRuns",),
    description="Marquez's Job (`latestRuns` in the detail only); `nodeId`, `jobType`, `integration`, `parent`, "
    "`dag` and `owners` are Tributary's.",
)


def page(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return obj({key: array(item), "totalCount": INTEGER}, description="A page: `limit` and `offset` choose it.")


SEARCH = obj(
    {
        "totalCount": INTEGER,
        "results": array(
            obj(
                {
                    "type": {"type": "string", "enum": ["DATASET", "JOB"]},
                    "name": STRING,
                    "updatedAt": TIME,
                    "namespace": STRING,
                    "nodeId": STRING,
                }
            )
        ),
    }
)
RUN_FACETS = obj({"runId": STRING, "facets": FREE_OBJECT})
LINEAGE_EVENTS = obj(
    {
        "events": array({"type": "object", "description": "A received OpenLineage event, verbatim."}),
        "totalCount": INTEGER,
    }
)

SCHEMAS = {
    "EventProblem": PROBLEM,
    "IngestAnswer": INGEST_ANSWER,
    "IngestRefusal": INGEST_REFUSAL,
    "BatchAnswer": BATCH_ANSWER,
    "Edge": EDGE,
    "DatasetRef": DATASET_REF,
    "Field": FIELD,
    "LineageDatasetData": GRAPH_DATASET,
    "LineageJobData": GRAPH_JOB,
    "RestrictedNode": RESTRICTED,
    "LineageNode": GRAPH_NODE,
    "LineageGraph": LINEAGE_GRAPH,
    "InputField": INPUT_FIELD,
    "ColumnLineageNode": COLUMN_NODE,
    "ColumnLineageGraph": COLUMN_GRAPH,
    "LineageAnswer": LINEAGE_ANSWER,
    "Impact": IMPACT,
    "LineageReport": LINEAGE_REPORT,
    "LineageDiffPart": DIFF_PART,
    "LineageDiff": LINEAGE_DIFF,
    "Metadata": METADATA,
    "QuarantinedEvent": QUARANTINED,
    "QuarantinedEventDetail": QUARANTINED_DETAIL,
    "QuarantineList": QUARANTINE_LIST,
    "ReplayedEvent": REPLAYED,
    "Namespace": NAMESPACE,
    "NamespaceList": page("namespaces", ref("Namespace")),
    "MarquezField": MARQUEZ_FIELD,
    "DatasetVersionId": DATASET_VERSION_ID,
    "Dataset": DATASET,
    "DatasetList": page("datasets", ref("Dataset")),
    "DatasetVersion": DATASET_VERSION,
    "DatasetVersionList": page("versions", ref("DatasetVersion")),
    "Run": RUN,
    "RunList": page("runs", ref("Run")),
    "Job": JOB,
    "JobList": page("jobs", ref("Job")),
    "SearchResults": SEARCH,
    "RunFacets": RUN_FACETS,
    "LineageEvents": LINEAGE_EVENTS,
}


def add_components(result, generator, request, public):
    """drf-spectacular post-processing hook: this module's components and the OpenLineage event schemas."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(openlineage_components())
    schemas.update(SCHEMAS)
    return result


# --- The ingestion operations' descriptions (`@extend_schema(**POST_EVENT)`) -----------------------------------

POST_EVENT = {
    "operation_id": "postLineageEvent",
    "summary": "Send one OpenLineage event (RunEvent, DatasetEvent or JobEvent)",
    "description": "Authorization: `Bearer <ingest token>`; `Content-Encoding: gzip` is accepted. An event that "
    "breaks the core schema is refused (400) and kept in the quarantine; a standard facet that breaks its own "
    "schema is a warning, not a refusal.",
    "request": {"application/json": EVENT},
    "responses": {
        201: typed(
            "IngestAnswer",
            "Accepted and stored; `warnings` name facets that were not applied: facets that break their schema, "
            "and facets about datasets (or a parent job) of namespaces the token may not change.",
        ),
        200: typed("IngestAnswer", "The same event was already stored; nothing changed."),
        400: typed("IngestRefusal", "Not JSON, bad gzip, or the event breaks the core schema."),
        **errors(
            401,
            403,
            413,
            415,
            e403="The token may not write lineage, or not to this namespace.",
            e413="Body over TRIBUTARY_MAX_EVENT_BYTES.",
        ),
    },
    "auth": [{"bearerToken": []}],
    "tags": ["OpenLineage"],
}
POST_BATCH = {
    "operation_id": "postLineageEventBatch",
    "summary": "Send a JSON array of OpenLineage events",
    "description": "Authorization: `Bearer <ingest token>`; `Content-Encoding: gzip` is accepted. Each event is taken "
    "or refused on its own.",
    "request": {"application/json": EVENT_BATCH},
    "responses": {
        200: typed("BatchAnswer", "Refused events are listed by their index in the array."),
        **errors(
            400,
            401,
            403,
            413,
            415,
            e400="Not JSON, bad gzip, or not an array.",
            e403="The token may not write lineage.",
            e413="Body over TRIBUTARY_MAX_BATCH_BYTES.",
        ),
    },
    "auth": [{"bearerToken": []}],
    "tags": ["OpenLineage"],
}
