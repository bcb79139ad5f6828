"""Turning traversal answers into the API's JSON: Marquez's graph shape, column lineage, impact, diff."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from django.db import connection

from governance.models import Namespace
from governance.times import iso
from lineage.models import Annotation, ColumnLineage, Dataset, DatasetField
from lineage.read.graph import Node, Subgraph, recommendations
from lineage.read.graph import impact as impact_analysis
from lineage.read.identity import node_id
from lineage.read.traversal import dataset_rows, ids_in, job_rows

RESTRICTED = "restricted"


def dataset_data(row: dict[str, Any]) -> dict[str, Any]:
    """Marquez's DatasetData, plus owners and deleted."""
    return {
        "id": {"namespace": row["namespace"], "name": row["name"]},
        "type": row["type"] or "DB_TABLE",
        "name": row["name"],
        "physicalName": row["name"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
        "namespace": row["namespace"],
        "sourceName": row["source"] or row["namespace"],
        "fields": [
            {"name": f["name"], "type": f.get("type"), "tags": [], "description": f.get("description")}
            for f in row["fields"]
        ],
        "tags": sorted({t["key"] for t in row["tags"]}),
        "lastModifiedAt": iso(row["updated_at"]),
        "description": row["description"] or None,
        "lastLifecycleState": row["lifecycle"] or None,
        "owners": row["owners"],
        "deleted": row["deleted"],
    }


def job_data(
    row: dict[str, Any], *, inputs: list[dict], outputs: list[dict], redaction: "Redaction | None" = None
) -> dict[str, Any]:
    """Marquez's JobData, plus the Airflow grouping (jobType, parent, dag) and owners; a parent or DAG in a
    namespace the reader may not see is named by its placeholder."""
    redaction = redaction or Redaction(None)
    latest = None
    if row["run_id"]:
        latest = {
            "id": row["run_id"],
            "state": row["run_state"],
            "startedAt": iso(row["run_started_at"]),
            "endedAt": iso(row["run_ended_at"]),
        }
    parent = redaction.job_ref(row["parent_namespace"], row["parent_name"])
    dag = redaction.job_ref(row["dag_namespace"], row["dag_name"])
    return {
        "id": {"namespace": row["namespace"], "name": row["name"]},
        "type": "STREAM" if row["processing_type"] == "STREAMING" else "BATCH",
        "name": row["name"],
        "simpleName": row["name"].rsplit(".", 1)[-1],
        "parentJobName": parent["name"] if parent else None,
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
        "namespace": row["namespace"],
        "inputs": inputs,
        "outputs": outputs,
        "location": row["location"] or None,
        "description": row["description"] or None,
        "latestRun": latest,
        "jobType": row["job_type"] or None,
        "integration": row["integration"] or None,
        "parent": parent,
        "dag": dag,
        "owners": row["owners"],
    }


class Redaction:
    """Names of namespaces a reader may not see, replaced the way the lineage graph replaces hidden nodes.

    A hidden dataset or job is `restricted:<kind>:<n>`, numbered in the order an answer first meets it, the same
    number wherever it appears in that answer (as a graph node, a job's parent, a facet's input field). Raw facets
    and raw events name other datasets and jobs as `{namespace, name, ...}` objects (columnLineage's input fields,
    symlinks, the parent run facet, an event's inputs and outputs); `facets` and `event` replace every such object
    whose namespace the reader may not see by a placeholder that keeps its keys and says nothing else:
    `{"namespace": "restricted", "name": "restricted:dataset:1", "field": "restricted", "restricted": true}`.

    Pure: the visible namespace names come in (None: the reader sees every namespace, and nothing is copied).
    """

    def __init__(self, visible: Iterable[str] | None):
        self.visible = None if visible is None else frozenset(visible)
        self.numbers: dict[tuple[str, str, str], str] = {}

    def hides(self, namespace: Any) -> bool:
        return self.visible is not None and namespace not in self.visible

    def placeholder(self, kind: str, namespace: str, name: str) -> str:
        key = (kind, namespace, name)
        if key not in self.numbers:
            self.numbers[key] = f"{RESTRICTED}:{kind}:{len(self.numbers) + 1}"
        return self.numbers[key]

    def job_ref(self, namespace: str | None, name: str | None) -> dict[str, str] | None:
        """`{namespace, name}` of a job, or its placeholder."""
        if name is None:
            return None
        if self.hides(namespace):
            return {"namespace": RESTRICTED, "name": self.placeholder("job", namespace, name)}
        return {"namespace": namespace, "name": name}

    def run_id(self, run_id: str, *, job_namespace: str | None) -> str:
        """A run's id, or a placeholder when its job is in a hidden namespace."""
        if run_id and self.hides(job_namespace):
            return self.placeholder("run", job_namespace, run_id)
        return run_id

    def facets(self, facets: dict[str, Any]) -> dict[str, Any]:
        """Facets (of a dataset, job, run or use) with hidden datasets and jobs replaced."""
        return facets if self.visible is None else self._walk(facets, None)

    def references(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A list of `{namespace, name, ...}` references (a dataset's symlinks), hidden ones replaced."""
        return items if self.visible is None else self._walk(items, None)

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """An OpenLineage event as received, with hidden inputs, outputs and facet references replaced."""
        return event if self.visible is None else self._walk(event, None)

    def _walk(self, value: Any, key: str | None) -> Any:
        if isinstance(value, list):
            return [self._walk(item, key) for item in value]
        if not isinstance(value, dict):
            return value
        namespace, name = value.get("namespace"), value.get("name")
        if isinstance(namespace, str) and isinstance(name, str) and self.hides(namespace):
            return self._placeholder(value, "job" if key == "job" else "dataset")
        walked = {k: self._walk(v, k) for k, v in value.items()}
        job = value.get("job")
        # The parent run facet (and its `root`): the run of a hidden job is named by a placeholder too.
        if isinstance(job, dict) and self.hides(job.get("namespace")) and isinstance(value.get("run"), dict):
            run = dict(walked["run"])
            if isinstance(run.get("runId"), str):
                run["runId"] = self.run_id(run["runId"], job_namespace=job["namespace"])
            walked["run"] = run
        return walked

    def _placeholder(self, reference: dict[str, Any], kind: str) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "namespace": RESTRICTED,
            "name": self.placeholder(kind, reference["namespace"], reference["name"]),
        }
        if "field" in reference:
            shown["field"] = RESTRICTED
        if "facets" in reference:
            shown["facets"] = {}
        if isinstance(reference.get("transformations"), list):
            # What kind of dependency it is (direct, masked) belongs to the visible output; a description may
            # quote the hidden names.
            shown["transformations"] = [
                {k: t[k] for k in ("type", "subtype", "masking") if k in t}
                for t in reference["transformations"]
                if isinstance(t, dict)
            ]
        shown["restricted"] = True
        return shown


def redaction_for(visible: set[int] | None) -> Redaction:
    """The redaction of an answer for a reader who may see the namespaces `visible` (ids; None: all)."""
    if visible is None:
        return Redaction(None)
    return Redaction(Namespace.objects.filter(id__in=visible).values_list("name", flat=True))


class Identities:
    """Node ids of an answer; a node the user may not see gets an id that says only its type."""

    def __init__(self, datasets: dict, jobs: dict, visible: set[int] | None, redaction: Redaction | None = None):
        self.datasets, self.jobs, self.visible = datasets, jobs, visible
        # Restricted nodes are numbered by the answer's redaction, so a hidden job has one placeholder whether it
        # shows as a node or as another job's parent.
        self.redaction = redaction or Redaction(None)
        self.named: dict[Node, str] = {}

    def row(self, node: Node) -> dict | None:
        return (self.datasets if node[0] == "dataset" else self.jobs).get(node[1])

    def is_restricted(self, node: Node) -> bool:
        row = self.row(node)
        return self.visible is not None and row is not None and row["namespace_id"] not in self.visible

    def __call__(self, node: Node) -> str:
        named = self.named.get(node)
        if named is not None:
            return named
        row = self.row(node)
        if self.is_restricted(node):
            return self.redaction.placeholder(node[0], row["namespace"], row["name"])
        named = self.named[node] = node_id(node[0], row["namespace"], row["name"])
        return named


def steward_marks(rows_by_kind: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[int, dict[str, list[str]]]]:
    """The classifications (the node's and its fields') and tags stewards gave each row, per kind ("dataset",
    "job"), in one query.

    Annotations are keyed by natural identity, not by id: look them up by name and match the namespace here.
    """
    marks: dict[str, dict[int, dict[str, list[str]]]] = {kind: {} for kind in rows_by_kind}
    by_identity = {
        (kind, row["namespace"], row["name"]): pk for kind, rows in rows_by_kind.items() for pk, row in rows.items()
    }
    if not by_identity:
        return marks
    # The names as one array parameter: thousands of IN (%s, ...) placeholders cost more to build than to run.
    where, params = ids_in("a.name", sorted({name for _, _, name in by_identity}))
    sql = (
        f"SELECT a.kind, a.namespace, a.name, a.tags, a.classifications, a.fields "
        f"FROM {connection.ops.quote_name(Annotation._meta.db_table)} a WHERE {where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        annotations = cursor.fetchall()
    for kind, namespace, name, tags, classifications, fields in annotations:
        pk = by_identity.get((kind, namespace, name))
        if pk is None:
            continue
        tags, classifications, fields = (
            orjson.loads(value) if isinstance(value, str) else value for value in (tags, classifications, fields)
        )
        classes = set(classifications)
        for spec in (fields or {}).values():
            classes.update((spec or {}).get("classifications") or [])
        marks[kind][pk] = {"classifications": sorted(classes), "stewardTags": sorted(set(tags))}
    return marks


def _keep_nearest(subgraph: Subgraph, limit: int | None) -> Subgraph:
    if not limit or len(subgraph.depths) <= limit:
        return subgraph
    kept = dict(sorted(subgraph.depths.items(), key=lambda item: (item[1], item[0][0], item[0][1]))[:limit])
    return Subgraph(kept, {(o, d) for o, d in subgraph.edges if o in kept and d in kept})


def lineage_graph(
    subgraph: Subgraph, *, group_by_dag: bool = False, limit: int | None = None, visible: set[int] | None = None
) -> dict[str, Any]:
    """Marquez's {graph: [{id, type, data, inEdges, outEdges}]}, nearest nodes first, each with its depth."""
    total = len(subgraph.depths)
    subgraph = _keep_nearest(subgraph, limit)
    datasets = dataset_rows([pk for kind, pk in subgraph.depths if kind == "dataset"])
    jobs = job_rows([pk for kind, pk in subgraph.depths if kind == "job"])
    depths, edges = dict(subgraph.depths), set(subgraph.edges)
    redaction = redaction_for(visible)
    ids = Identities(datasets, jobs, visible, redaction)
    members: dict[Node, list[str]] = defaultdict(list)

    if group_by_dag:
        # A task stands in for its DAG: its edges move to the DAG node, which takes the smallest member depth.
        dag_of = {pk: row["dag_id"] for pk, row in jobs.items() if row["dag_id"] and row["dag_id"] != pk}
        jobs.update(job_rows(set(dag_of.values()) - set(jobs)))
        # A task the reader may see stays itself rather than vanish into a DAG they may not see.
        dag_of = {
            pk: dag
            for pk, dag in dag_of.items()
            if ids.is_restricted(("job", pk)) or not ids.is_restricted(("job", dag))
        }

        def grouped(node: Node) -> Node:
            return ("job", dag_of[node[1]]) if node[0] == "job" and node[1] in dag_of else node

        regrouped: dict[Node, int] = {}
        for node, depth in depths.items():
            target = grouped(node)
            regrouped[target] = min(depth, regrouped.get(target, depth))
            if target != node and not ids.is_restricted(node):
                members[target].append(ids(node))
        depths, edges = regrouped, {(grouped(o), grouped(d)) for o, d in edges}

    # What stewards said (PII and other classifications) colours the explorer's nodes.
    marks = steward_marks({"dataset": datasets, "job": jobs})

    # Each node's facts are worked out once: answers run to tens of thousands of nodes.
    hidden = {node for node in depths if ids.is_restricted(node)}
    # Between two restricted nodes there is nothing the reader may learn.
    keyed = [((ids(o), ids(d)), o, d) for o, d in edges if not (o in hidden and d in hidden)]
    keyed.sort(key=lambda item: item[0])
    refs = {
        node: {"namespace": row["namespace"], "name": row["name"]}
        for node in depths
        if node[0] == "dataset" and node not in hidden and (row := datasets.get(node[1])) is not None
    }

    in_edges: dict[Node, list] = defaultdict(list)
    out_edges: dict[Node, list] = defaultdict(list)
    inputs: dict[Node, list] = defaultdict(list)
    outputs: dict[Node, list] = defaultdict(list)
    for (origin_id, destination_id), origin, destination in keyed:
        edge = {"origin": origin_id, "destination": destination_id}
        out_edges[origin].append(edge)
        in_edges[destination].append(edge)
        if origin in refs:
            inputs[destination].append(refs[origin])
        if destination in refs:
            outputs[origin].append(refs[destination])

    graph = []
    for node, depth in sorted(depths.items(), key=lambda item: (item[1], ids(item[0]))):
        kind, pk = node
        row = (datasets if kind == "dataset" else jobs).get(pk)
        if row is None:
            continue
        if node in hidden:
            data: dict[str, Any] = {"restricted": True}
        elif kind == "dataset":
            data = dataset_data(row)
        else:
            data = job_data(row, inputs=inputs.get(node, []), outputs=outputs.get(node, []), redaction=redaction)
            if members.get(node):
                data["members"] = sorted(members[node])
        if node not in hidden:
            mark = marks[kind].get(pk)
            data["classifications"] = mark["classifications"] if mark else []
            data["stewardTags"] = mark["stewardTags"] if mark else []
        graph.append(
            {
                "id": ids(node),
                "type": "DATASET" if kind == "dataset" else "JOB",
                "data": data,
                "depth": depth,
                "inEdges": in_edges.get(node, []),
                "outEdges": out_edges.get(node, []),
            }
        )
    answer: dict[str, Any] = {"graph": graph}
    if limit:
        answer.update(truncated=total > len(subgraph.depths), totalNodes=total)
    return answer


# --- Column lineage --------------------------------------------------------------------------------------


def field_names(dataset: Dataset) -> list[str]:
    """A dataset's fields: its current schema, and any field column lineage names as an output."""
    names = list(DatasetField.objects.filter(dataset=dataset).values_list("name", flat=True))
    seen = set(names)
    for name in (
        ColumnLineage.objects.filter(output_dataset=dataset)
        .exclude(output_field="")
        .values_list("output_field", flat=True)
        .distinct()
    ):
        if name not in seen:
            names.append(name)
            seen.add(name)
    return names


def _transformation(transformations: list[dict]) -> tuple[str | None, str | None]:
    if not transformations:
        return None, None
    first = transformations[0]
    kind = first.get("type")
    if first.get("subtype"):
        kind = f"{kind}/{first['subtype']}" if kind else first["subtype"]
    return kind, first.get("description")


def column_graph(subgraph: Subgraph) -> dict[str, Any]:
    """Marquez's column-lineage graph: datasetField nodes with their input fields.

    Marquez's own convention is kept: the edges listed on a node always have that node as `origin`.
    """
    if subgraph is None:
        return {"graph": []}
    dataset_ids = {key[0] for _, key in subgraph.depths}
    datasets = {
        d.pk: d
        for d in Dataset.objects.filter(pk__in=dataset_ids).select_related("namespace").only("name", "namespace__name")
    }
    types = {
        (f.dataset_id, f.name): f.type
        for f in DatasetField.objects.filter(dataset_id__in=dataset_ids).only("dataset_id", "name", "type")
    }
    transformations = {
        (c.output_dataset_id, c.output_field, c.input_dataset_id, c.input_field): c.transformations
        for c in ColumnLineage.objects.filter(output_dataset_id__in=dataset_ids, input_dataset_id__in=dataset_ids)
    }

    def fid(key) -> str:
        dataset = datasets[key[0]]
        return node_id("datasetField", dataset.namespace.name, dataset.name, key[1])

    inputs = defaultdict(list)
    outputs = defaultdict(list)
    for (_, source), (_, target) in subgraph.edges:
        inputs[target].append(source)
        outputs[source].append(target)
    graph = []
    for (_, key), depth in sorted(subgraph.depths.items(), key=lambda item: (item[1], fid(item[0][1]))):
        if key[0] not in datasets:
            continue
        dataset = datasets[key[0]]
        input_fields = []
        for source in sorted(inputs[key], key=fid):
            kind, description = _transformation(transformations.get((*key, *source), []))
            source_dataset = datasets[source[0]]
            input_fields.append(
                {
                    "namespace": source_dataset.namespace.name,
                    "dataset": source_dataset.name,
                    "datasetVersion": None,
                    "field": source[1],
                    "transformationDescription": description,
                    "transformationType": kind,
                    "transformations": transformations.get((*key, *source), []),
                }
            )
        graph.append(
            {
                "id": fid(key),
                "type": "DATASET_FIELD",
                "data": {
                    "namespace": dataset.namespace.name,
                    "dataset": dataset.name,
                    "datasetVersion": None,
                    "field": key[1],
                    "fieldType": types.get(key),
                    "transformationDescription": input_fields[0]["transformationDescription"] if input_fields else None,
                    "transformationType": input_fields[0]["transformationType"] if input_fields else None,
                    "inputFields": input_fields,
                },
                "depth": depth,
                "inEdges": [{"origin": fid(key), "destination": fid(s)} for s in sorted(inputs[key], key=fid)],
                "outEdges": [{"origin": fid(key), "destination": fid(t)} for t in sorted(outputs[key], key=fid)],
            }
        )
    return {"graph": graph}


# --- Impact and diff -------------------------------------------------------------------------------------


def impact(ref, subgraph: Subgraph, *, visible: set[int] | None = None) -> dict[str, Any]:
    start = (ref.kind, ref.node.pk)
    jobs = job_rows([pk for kind, pk in subgraph.depths if kind == "job" and (kind, pk) != start])

    def job_name(pk) -> str:
        row = jobs.get(pk)
        return node_id("job", row["namespace"], row["name"]) if row else ""

    analysis = impact_analysis(start, subgraph, name=job_name)
    datasets = dataset_rows(analysis.datasets)
    redaction = redaction_for(visible)
    ids = Identities(datasets, jobs, visible, redaction)
    visible_datasets = [pk for pk in analysis.datasets if not ids.is_restricted(("dataset", pk))]
    visible_jobs = [pk for pk in analysis.jobs if not ids.is_restricted(("job", pk))]

    by_dag: dict[str | None, list[dict]] = defaultdict(list)
    dag_rows = job_rows({jobs[pk]["dag_id"] for pk in visible_jobs if jobs[pk]["dag_id"]} - set(jobs))
    dag_rows.update(jobs)
    # A visible job's DAG may be in a namespace the reader may not see: it is named by its placeholder.
    dag_ids = Identities(datasets, dag_rows, visible, redaction)
    owners: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"datasets": [], "jobs": []})
    for pk in visible_jobs:
        row = jobs[pk]
        dag_id = row["dag_id"]
        dag_key = dag_ids(("job", dag_id)) if dag_id else None
        job_id = ids(("job", pk))
        by_dag[dag_key].append(
            {
                "id": job_id,
                "name": row["name"],
                "depth": subgraph.depths[("job", pk)],
                "latestRunState": row["run_state"],
                "owners": row["owners"],
            }
        )
        for owner in row["owners"]:
            owners[owner["name"]]["jobs"].append(job_id)
    dataset_list = []
    for pk in sorted(visible_datasets, key=lambda pk: (subgraph.depths[("dataset", pk)], ids(("dataset", pk)))):
        row = datasets[pk]
        dataset_id = ids(("dataset", pk))
        dataset_list.append(
            {
                "id": dataset_id,
                "namespace": row["namespace"],
                "name": row["name"],
                "depth": subgraph.depths[("dataset", pk)],
                "owners": row["owners"],
            }
        )
        for owner in row["owners"]:
            owners[owner["name"]]["datasets"].append(dataset_id)

    critical = [
        {
            "id": ids(("job", pk)),
            "datasetsCutOff": score,
            "dag": dag_ids(("job", jobs[pk]["dag_id"])) if jobs[pk]["dag_id"] else None,
        }
        for pk, score in analysis.critical
        if not ids.is_restricted(("job", pk))
    ]
    dags = [key for key in by_dag if key is not None]
    restricted = (len(analysis.datasets) - len(visible_datasets)) + (len(analysis.jobs) - len(visible_jobs))
    return {
        "node": node_id(ref.kind, ref.node.namespace.name, ref.node.name),
        "summary": {
            "datasets": len(analysis.datasets),
            "jobs": len(analysis.jobs),
            "dags": len(dags),
            "hops": analysis.hops,
            "criticalTransformations": len(analysis.critical),
            "restricted": restricted,
        },
        "dags": [
            {"dag": key, "jobs": sorted(members, key=lambda j: (j["depth"], j["id"]))}
            for key, members in sorted(by_dag.items(), key=lambda item: (item[0] is None, item[0] or ""))
        ],
        "datasets": dataset_list,
        "owners": [{"name": name, **sorted_lists(items)} for name, items in sorted(owners.items())],
        "criticalTransformations": critical,
        "recommendations": recommendations(
            critical=len(analysis.critical), dags=len(dags), datasets=len(analysis.datasets)
        ),
    }


def sorted_lists(items: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: sorted(set(values)) for key, values in items.items()}


def diff(
    before: Subgraph, after: Subgraph, *, since: datetime, until: datetime | None, visible: set[int] | None = None
) -> dict[str, Any]:
    nodes = set(before.depths) | set(after.depths)
    datasets = dataset_rows([pk for kind, pk in nodes if kind == "dataset"])
    jobs = job_rows([pk for kind, pk in nodes if kind == "job"])
    ids = Identities(datasets, jobs, visible, redaction_for(visible))

    def described(node_set, edge_set):
        return {
            "nodes": sorted(
                ({"id": ids(n), "type": "DATASET" if n[0] == "dataset" else "JOB"} for n in node_set),
                key=lambda n: n["id"],
            ),
            "edges": sorted(
                ({"origin": ids(o), "destination": ids(d)} for o, d in edge_set),
                key=lambda e: (e["origin"], e["destination"]),
            ),
        }

    return {
        "from": iso(since),
        "to": iso(until),
        "added": described(set(after.depths) - set(before.depths), after.edges - before.edges),
        "removed": described(set(before.depths) - set(after.depths), before.edges - after.edges),
    }
