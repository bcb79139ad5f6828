"""Validation of OpenLineage events against the spec's JSON Schemas (pure: plain data in, plain data out).

Two levels, because real producers are lenient and refusing an event loses its lineage:

* the event's structure (RunEvent, DatasetEvent or JobEvent of the core schema) is enforced: an event that
  breaks it is refused with the JSON pointer of each problem;
* each *standard* facet is checked against its own schema, chosen by its key and its position (run, job,
  dataset, input or output facet). A facet that breaks its schema is reported as a warning and left out of
  the derived graph; the event is still accepted and stored whole.

A third kind of warning is not about the schema but about who sent the event: a token limited to some
namespaces may draw lineage to datasets of other namespaces, but their facets (and a `parent` link to a job
elsewhere) are not applied; `foreign_metadata` and `scope_warnings` name them.

Before either, an event must be storable: PostgreSQL's text and jsonb hold neither NUL (U+0000, which JSON carries
as the escape `\\u0000`) nor a lone surrogate, so an event holding one anywhere is refused (`unstorable_value`).

`format` keywords are not asserted (naive eventTime, non-UUID runId, non-URI producer are accepted, as
Marquez does), and custom facets only have to be objects.
"""

import copy
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from governance.times import parse_iso

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
CORE_FILE = SCHEMA_DIR / "OpenLineage.json"

# The facet bases of the core schema, and where facets of each kind sit in an event.
FACET_BASES = ("RunFacet", "JobFacet", "DatasetFacet", "InputDatasetFacet", "OutputDatasetFacet")


@dataclass(frozen=True)
class Problem:
    path: str  # JSON pointer into the event, e.g. "/run/runId"
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass
class ValidationResult:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    kind: str = ""  # "run", "dataset" or "job"

    @property
    def ok(self) -> bool:
        return not self.errors


def pointer(parts) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


@cache
def _core_schema() -> dict:
    return json.loads(CORE_FILE.read_text())


@cache
def _event_validators() -> dict[str, Any]:
    """Validators of the three event kinds, with facet bases relaxed to 'an object'.

    Facet contents are checked separately, so a facet problem can be a warning rather than a refusal.
    """
    core = copy.deepcopy(_core_schema())
    for base in FACET_BASES:
        core["$defs"][base] = {"type": "object"}
    core.pop("oneOf", None)
    core_id = core["$id"]
    registry = jsonschema_rs.Registry([(core_id, core)])
    return {
        kind: jsonschema_rs.validator_for({"$ref": f"{core_id}#/$defs/{definition}"}, registry=registry)
        for kind, definition in (("run", "RunEvent"), ("dataset", "DatasetEvent"), ("job", "JobEvent"))
    }


@cache
def _facet_validators() -> dict[tuple[str, str], Any]:
    """(facet base, facet key) -> validator of that standard facet."""
    core = _core_schema()
    resources = [(core["$id"], core)]
    facet_schemas = []
    for path in sorted((SCHEMA_DIR / "facets").glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], schema))
        facet_schemas.append(schema)
    registry = jsonschema_rs.Registry(resources)
    validators = {}
    for schema in facet_schemas:
        keys = list(schema.get("properties", {}))
        for def_name, definition in schema.get("$defs", {}).items():
            bases = [
                part["$ref"].rsplit("/", 1)[-1]
                for part in definition.get("allOf", [])
                if isinstance(part, dict) and "$ref" in part
            ]
            base = next((b for b in bases if b in FACET_BASES), None)
            if base is None:
                continue
            for key in keys:
                validators[(base, key)] = jsonschema_rs.validator_for(
                    {"$ref": f"{schema['$id']}#/$defs/{def_name}"}, registry=registry
                )
    return validators


def event_kind(event: dict) -> str:
    """Which of the three event kinds a payload is meant to be."""
    if "run" in event:
        return "run"
    if "dataset" in event:
        return "dataset"
    if "job" in event:
        return "job"
    return "run"


def _problems(validator, instance, prefix: tuple = ()) -> list[Problem]:
    problems = []
    for error in validator.iter_errors(instance):
        parts = list(prefix) + list(error.instance_path)
        detail = error.kind.as_dict() if hasattr(error.kind, "as_dict") else {}
        if "property" in detail and isinstance(detail["property"], str):
            parts.append(detail["property"])  # point at the missing field itself
        problems.append(Problem(pointer(parts), error.message))
    return problems


