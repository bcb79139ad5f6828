"""Read queries behind the browser pages: search, the home page, a dataset's and a job's page, impact.

Every query is filtered by `visible_namespace_ids` (computed once per request), so a page shows only the
namespaces the user may read and answers 404 for an object anywhere else, exactly like the API.
Each function runs a fixed number of queries, whatever the size of the graph: the pages stay fast on large
estates.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from lineage.models import (
    Annotation,
    ColumnLineage,
    Dataset,
    DatasetField,
    DatasetVersion,
    Direction,
    Job,
    JobEdge,
    Run,
    RunDataset,
    RunState,
)
from lineage.read import shapes, traversal
from lineage.read.graph import DOWN
from lineage.read.identity import NodeNotFound, NodeRef, node_id, resolve_node
from lineage.read.visible import (
    filter_visible,
    visible_datasets,
    visible_jobs,
    visible_namespace_ids,
    visible_namespaces,
    visible_runs,
)

SEARCH_LIMIT = 8
RECENT_RUNS = 20
FAILING_JOBS = 15
RUN_HISTORY = 50
CHART_RUNS = 100
VERSIONS_SCANNED = 500  # schema history is diffed over a dataset's latest versions only
ANNOTATION_MATCHES = 200
# How a page names a dataset or job of a namespace the reader may not see (the graph's restricted node, in words).
HIDDEN = {"dataset": "a dataset in a namespace you cannot see", "job": "a job in a namespace you cannot see"}

# --- URLs of pages ---------------------------------------------------------------------------------------

# Namespaces and names keep their colons and slashes in page URLs (`/datasets/postgres://db:5432/public.t`):
# the view splits the path at a namespace the user may see, so nothing needs escaping but what URLs forbid.
_SAFE = "/:@!$&'()*+,;=-._~"


def dataset_url(namespace: str, name: str) -> str:
    return f"/datasets/{quote(namespace, safe=_SAFE)}/{quote(name, safe=_SAFE)}"


def job_url(namespace: str, name: str) -> str:
    return f"/jobs/{quote(namespace, safe=_SAFE)}/{quote(name, safe=_SAFE)}"


def node_url(kind: str, namespace: str, name: str) -> str:
    return dataset_url(namespace, name) if kind == "dataset" else job_url(namespace, name)


def lineage_url(kind: str, namespace: str, name: str, **params: Any) -> str:
    return "/lineage/?" + urlencode({"nodeId": node_id(kind, namespace, name), **params})


def impact_url(kind: str, namespace: str, name: str) -> str:
    return "/impact/?" + urlencode({"nodeId": node_id(kind, namespace, name)})


# --- Finding a node from a page URL ----------------------------------------------------------------------


def _slash_splits(path: str) -> list[tuple[str, str]]:
    """Every (namespace, name) split of `path` at a slash, longest namespace first."""
    return [(path[:i], path[i + 1 :]) for i in range(len(path) - 1, 0, -1) if path[i] == "/" and path[i + 1 :]]


def node_for_path(*, user, kind: str, path: str) -> Dataset | Job:
    """The dataset or job at `/datasets/<namespace>/<name>` (or `/jobs/...`).

    Namespaces contain slashes (`s3://bucket`, `postgres://db:5432`) and so may names (`crm/contacts.csv`), and
    WSGI servers decode `%2F` before Django sees the path: try every split, the longest visible namespace first,
    and take the first that names an existing node. A namespace the user may not read is never a candidate, so
    its nodes answer 404 like unknown ones.
    """
    splits = _slash_splits(path)
    namespaces = {ns.name: ns for ns in visible_namespaces(user).filter(name__in={ns for ns, _ in splits})}
    model = Dataset if kind == "dataset" else Job
    wanted = [(namespaces[ns], name) for ns, name in splits if ns in namespaces]
    if not wanted:
        raise NodeNotFound(f"no visible namespace starts {path!r}")
    condition = Q()
    for ns, name in wanted:
        condition |= Q(namespace=ns, name=name)
    found = {(row.namespace_id, row.name): row for row in model.objects.filter(condition)}
    for ns, name in wanted:
        row = found.get((ns.pk, name))
        if row is not None:
            row.namespace = ns
            return row
    raise NodeNotFound(f"no {kind} at {path!r}")


def visible_node(*, user, node_id_text: str | None) -> NodeRef:
    """The node a `?nodeId=` names, if the user may see it (else NodeNotFound, as an unknown one)."""
    if not node_id_text:
        raise NodeNotFound("no nodeId")
    return resolve_node(node_id=node_id_text, visible=visible_namespace_ids(user))


# --- Steward annotations ---------------------------------------------------------------------------------


def annotation_for(kind: str, node: Dataset | Job) -> Annotation | None:
    return (
        Annotation.objects.filter(kind=kind, namespace=node.namespace.name, name=node.name)
        .select_related("updated_by")
        .first()
    )


def annotation_fields(kind: str, node: Dataset | Job) -> dict:
    """The per-field notes stewards wrote on a node (empty without an annotation)."""
    annotation = annotation_for(kind, node)
    return dict(annotation.fields) if annotation else {}


def _tag_keys(tags: list) -> list[str]:
    """Tag facets are [{key, value, source}]; annotations are plain strings."""
    return [t.get("key", "") if isinstance(t, dict) else str(t) for t in tags]


def _owner_names(owners: list) -> list[str]:
    return [o.get("name", "") if isinstance(o, dict) else str(o) for o in owners]


def _labels(node: Dataset | Job, annotation: Annotation | None) -> dict[str, Any]:
    """Description, owners, tags and classifications from the facets and from stewards, each saying which."""
    steward = annotation.as_dict() if annotation else {}
    owners = [{"name": name, "source": "facet"} for name in _owner_names(node.owners)]
    owners += [{"name": name, "source": "steward"} for name in _owner_names(steward.get("owners", []))]
    tags = [{"name": key, "source": "facet"} for key in _tag_keys(node.tags)]
    tags += [{"name": key, "source": "steward"} for key in steward.get("tags", [])]
    classifications = list(steward.get("classifications", []))
    for spec in steward.get("fields", {}).values():
        classifications += [c for c in spec.get("classifications") or [] if c not in classifications]
    return {
        "description": steward.get("description") or node.description,
        "facet_description": node.description,
        "steward_description": steward.get("description", ""),
        "owners": owners,
        "tags": tags,
        "classifications": classifications,
        "steward": steward,
        "annotation": annotation,
        "is_pii": any(c.lower() == "pii" for c in classifications + [t["name"] for t in tags]),
    }


# --- Search ----------------------------------------------------------------------------------------------


@dataclass
class Hit:
    kind: str  # dataset, job or field
    namespace: str
    name: str
    url: str
    why: str  # what matched: name, namespace, tag, owner, description, steward note
    field: str = ""
    detail: str = ""


def _why(q: str, *, name: str, namespace: str, description: str, tags: list, owners: list, steward: bool) -> str:
    needle = q.lower()
    if needle in name.lower():
        return "name"
    if needle in namespace.lower():
        return "namespace"
    if any(needle in t.lower() for t in _tag_keys(tags)):
        return "tag"
    if any(needle in o.lower() for o in _owner_names(owners)):
        return "owner"
    if needle in (description or "").lower():
        return "description"
    return "steward note" if steward else "facet"


def _annotated(q: str, kind: str) -> set[tuple[str, str]]:
    """(namespace, name) of nodes whose steward annotation mentions `q`."""
    rows = Annotation.objects.filter(kind=kind).filter(
        Q(description__icontains=q)
        | Q(tags__icontains=q)
        | Q(owners__icontains=q)
        | Q(classifications__icontains=q)
        | Q(fields__icontains=q)
    )
    return set(rows.values_list("namespace", "name")[:ANNOTATION_MATCHES])


def _matching(queryset: QuerySet, q: str, annotated: set[tuple[str, str]]) -> QuerySet:
    condition = (
        Q(name__icontains=q)
        | Q(namespace__name__icontains=q)
        | Q(description__icontains=q)
        | Q(tags__icontains=q)
        | Q(owners__icontains=q)
    )
    for namespace, name in annotated:
        condition |= Q(namespace__name=namespace, name=name)
    return queryset.filter(condition).select_related("namespace")


def search(*, user, q: str, limit: int = SEARCH_LIMIT) -> dict[str, Any]:
    """Datasets, jobs and fields whose name, namespace, tags, owners or description (facets or stewards')
    mention `q`; names that match come first."""
    q = q.strip()
    if not q:
        return {"q": q, "datasets": [], "jobs": [], "fields": [], "total": 0}
    results: dict[str, list[Hit]] = {}
    for kind, queryset, url in (
        ("dataset", visible_datasets(user), dataset_url),
        ("job", visible_jobs(user), job_url),
    ):
        annotated = _annotated(q, kind)
        rows = _matching(queryset, q, annotated).only(
            "name", "description", "tags", "owners", "namespace__name", "updated_at"
        )
        # Name matches first, then the most recently updated: one query, no full scan sorted in Python.
        by_name = list(rows.filter(name__icontains=q).order_by("name")[:limit])
        others = (
            []
            if len(by_name) >= limit
            else list(rows.exclude(name__icontains=q).order_by("name")[: limit - len(by_name)])
        )
        results[kind + "s"] = [
            Hit(
                kind=kind,
                namespace=row.namespace.name,
                name=row.name,
                url=url(row.namespace.name, row.name),
                why=_why(
                    q,
                    name=row.name,
                    namespace=row.namespace.name,
                    description=row.description,
                    tags=row.tags,
                    owners=row.owners,
                    steward=(row.namespace.name, row.name) in annotated,
                ),
                detail=(row.description or "")[:140],
            )
            for row in by_name + others
        ]
    fields = (
        filter_visible(DatasetField.objects.all(), user, "dataset__namespace_id")
        .filter(Q(name__icontains=q) | Q(description__icontains=q))
        .select_related("dataset__namespace")
        .only("name", "type", "description", "dataset__name", "dataset__namespace__name")
        .order_by("name", "dataset__name")[:limit]
    )
    results["fields"] = [
        Hit(
            kind="field",
            namespace=f.dataset.namespace.name,
            name=f.dataset.name,
            field=f.name,
            url=dataset_url(f.dataset.namespace.name, f.dataset.name) + f"#field-{quote(f.name, safe='')}",
            why="field" if q.lower() in f.name.lower() else "description",
            detail=f.type,
        )
        for f in fields
    ]
    return {"q": q, **results, "total": sum(len(v) for v in results.values())}


# --- Home ------------------------------------------------------------------------------------------------


def _latest_run() -> QuerySet:
    return Run.objects.filter(job_id=OuterRef("pk")).order_by("-created_at", "-pk")


def home(*, user) -> dict[str, Any]:
    visible = visible_namespace_ids(user)
    namespaces = (
        visible_namespaces(user)
        .annotate(dataset_count=Count("datasets", distinct=True), job_count=Count("jobs", distinct=True))
        .order_by("name")
    )
    runs = visible_runs(user)
    recent = list(
        runs.select_related("job__namespace")
        .only("run_id", "state", "started_at", "ended_at", "updated_at", "job__name", "job__namespace__name")
        .order_by("-updated_at", "-pk")[:RECENT_RUNS]
    )
    failing = list(
        visible_jobs(user)
        .annotate(
            latest_state=Subquery(_latest_run().values("state")[:1]),
            latest_run_id=Subquery(_latest_run().values("run_id")[:1]),
            latest_error=Subquery(_latest_run().values("error_message")[:1]),
            latest_at=Subquery(_latest_run().values("updated_at")[:1]),
        )
        .filter(latest_state__in=[RunState.FAILED, RunState.ABORTED])
        .select_related("namespace")
        .only("name", "job_type", "namespace__name")
        .order_by("-latest_at")[:FAILING_JOBS]
    )
    return {
        "namespaces": list(namespaces),
        "counts": {
            "datasets": visible_datasets(user).count(),
            "jobs": visible_jobs(user).count(),
            "runs": runs.count(),
            "failed_runs": runs.filter(state=RunState.FAILED).count(),
        },
        "recent_runs": recent,
        "failing_jobs": failing,
        "sees_everything": visible is None,
    }


# --- Dataset page ----------------------------------------------------------------------------------------


@dataclass
class SchemaChange:
    version: DatasetVersion
    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    retyped: list[tuple[str, str, str]] = field(default_factory=list)  # (name, before, after)
    first: bool = False


def _flat_fields(fields: list[dict], prefix: str = "") -> dict[str, str]:
    """{dotted name: type} of a schema facet's (possibly nested) fields."""
    flat: dict[str, str] = {}
    for f in fields or []:
        name = prefix + str(f.get("name", ""))
        flat[name] = str(f.get("type") or "")
        if f.get("fields"):
            flat.update(_flat_fields(f["fields"], name + "."))
    return flat


def schema_history(versions: list[DatasetVersion]) -> list[SchemaChange]:
    """The versions (oldest first) at which the schema changed, each with what was added, removed or retyped.

    Versions that only repeat the previous schema (most runs) are not changes; a version without any schema
    (a run that did not report one) neither: it says nothing about the columns.
    """
    changes: list[SchemaChange] = []
    previous: dict[str, str] | None = None
    for version in versions:
        if not version.fields:
            continue
        current = _flat_fields(version.fields)
        if previous is None:
            changes.append(
                SchemaChange(version, added=[{"name": n, "type": t} for n, t in current.items()], first=True)
            )
        elif current != previous:
            changes.append(
                SchemaChange(
                    version,
                    added=[{"name": n, "type": t} for n, t in current.items() if n not in previous],
                    removed=[{"name": n, "type": t} for n, t in previous.items() if n not in current],
                    retyped=[(n, previous[n], t) for n, t in current.items() if n in previous and previous[n] != t],
                )
            )
        previous = current
    return changes


def _edges_of(dataset: Dataset, *, user, direction: str) -> list[dict[str, Any]]:
    edges = (
        filter_visible(JobEdge.objects.filter(dataset=dataset, direction=direction), user, "job__namespace_id")
        .select_related("job__namespace")
        .annotate(
            latest_state=Subquery(
                Run.objects.filter(job_id=OuterRef("job_id")).order_by("-created_at", "-pk").values("state")[:1]
            )
        )
        .order_by("job__namespace__name", "job__name")
    )
    return [
        {
            "namespace": e.job.namespace.name,
            "name": e.job.name,
            "type": e.job.job_type,
            "url": job_url(e.job.namespace.name, e.job.name),
            "state": e.latest_state,
            "last_seen": e.last_seen,
        }
        for e in edges
    ]


def _column_lineage(dataset: Dataset, *, user) -> tuple[dict, dict, list]:
    """Per field: the input fields it is computed from, and the output fields computed from it (visible ones)."""
    upstream: dict[str, list[dict]] = defaultdict(list)
    downstream: dict[str, list[dict]] = defaultdict(list)
    whole: list[dict] = []
    rows = filter_visible(ColumnLineage.objects.filter(output_dataset=dataset), user, "input_dataset__namespace_id")
    for row in rows.select_related("input_dataset__namespace").order_by("input_dataset__name", "input_field"):
        source = row.input_dataset
        entry = {
            "namespace": source.namespace.name,
            "dataset": source.name,
            "field": row.input_field,
            "url": dataset_url(source.namespace.name, source.name) + f"#field-{quote(row.input_field, safe='')}",
            "transformation": _transformation_label(row.transformations),
        }
        (upstream[row.output_field] if row.output_field else whole).append(entry)
    rows = filter_visible(
        ColumnLineage.objects.filter(input_dataset=dataset).exclude(output_field=""),
        user,
        "output_dataset__namespace_id",
    )
    for row in rows.select_related("output_dataset__namespace").order_by("output_dataset__name", "output_field"):
        target = row.output_dataset
        downstream[row.input_field].append(
            {
                "namespace": target.namespace.name,
                "dataset": target.name,
                "field": row.output_field,
                "url": dataset_url(target.namespace.name, target.name) + f"#field-{quote(row.output_field, safe='')}",
                "transformation": _transformation_label(row.transformations),
            }
        )
    return upstream, downstream, whole


def _transformation_label(transformations: list[dict]) -> str:
    kind, description = shapes._transformation(transformations or [])
    return " · ".join(part for part in (kind, description) if part)


def _quality(dataset: Dataset, *, user) -> list[dict[str, Any]]:
    """Data quality assertions: on the dataset's own facets, and on the latest runs that read or wrote it."""
    found: list[dict[str, Any]] = []
    own = (dataset.facets or {}).get("dataQualityAssertions") or {}
    for assertion in own.get("assertions", []):
        found.append({**assertion, "run": None, "at": dataset.updated_at})
    uses = (
        filter_visible(RunDataset.objects.filter(dataset=dataset), user, "run__job__namespace_id")
        .filter(facets__has_key="dataQualityAssertions")
        .select_related("run__job__namespace")
        .order_by("-created_at", "-pk")[:5]
    )
    for use in uses:
        for assertion in use.facets["dataQualityAssertions"].get("assertions", []):
            found.append({**assertion, "run": use.run, "at": use.created_at})
    return found


def _writer(run: Run | None, visible: set[int] | None) -> dict[str, str] | None:
    """The job of the run that wrote a version, linked; one of a namespace the reader may not see is only said
    to exist (nor its run's state: the graph shows a restricted node with no data at all)."""
    if run is None:
        return None
    if visible is not None and run.job.namespace_id not in visible:
        return {"name": HIDDEN["job"], "url": "", "state": ""}
    return {"name": run.job.name, "url": job_url(run.job.namespace.name, run.job.name), "state": run.state}


def dataset_page(*, user, dataset: Dataset) -> dict[str, Any]:
    annotation = annotation_for("dataset", dataset)
    labels = _labels(dataset, annotation)
    upstream, downstream, whole = _column_lineage(dataset, user=user)
    field_notes = labels["steward"].get("fields", {})
    fields = [
        {
            "name": f.name,
            "node_id": node_id("datasetField", dataset.namespace.name, dataset.name, f.name),
            "type": f.type,
            "description": (field_notes.get(f.name) or {}).get("description") or f.description,
            "classifications": (field_notes.get(f.name) or {}).get("classifications") or [],
            "tags": (field_notes.get(f.name) or {}).get("tags") or [],
            "inputs": upstream.get(f.name, []),
            "outputs": downstream.get(f.name, []),
        }
        for f in DatasetField.objects.filter(dataset=dataset).order_by("position")
    ]
    versions = list(
        DatasetVersion.objects.filter(dataset=dataset)
        .select_related("run__job__namespace")
        .only(
            "version",
            "created_at",
            "fields",
            "lifecycle_state",
            "run__run_id",
            "run__state",
            "run__job__name",
            "run__job__namespace__name",
        )
        .order_by("-created_at", "-pk")[:VERSIONS_SCANNED]
    )
    version_count = DatasetVersion.objects.filter(dataset=dataset).count()
    visible = visible_namespace_ids(user)
    for version in versions:
        version.writer = _writer(version.run, visible)
    changes = schema_history(list(reversed(versions)))
    uses = list(
        filter_visible(RunDataset.objects.filter(dataset=dataset), user, "run__job__namespace_id")
        .select_related("run__job__namespace")
        .only(
            "direction",
            "created_at",
            "run__run_id",
            "run__state",
            "run__started_at",
            "run__ended_at",
            "run__job__name",
            "run__job__namespace__name",
        )
        .order_by("-run__created_at", "-pk")[:RECENT_RUNS]
    )
    ns, name = dataset.namespace.name, dataset.name
    return {
        "dataset": dataset,
        "node_id": node_id("dataset", ns, name),
        **labels,
        "fields": fields,
        "whole_dataset_inputs": whole,
        "schema_changes": list(reversed(changes)),
        "versions": versions[:10],
        "version_count": version_count,
        "producers": _edges_of(dataset, user=user, direction=Direction.OUTPUT),
        "consumers": _edges_of(dataset, user=user, direction=Direction.INPUT),
        "uses": uses,
        "quality": _quality(dataset, user=user),
        "source_uri": dataset.source_uri or (dataset.facets.get("dataSource") or {}).get("uri", ""),
        "lineage_url": lineage_url("dataset", ns, name),
        "impact_url": impact_url("dataset", ns, name),
    }


# --- Job page --------------------------------------------------------------------------------------------


def duration_chart(runs: list[Run], *, width: int = 640, height: int = 160, pad: int = 28) -> dict[str, Any] | None:
    """Points of a duration-over-time scatter chart (SVG coordinates), oldest left; None without durations."""
    points = [(r.started_at, r.duration_ms, r) for r in runs if r.duration_ms is not None and r.started_at]
    if not points:
        return None
    points.sort(key=lambda p: p[0])
    first, last = points[0][0], points[-1][0]
    span = max((last - first).total_seconds(), 1.0)
    longest = max(ms for _, ms, _ in points) or 1
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    plotted = [
        {
            "x": round(pad + (at - first).total_seconds() / span * inner_w, 1),
            "y": round(pad + inner_h - ms / longest * inner_h, 1),
            "seconds": round(ms / 1000, 1),
            "state": run.state.lower(),
            "run_id": run.run_id,
            "at": at,
        }
        for at, ms, run in points
    ]
    return {
        "width": width,
        "height": height,
        "pad": pad,
        "points": plotted,
        "line": " ".join(f"{p['x']},{p['y']}" for p in plotted),
        "max_seconds": round(longest / 1000, 1),
        "first": first,
        "last": last,
        "bottom": height - pad,
        "right": width - pad,
    }


def _datasets_of(job: Job, *, user, direction: str) -> list[dict[str, Any]]:
    edges = (
        filter_visible(JobEdge.objects.filter(job=job, direction=direction), user, "dataset__namespace_id")
        .select_related("dataset__namespace")
        .order_by("dataset__namespace__name", "dataset__name")
    )
    return [
        {
            "namespace": e.dataset.namespace.name,
            "name": e.dataset.name,
            "url": dataset_url(e.dataset.namespace.name, e.dataset.name),
            "last_seen": e.last_seen,
        }
        for e in edges
    ]


def job_page(*, user, job: Job) -> dict[str, Any]:
    annotation = annotation_for("job", job)
    labels = _labels(job, annotation)
    visible = visible_namespace_ids(user)
    dag = job.dag if job.dag_id else None
    dag_hidden = dag is not None and visible is not None and dag.namespace_id not in visible
    if dag_hidden:
        dag = None
    parent = job.parent if job.parent_id else None
    parent_note = ""
    if parent is not None and parent.pk != job.dag_id:
        parent_note = parent.name if visible is None or parent.namespace_id in visible else HIDDEN["job"]
    siblings: list[Job] = []
    if dag is not None:
        siblings = list(
            filter_visible(Job.objects.filter(dag=dag).exclude(pk=dag.pk), user, "namespace_id")
            .select_related("namespace")
            .annotate(latest_state=Subquery(_latest_run().values("state")[:1]))
            .only("name", "job_type", "namespace__name")
            .order_by("name")
        )
    runs = list(Run.objects.filter(job=job).order_by("-created_at", "-pk")[:CHART_RUNS])
    failures = [r for r in runs if r.state in (RunState.FAILED, RunState.ABORTED)]
    source_code = (job.facets or {}).get("sourceCode") or {}
    ns, name = job.namespace.name, job.name
    return {
        "job": job,
        "node_id": node_id("job", ns, name),
        **labels,
        "dag": dag,
        "dag_url": job_url(dag.namespace.name, dag.name) if dag is not None else "",
        "dag_hidden": dag_hidden,
        "parent_note": parent_note,
        "siblings": [
            {
                "name": s.name,
                "type": s.job_type,
                "url": job_url(s.namespace.name, s.name),
                "state": s.latest_state,
                "current": s.pk == job.pk,
            }
            for s in siblings
        ],
        "inputs": _datasets_of(job, user=user, direction=Direction.INPUT),
        "outputs": _datasets_of(job, user=user, direction=Direction.OUTPUT),
        "runs": runs[:RUN_HISTORY],
        "run_count": Run.objects.filter(job=job).count(),
        "chart": duration_chart(runs),
        "failures": [
            {"run": r, "message": r.error_message or ((r.facets or {}).get("errorMessage") or {}).get("message", "")}
            for r in failures[:10]
        ],
        "source_code": source_code.get("sourceCode", ""),
        "source_language": source_code.get("language", ""),
        "lineage_url": lineage_url("job", ns, name),
        "dag_lineage_url": lineage_url("job", ns, name, group="dag"),
        "impact_url": impact_url("job", ns, name),
    }


# --- Impact ----------------------------------------------------------------------------------------------


def impact(*, user, ref: NodeRef, as_of: datetime | None = None) -> dict[str, Any]:
    """The impact API's answer for the page (the same walk and the same presenter)."""
    visible = visible_namespace_ids(user)
    subgraph, _ = traversal.walk(
        traversal.Query(
            start=(ref.kind, ref.node.pk),
            depth=100,
            direction=DOWN,
            as_of=as_of,
            visible_namespaces=frozenset(visible) if visible is not None else None,
        )
    )
    return shapes.impact(ref, subgraph, visible=visible)


def _split_id(text: str, *, namespaces: set[str]) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of a node id, split at the longest of `namespaces` (ids of this answer)."""
    kind, _, rest = text.partition(":")
    for candidate in sorted(namespaces, key=len, reverse=True):
        if rest.startswith(candidate + ":"):
            return kind, candidate, rest[len(candidate) + 1 :]
    return None


def impact_page(*, user, ref: NodeRef) -> dict[str, Any]:
    answer = impact(user=user, ref=ref)
    # Ids in the answer name visible nodes only; split them at the namespaces the user may read.
    namespaces = set(visible_namespaces(user).values_list("name", flat=True))

    def link(text: str | None) -> dict[str, str] | None:
        if not text:
            return None
        kind, _, _ = text.partition(":")
        if kind == shapes.RESTRICTED:
            hidden_kind = text.split(":")[1]
            return {"id": text, "label": HIDDEN.get(hidden_kind, HIDDEN["job"]), "url": ""}
        parts = _split_id(text, namespaces=namespaces)
        if parts is None:
            return {"id": text, "label": text, "url": ""}
        kind, namespace, name = parts
        return {"id": text, "label": name, "namespace": namespace, "url": node_url(kind, namespace, name)}

    dags = [
        {
            "dag": link(group["dag"]),
            "jobs": [{**job, "link": link(job["id"])} for job in group["jobs"]],
        }
        for group in answer["dags"]
    ]
    datasets = [{**d, "url": dataset_url(d["namespace"], d["name"])} for d in answer["datasets"]]
    owners = [
        {"name": owner["name"], "items": [link(item) for item in [*owner.get("datasets", []), *owner.get("jobs", [])]]}
        for owner in answer["owners"]
    ]
    critical = [{**c, "link": link(c["id"]), "dag_link": link(c["dag"])} for c in answer["criticalTransformations"]]
    label = f"{ref.kind} {ref.node.name} ({ref.node.namespace.name})"
    return {
        "ref": ref,
        "node_id": ref.node_id,
        "answer": answer,
        "summary": answer["summary"],
        "dags": dags,
        "datasets": datasets,
        "owners": owners,
        "critical": critical,
        "recommendations": answer["recommendations"],
        "notification": notification_text(
            label=label, summary=answer["summary"], owners=owners, advice=answer["recommendations"]
        ),
        "page_url": node_url(ref.kind, ref.node.namespace.name, ref.node.name),
    }


def notification_text(*, label: str, summary: dict, owners: list[dict], advice: list[str]) -> str:
    """A plain-text message a steward can paste into e-mail or chat to warn the owners downstream."""
    lines = [
        f"Heads-up: a change to {label} is planned.",
        f"Downstream it reaches {summary['datasets']} dataset(s) and {summary['jobs']} job(s) in {summary['dags']} "
        f"DAG(s), up to {summary['hops']} transformation(s) away.",
    ]
    if owners:
        lines += ["", "What each owner has downstream:"]
        for owner in owners:
            names = [
                f"{item['label']} ({item['namespace']})" if item.get("namespace") else item["label"]
                for item in owner["items"]
            ]
            lines.append(f"- {owner['name']}: {', '.join(names)}")
    lines += ["", "Recommendations:", *(f"- {line}" for line in advice)]
    return "\n".join(lines)
