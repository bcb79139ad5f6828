"""Reading OpenLineage events: plain data in, plain data out, no database.

`parse_event` turns a validated event into a `ParsedEvent`; the `*_attributes` functions read the columns the
store keeps (owners, schema, SQL, nominal times ...) from a node's merged facets.
"""

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from lineage.validation import facet_paths, parse_event_time, pointer

# A run's state after each event type. OTHER (and events without a type) leave the state alone.
EVENT_STATES = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "FAIL": "FAILED",
    "ABORT": "ABORTED",
}
TERMINAL_EVENTS = {"COMPLETE", "FAIL", "ABORT"}
VERSION_NAMESPACE = uuid.UUID("6f1d9c52-3c59-4cb9-9a1e-5b0b2c7e8a41")


def canonical_json(event: Any) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def event_hash(event: Any) -> str:
    """Identity of an event: the same content (whatever the key order or spacing) is the same event."""
    return hashlib.sha256(canonical_json(event)).hexdigest()


def format_time(moment: datetime) -> str:
    """Fixed-width UTC time, so stamps compare correctly as strings."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_stamp(event_time: datetime, digest: str) -> str:
    """The total order of events used by every merge: event time, then the event hash as a tie-breaker."""
    return f"{format_time(event_time)}|{digest}"


@dataclass(frozen=True)
class DatasetUse:
    namespace: str
    name: str
    facets: dict[str, Any] = field(default_factory=dict)
    io_facets: dict[str, Any] = field(default_factory=dict)  # inputFacets or outputFacets

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True)
class ParsedEvent:
    kind: str  # run, dataset or job
    event_type: str  # START ... OTHER, or "" when the producer sent none
    event_time: datetime
    stamp: str
    digest: str
    job: tuple[str, str] | None = None
    job_facets: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    run_facets: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[DatasetUse, ...] = ()
    outputs: tuple[DatasetUse, ...] = ()
    dataset: DatasetUse | None = None  # the dataset of a DatasetEvent

    @property
    def state(self) -> str | None:
        return EVENT_STATES.get(self.event_type)

    @property
    def namespaces(self) -> set[str]:
        names = {use.namespace for use in (*self.inputs, *self.outputs)}
        if self.job:
            names.add(self.job[0])
        if self.dataset:
            names.add(self.dataset.namespace)
        return names


def _kept(facets: Any, path: tuple, excluded: set[str]) -> dict[str, Any]:
    if not isinstance(facets, dict):
        return {}
    if not excluded:
        return dict(facets)
    return {key: value for key, value in facets.items() if pointer((*path, key)) not in excluded}


def _uses(items: Any, side: str, extra: str, excluded: set[str]) -> tuple[DatasetUse, ...]:
    uses = []
    for index, item in enumerate(items or []):
        uses.append(
            DatasetUse(
                namespace=item["namespace"],
                name=item["name"],
                facets=_kept(item.get("facets"), (side, index, "facets"), excluded),
                io_facets=_kept(item.get(extra), (side, index, extra), excluded),
            )
        )
    return tuple(uses)


def parse_event(event: dict, *, kind: str, digest: str, warnings: list | None = None) -> ParsedEvent:
    """A validated event as plain data. Facets named by `warnings` (they broke their schema) are left out."""
    excluded = facet_paths(warnings or [])
    event_time = parse_event_time(event["eventTime"])
    assert event_time is not None, "validate_event refuses events without a readable eventTime"
    common = dict(
        kind=kind,
        event_type=str(event.get("eventType") or "").upper(),
        event_time=event_time,
        stamp=make_stamp(event_time, digest),
        digest=digest,
    )
    if kind == "dataset":
        dataset = event["dataset"]
        use = DatasetUse(
            dataset["namespace"],
            dataset["name"],
            _kept(dataset.get("facets"), ("dataset", "facets"), excluded),
        )
        return ParsedEvent(**common, dataset=use)
    job = event["job"]
    parsed = dict(
        job=(job["namespace"], job["name"]),
        job_facets=_kept(job.get("facets"), ("job", "facets"), excluded),
        inputs=_uses(event.get("inputs"), "inputs", "inputFacets", excluded),
        outputs=_uses(event.get("outputs"), "outputs", "outputFacets", excluded),
    )
    if kind == "run":
        run = event["run"]
        parsed.update(run_id=run["runId"], run_facets=_kept(run.get("facets"), ("run", "facets"), excluded))
    return ParsedEvent(**common, **parsed)


# --- Reading merged facets -------------------------------------------------------------------------------


def live(facets: dict[str, Any], key: str) -> dict[str, Any]:
    """The facet `key`, or {} when absent, deleted (`_deleted: true`) or not an object."""
    value = facets.get(key)
    if not isinstance(value, dict) or value.get("_deleted") is True:
        return {}
    return value


def _owners(facet: dict) -> list[dict[str, str]]:
    owners = []
    for owner in facet.get("owners") or []:
        if isinstance(owner, dict) and owner.get("name"):
            entry = {"name": str(owner["name"])}
            if owner.get("type"):
                entry["type"] = str(owner["type"])
            owners.append(entry)
    return owners


def _tags(facet: dict) -> list[dict[str, str]]:
    tags = []
    for tag in facet.get("tags") or []:
        if isinstance(tag, dict) and tag.get("key"):
            tags.append({k: str(tag[k]) for k in ("key", "value", "source", "field") if tag.get(k) is not None})
    return tags


def schema_fields(facets: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema facet's fields, as sent (nested `fields` kept)."""
    fields = live(facets, "schema").get("fields") or []
    return [f for f in fields if isinstance(f, dict) and f.get("name")]