def _facet_positions(event: dict):
    """Yield (base, path parts, facets dict) for every facet container in the event."""
    run = event.get("run")
    if isinstance(run, dict) and isinstance(run.get("facets"), dict):
        yield "RunFacet", ("run", "facets"), run["facets"]
    job = event.get("job")
    if isinstance(job, dict) and isinstance(job.get("facets"), dict):
        yield "JobFacet", ("job", "facets"), job["facets"]
    dataset = event.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("facets"), dict):
        yield "DatasetFacet", ("dataset", "facets"), dataset["facets"]
    for side, extra_key, extra_base in (
        ("inputs", "inputFacets", "InputDatasetFacet"),
        ("outputs", "outputFacets", "OutputDatasetFacet"),
    ):
        datasets = event.get(side)
        if not isinstance(datasets, list):
            continue
        for index, item in enumerate(datasets):
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("facets"), dict):
                yield "DatasetFacet", (side, index, "facets"), item["facets"]
            if isinstance(item.get(extra_key), dict):
                yield extra_base, (side, index, extra_key), item[extra_key]


parse_event_time = parse_iso  # a naive event time is UTC, as Marquez takes it


def _semantic_errors(event: dict, kind: str) -> list[Problem]:
    """What the schema cannot say: identities must not be blank, eventTime must be a time."""
    errors = []
    if "eventTime" in event and isinstance(event["eventTime"], str) and parse_event_time(event["eventTime"]) is None:
        errors.append(Problem("/eventTime", f"{event['eventTime']!r} is not an ISO 8601 date-time"))
    identities = []
    if kind == "run":
        identities.append((("run", "runId"), (event.get("run") or {}).get("runId")))
    if kind in ("run", "job"):
        job = event.get("job") or {}
        identities += [(("job", "namespace"), job.get("namespace")), (("job", "name"), job.get("name"))]
    if kind == "dataset":
        dataset = event.get("dataset") or {}
        identities += [
            (("dataset", "namespace"), dataset.get("namespace")),
            (("dataset", "name"), dataset.get("name")),
        ]
    for side in ("inputs", "outputs"):
        for index, item in enumerate(event.get(side) or []):
            if isinstance(item, dict):
                identities += [
                    ((side, index, "namespace"), item.get("namespace")),
                    ((side, index, "name"), item.get("name")),
                ]
    for parts, value in identities:
        if isinstance(value, str) and not value.strip():
            errors.append(Problem(pointer(parts), "must not be empty"))
    return errors


_SURROGATE = re.compile("[\ud800-\udfff]")


def _unstorable_in(text: str) -> str:
    """What in a string PostgreSQL cannot store, as a message; empty when it can."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if not text.isascii() and (surrogate := _SURROGATE.search(text)):
        return f"contains a lone surrogate (\\u{ord(surrogate.group()):04x}), which cannot be stored"
    return ""


def unstorable_value(value: Any) -> Problem | None:
    """The first string or object key (in document order) that PostgreSQL's text and jsonb cannot hold, or None.

    A bad value is named by its pointer; a bad key by the pointer of the object that holds it, with the key
    (escaped) in the message, so the problem itself can be stored and shown. Walked with a stack of its own:
    JSON may nest deeper than Python's recursion limit.
    """
    stack: list[tuple[tuple, Any]] = [((), value)]
    while stack:
        parts, item = stack.pop()
        if isinstance(item, str):
            if message := _unstorable_in(item):
                return Problem(pointer(parts), message)
        elif isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and (message := _unstorable_in(key)):
                    shown = json.dumps(key[:100])
                    return Problem(pointer(parts), f"has a key {shown} that {message}")
            stack.extend(((*parts, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*parts, index), child) for index, child in reversed(list(enumerate(item))))
    return None


# In JSON text, the only ways to a NUL or a surrogate: `\u0000` and `\ud800`..`\udfff` (raw control characters and
# invalid UTF-8 are not JSON).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def may_hold_unstorable(text: str) -> bool:
    """Whether JSON text could decode to a string `unstorable_value` refuses. A quick look that lets nearly every
    event skip the walk: a memchr for a backslash (80 ns on a 9 KB Airflow event), then, if there is one, a
    search for the escapes (3 us). An escaped backslash before `u0000` also matches; the walk then clears it."""
    return "\\" in text and _UNSTORABLE_ESCAPE.search(text) is not None


def storable_text(text: str) -> str:
    """`text` with what PostgreSQL cannot store (NUL, lone surrogates) replaced by U+FFFD, as bytes that are not
    UTF-8 already are when a body is read."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    return text


