"""Turning traversal answers into the API's JSON: Marquez's graph shape, column lineage, impact, diff."""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection

from .graph import Node, Subgraph, recommendations
from .graph import impact as impact_analysis
from .models import Annotation, ColumnLineage, Dataset, DatasetField
from .selectors import node_id
from .traversal import dataset_rows, ids_in, job_rows

RESTRICTED = "restricted"


def iso(moment: datetime | str | None) -> str | None:
    """A time as the API writes it; a string is one already written so (`lineage.traversal.iso_time`)."""
    if moment is None or isinstance(moment, str):
        return moment
    if moment.tzinfo is None:  # SQLite's raw cursor gives the stored UTC time without its zone
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


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


def job_data(row: dict[str, Any], *, inputs: list[dict], outputs: list[dict]) -> dict[str, Any]:
    """Marquez's JobData, plus the Airflow grouping (jobType, parent, dag) and owners."""
    latest = None
    if row["run_id"]:
        latest = {
            "id": row["run_id"],
            "state": row["run_state"],
            "startedAt": iso(row["run_started_at"]),
            "endedAt": iso(row["run_ended_at"]),
        }
    parent = {"namespace": row["parent_namespace"], "name": row["parent_name"]} if row["parent_name"] else None
    dag = {"namespace": row["dag_namespace"], "name": row["dag_name"]} if row["dag_name"] else None
    return {
        "id": {"namespace": row["namespace"], "name": row["name"]},
        "type": "STREAM" if row["processing_type"] == "STREAMING" else "BATCH",
        "name": row["name"],
        "simpleName": row["name"].rsplit(".", 1)[-1],
        "parentJobName": row["parent_name"],
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


class Identities:
    """Node ids of an answer; a node the user may not see gets an id that says only its type."""

    def __init__(self, datasets: dict, jobs: dict, visible: set[int] | None):
        self.datasets, self.jobs, self.visible = datasets, jobs, visible
        self.restricted: dict[Node, str] = {}
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
        if self.is_restricted(node):
            if node not in self.restricted:
                self.restricted[node] = f"{RESTRICTED}:{node[0]}:{len(self.restricted) + 1}"
            return self.restricted[node]
        row = self.row(node)
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
    ids = Identities(datasets, jobs, visible)
    members: dict[Node, list[str]] = defaultdict(list)

    if group_by_dag:
        # A task stands in for its DAG: its edges move to the DAG node, which takes the smallest member depth.
        dag_of = {pk: row["dag_id"] for pk, row in jobs.items() if row["dag_id"] and row["dag_id"] != pk}
        jobs.update(job_rows(set(dag_of.values()) - set(jobs)))

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
            data = job_data(row, inputs=inputs.get(node, []), outputs=outputs.get(node, []))
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
    ids = Identities(datasets, jobs, visible)
    visible_datasets = [pk for pk in analysis.datasets if not ids.is_restricted(("dataset", pk))]
    visible_jobs = [pk for pk in analysis.jobs if not ids.is_restricted(("job", pk))]

    by_dag: dict[str | None, list[dict]] = defaultdict(list)
    dag_rows = job_rows({jobs[pk]["dag_id"] for pk in visible_jobs if jobs[pk]["dag_id"]} - set(jobs))
    dag_rows.update(jobs)
    owners: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"datasets": [], "jobs": []})
    for pk in visible_jobs:
        row = jobs[pk]
        dag_id = row["dag_id"]
        dag_key = node_id("job", dag_rows[dag_id]["namespace"], dag_rows[dag_id]["name"]) if dag_id else None
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
            "dag": (lambda r: node_id("job", dag_rows[r]["namespace"], dag_rows[r]["name"]) if r else None)(
                jobs[pk]["dag_id"]
            ),
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
    ids = Identities(datasets, jobs, visible)

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