def flatten_fields(fields: list[dict[str, Any]], prefix: str = "") -> list[dict[str, str]]:
    """Nested schema fields as dotted names: a struct `address` with `city` gives `address.city`."""
    flat = []
    for item in fields:
        name = f"{prefix}{item['name']}"
        flat.append(
            {
                "name": name,
                "type": str(item.get("type") or ""),
                "description": str(item.get("description") or ""),
            }
        )
        nested = [f for f in item.get("fields") or [] if isinstance(f, dict) and f.get("name")]
        if nested:
            flat.extend(flatten_fields(nested, prefix=f"{name}."))
    return flat


def dataset_attributes(facets: dict[str, Any]) -> dict[str, Any]:
    source = live(facets, "dataSource")
    lifecycle = live(facets, "lifecycleStateChange").get("lifecycleStateChange") or ""
    dataset_type = live(facets, "datasetType").get("datasetType") or "DB_TABLE"
    symlinks = [
        {"namespace": s.get("namespace", ""), "name": s.get("name", ""), "type": s.get("type", "")}
        for s in live(facets, "symlinks").get("identifiers") or []
        if isinstance(s, dict)
    ]
    return {
        "description": str(live(facets, "documentation").get("description") or ""),
        "dataset_type": str(dataset_type)[:32],
        "source_name": str(source.get("name") or "")[:1024],
        "source_uri": str(source.get("uri") or "")[:1024],
        "fields": schema_fields(facets),
        "owners": _owners(live(facets, "ownership")),
        "tags": _tags(live(facets, "tags")),
        "symlinks": symlinks,
        "lifecycle_state": str(lifecycle)[:32],
        "is_deleted": lifecycle == "DROP",
    }


def job_attributes(facets: dict[str, Any]) -> dict[str, Any]:
    job_type = live(facets, "jobType")
    location = live(facets, "sourceCodeLocation")
    url = location.get("url") or location.get("repoUrl") or ""
    if not url and location.get("path"):
        url = location["path"]
    return {
        "job_type": str(job_type.get("jobType") or "")[:64],
        "integration": str(job_type.get("integration") or "")[:64],
        "processing_type": str(job_type.get("processingType") or "")[:16],
        "description": str(live(facets, "documentation").get("description") or ""),
        "sql": str(live(facets, "sql").get("query") or ""),
        "source_code_location": str(url)[:1024],
        "owners": _owners(live(facets, "ownership")),
        "tags": _tags(live(facets, "tags")),
    }


def run_attributes(facets: dict[str, Any]) -> dict[str, Any]:
    nominal = live(facets, "nominalTime")
    error = live(facets, "errorMessage")
    return {
        "nominal_start_time": parse_event_time(nominal.get("nominalStartTime")),
        "nominal_end_time": parse_event_time(nominal.get("nominalEndTime")),
        "error_message": str(error.get("message") or ""),
        "parent_run_id": parent_of(facets)[1],
    }


def parent_of(run_facets: dict[str, Any]) -> tuple[tuple[str, str] | None, str]:
    """(parent job key, parent run id) from the `parent` run facet, or (None, "")."""
    parent = live(run_facets, "parent")
    job = parent.get("job") if isinstance(parent.get("job"), dict) else {}
    run = parent.get("run") if isinstance(parent.get("run"), dict) else {}
    namespace, name = job.get("namespace"), job.get("name")
    if not (isinstance(namespace, str) and isinstance(name, str) and namespace and name):
        return None, ""
    return (namespace, name), str(run.get("runId") or "")[:255]


@dataclass(frozen=True)
class ColumnEdge:
    output_field: str  # "" for a dependency of the whole dataset
    input: tuple[str, str]
    input_field: str
    transformations: tuple[dict[str, Any], ...]


def column_edges(facets: dict[str, Any]) -> list[ColumnEdge]:
    """Field-level dependencies declared by an output dataset's `columnLineage` facet."""
    facet = live(facets, "columnLineage")
    edges = []

    def inputs_of(items, output_field, legacy):
        for item in items or []:
            if not isinstance(item, dict):
                continue
            namespace, name, field_name = item.get("namespace"), item.get("name"), item.get("field")
            if not all(isinstance(v, str) and v for v in (namespace, name, field_name)):
                continue
            transformations = [t for t in item.get("transformations") or [] if isinstance(t, dict)]
            if not transformations and legacy:
                transformations = [legacy]
            edges.append(ColumnEdge(output_field, (namespace, name), field_name, tuple(transformations)))

    for output_field, spec in (facet.get("fields") or {}).items():
        if not isinstance(spec, dict):
            continue
        legacy = {}
        if spec.get("transformationType"):
            legacy["type"] = spec["transformationType"]
        if spec.get("transformationDescription"):
            legacy["description"] = spec["transformationDescription"]
        inputs_of(spec.get("inputFields"), output_field, legacy)
    inputs_of(facet.get("dataset"), "", {})
    return edges


def dataset_version_id(namespace: str, name: str, discriminator: str) -> uuid.UUID:
    return uuid.uuid5(VERSION_NAMESPACE, f"{namespace}\x00{name}\x00{discriminator}")


def job_version_id(
    namespace: str, name: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]
) -> uuid.UUID:
    """A job version is the job and the datasets it reads and writes (Marquez also mixes in the source code
    location; a run's events do not all carry it, so it would make the version depend on arrival order)."""
    parts = [namespace, name, "in", *map("\x01".join, sorted(inputs)), "out", *map("\x01".join, sorted(outputs))]
    return uuid.uuid5(VERSION_NAMESPACE, "\x00".join(parts))