def validate_event(event: Any, text: str | None = None) -> ValidationResult:
    """Check one decoded event. Errors refuse the event; warnings name facets that will not be applied.

    `text`, the JSON the event was decoded from (or encoded to), lets the check for unstorable characters skip
    its walk when the text has no escape that could make one."""
    if not isinstance(event, dict):
        return ValidationResult(errors=[Problem("", "an OpenLineage event must be a JSON object")])
    kind = event_kind(event)
    result = ValidationResult(kind=kind)
    if (text is None or may_hold_unstorable(text)) and (problem := unstorable_value(event)):
        result.errors = [problem]
        return result
    result.errors = _problems(_event_validators()[kind], event)
    if not result.errors:
        result.errors = _semantic_errors(event, kind)
    if result.errors:
        return result
    facet_validators = _facet_validators()
    for base, parts, facets in _facet_positions(event):
        for key, value in facets.items():
            if isinstance(value, dict) and value.get("_deleted") is True:
                continue  # a deletion marker carries no content to check
            validator = facet_validators.get((base, key))
            if validator is None:
                continue  # custom facet: kept as sent
            result.warnings.extend(_problems(validator, value, (*parts, key)))
    return result


def foreign_metadata(event: dict, kind: str) -> list[tuple[str, Problem]]:
    """What a valid event says about nodes outside its own namespace (the job's), one item per facet: the
    facets, input facets and output facets of its datasets in other namespaces, and a `parent` run facet that
    names a job in another namespace. Each as (that namespace, the warning a token not allowed it gets).

    A DatasetEvent has none: its only node is its own dataset.
    """
    if kind == "dataset":
        return []
    own = event["job"]["namespace"]
    found = []
    for _, parts, facets in _facet_positions(event):
        if parts[0] in ("inputs", "outputs"):
            namespace = event[parts[0]][parts[1]]["namespace"]
            keys = list(facets)
        elif parts == ("run", "facets"):
            namespace, keys = _parent_namespace(facets.get("parent")), ["parent"]
        else:
            continue
        if namespace is None or namespace == own:
            continue
        message = f"the token may not change metadata of namespace {namespace}"
        found += [(namespace, Problem(pointer((*parts, key)), message)) for key in keys]
    return found


def _parent_namespace(parent: Any) -> str | None:
    """The namespace of the job a `parent` run facet links to (as `openlineage.parent_of` reads it), or None."""
    if not isinstance(parent, dict) or parent.get("_deleted") is True or not isinstance(parent.get("job"), dict):
        return None
    namespace, name = parent["job"].get("namespace"), parent["job"].get("name")
    if isinstance(namespace, str) and isinstance(name, str) and namespace and name:
        return namespace
    return None


def scope_warnings(foreign: list[tuple[str, Problem]], namespaces: list[str] | None) -> list[Problem]:
    """The items of `foreign_metadata` that a token limited to `namespaces` may not apply (none when it has no
    limit)."""
    if not namespaces:
        return []
    return [problem for namespace, problem in foreign if namespace not in namespaces]


def facet_paths(warnings: list[dict] | list[Problem]) -> set[str]:
    """The JSON pointers of the facets named by warnings (a warning deep inside a facet names its facet)."""
    paths = set()
    for warning in warnings:
        path = warning.path if isinstance(warning, Problem) else warning["path"]
        parts = path.split("/")[1:]
        for depth, part in enumerate(parts):
            if part in ("facets", "inputFacets", "outputFacets") and depth + 1 < len(parts):
                paths.add("/" + "/".join(parts[: depth + 2]))
                break
    return paths
