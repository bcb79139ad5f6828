"""The read queries behind the Marquez endpoints.

Every listing runs a fixed number of queries whatever its length: the latest run, current version and last
modification of each row come from correlated subqueries on indexed columns, and runs, their datasets and column
lineage are loaded for the whole page at once. Everything goes through `lineage.read.identity`' visibility filters, so
an object in a namespace the user may not read is answered like one that does not exist; and the facets and raw
events shown go through the answer's `Redaction`, so those naming such objects name placeholders instead.
"""

import re
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time
from typing import Any

import orjson
from django.db.models import Case, CharField, F, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from governance.models import Namespace
from lineage.api.marquez import shapes
from lineage.models import ColumnLineage, Dataset, DatasetVersion, Direction, Job, JobEdge, RawEvent, Run, RunDataset
from lineage.models import RunState as State
from lineage.openlineage import dataset_version_id
from lineage.read import visible as base
from lineage.read.identity import NodeNotFound
from lineage.read.shapes import Redaction, redaction_for

LATEST_RUNS = 10  # runs in a job's `latestRuns`, as Marquez
# Columns of a job that is only named (a run's job, a job's parent or DAG): not loaded.
JOB_DETAILS = ("facets", "facet_stamps", "parent_stamp", "sql", "description", "owners", "tags")


def _redaction(user) -> Redaction:
    """What the user's answers redact: names of the namespaces they may not see (worked out once per request)."""
    cached = getattr(user, "_tributary_redaction", None)
    if cached is None:
        cached = user._tributary_redaction = redaction_for(base.visible_namespace_ids(user))
    return cached


def _page(queryset: QuerySet, limit: int, offset: int) -> list:
    return list(queryset[offset : offset + limit]) if limit else []


def _page_by_key(queryset: QuerySet, order: tuple[str, ...], limit: int, offset: int, load) -> list:
    """The rows of a page, found by key first, so that the subqueries and wide columns `load` adds are computed
    for the page's rows only, not for the `offset` rows before it."""
    keys = _page(queryset.order_by(*order).values_list("pk", flat=True), limit, offset)
    rows = {row.pk: row for row in load(queryset.model.objects.filter(pk__in=keys))} if keys else {}
    return [rows[key] for key in keys]


# --- Namespaces ------------------------------------------------------------------------------------------


def namespace_or_404(*, user, name: str) -> Namespace:
    row = base.visible_namespaces(user).filter(name=name).first()
    if row is None:
        raise NodeNotFound(f"Namespace '{name}' not found.")
    return row


def namespace_page(*, user, limit: int, offset: int) -> dict[str, Any]:
    namespaces = base.visible_namespaces(user)
    rows = _page(namespaces.order_by("name"), limit, offset)
    return {"namespaces": [shapes.namespace(row) for row in rows], "totalCount": namespaces.count()}


def namespace_detail(*, user, name: str) -> dict[str, Any]:
    return shapes.namespace(namespace_or_404(user=user, name=name))


# --- Runs ------------------------------------------------------------------------------------------------


def _runs(queryset: QuerySet) -> QuerySet:
    return queryset.select_related("job__namespace", "job_version").defer(
        "facet_stamps",
        "state_key",
        "job_stamp",
        "error_message",
        "job_version__inputs",
        "job_version__outputs",
        *(f"job__{name}" for name in JOB_DETAILS),
    )


def _runs_json(runs: list[Run], *, user) -> list[dict[str, Any]]:
    """Marquez Run shapes of `runs`, with the dataset versions each read and wrote, in one query."""
    if not runs:
        return []
    # The version an input was read at: the dataset's latest version when the run first mentioned it, other
    # than one the run wrote itself. Inputs never written or declared anywhere have none.
    read_version = (
        DatasetVersion.objects.filter(dataset_id=OuterRef("dataset_id"), created_at__lte=OuterRef("created_at"))
        .exclude(run_id=OuterRef("run_id"))
        .order_by("-created_at", "-pk")
        .values("version")[:1]
    )
    uses = (
        base.filter_visible(RunDataset.objects.filter(run_id__in=[r.pk for r in runs]), user, "dataset__namespace_id")
        .annotate(read_version=Case(When(direction=Direction.INPUT, then=Subquery(read_version)), default=None))
        .order_by("run_id", "dataset__namespace__name", "dataset__name")
        .values_list("run_id", "direction", "dataset__namespace__name", "dataset__name", "facets", "read_version")
    )
    run_ids = {r.pk: r.run_id for r in runs}
    io = defaultdict(list)
    for run_pk, direction, namespace_name, name, io_facets, read in uses:
        if direction == Direction.OUTPUT:
            # The version a run writes is named by the run (lineage.derive.fold), so it needs no lookup.
            version = str(dataset_version_id(namespace_name, name, run_ids[run_pk]))
        else:
            version = str(read) if read else None
        io[run_pk].append((direction, namespace_name, name, version, shapes.live_facets(io_facets)))
    redaction = _redaction(user)
    return [shapes.run(run, io=io[run.pk], redaction=redaction) for run in runs]


def run_or_404(*, user, run_id: str) -> Run:
    run = _runs(base.visible_runs(user)).filter(run_id=run_id).first()
    if run is None:
        raise NodeNotFound(f"Run '{run_id}' not found.")
    return run


def run_detail(*, user, run_id: str) -> dict[str, Any]:
    return _runs_json([run_or_404(user=user, run_id=run_id)], user=user)[0]


def run_facets(*, user, run_id: str, kind: str) -> dict[str, Any]:
    """Marquez's facets of a run: the run's own, or its job's (`kind` job)."""
    run = run_or_404(user=user, run_id=run_id)
    facets = run.job.facets if kind == "job" else run.facets
    return {"runId": run.run_id, "facets": _redaction(user).facets(shapes.live_facets(facets))}


# --- Datasets --------------------------------------------------------------------------------------------


def _with_versions(datasets: QuerySet) -> QuerySet:
    versions = DatasetVersion.objects.filter(dataset_id=OuterRef("pk")).order_by("-created_at", "-pk")
    return datasets.defer("facet_stamps").annotate(
        current_version=Subquery(versions.values("version")[:1]),
        # Marquez: when a run that wrote the dataset last completed.
        last_modified_at=Subquery(versions.filter(run__state=State.COMPLETED).values("run__ended_at")[:1]),
    )


def _column_lineage(datasets: list[Dataset], *, user) -> dict[int, list[dict[str, Any]]]:
    rows = (
        base.filter_visible(
            ColumnLineage.objects.filter(output_dataset_id__in=[d.pk for d in datasets]).exclude(output_field=""),
            user,
            "input_dataset__namespace_id",
        )
        .order_by("output_dataset_id", "output_field", "input_dataset__namespace__name", "input_dataset__name")
        .values_list(
            "output_dataset_id",
            "output_field",
            "input_dataset__namespace__name",
            "input_dataset__name",
            "input_field",
            "transformations",
        )
    )
    by_dataset = defaultdict(list)
    for dataset_pk, *row in rows:
        by_dataset[dataset_pk].append(row)
    return {pk: shapes.column_lineage(rows) for pk, rows in by_dataset.items()}


def _datasets_json(rows: list[Dataset], *, namespace_name: str, user) -> list[dict[str, Any]]:
    lineage = _column_lineage(rows, user=user)
    redaction = _redaction(user)
    return [
        shapes.dataset(
            row,
            namespace_name=namespace_name,
            current_version=row.current_version,
            last_modified_at=row.last_modified_at,
            lineage=lineage.get(row.pk),
            redaction=redaction,
        )
        for row in rows
    ]


def dataset_page(*, user, namespace: str, limit: int, offset: int) -> dict[str, Any]:
    ns = namespace_or_404(user=user, name=namespace)
    datasets = Dataset.objects.filter(namespace=ns)
    rows = _page_by_key(datasets, ("name",), limit, offset, _with_versions)
    return {"datasets": _datasets_json(rows, namespace_name=ns.name, user=user), "totalCount": datasets.count()}


def dataset_or_404(*, user, namespace: str, name: str) -> Dataset:
    ns = namespace_or_404(user=user, name=namespace)
    row = _with_versions(Dataset.objects.filter(namespace=ns, name=name)).first()
    if row is None:
        raise NodeNotFound(f"Dataset '{name}' not found.")
    row.namespace = ns
    return row


def dataset_detail(*, user, namespace: str, name: str) -> dict[str, Any]:
    row = dataset_or_404(user=user, namespace=namespace, name=name)
    return _datasets_json([row], namespace_name=row.namespace.name, user=user)[0]


def _versions_json(versions: list[DatasetVersion], dataset: Dataset, *, user) -> list[dict[str, Any]]:
    runs = list(_runs(base.visible_runs(user).filter(pk__in=[v.run_id for v in versions if v.run_id])))
    created_by = dict(zip((run.pk for run in runs), _runs_json(runs, user=user), strict=True))
    return [
        shapes.dataset_version(
            version,
            dataset_row=dataset,
            namespace_name=dataset.namespace.name,
            created_by_run=created_by.get(version.run_id),
            redaction=_redaction(user),
        )
        for version in versions
    ]


def dataset_version_page(*, user, namespace: str, name: str, limit: int, offset: int) -> dict[str, Any]:
    dataset = dataset_or_404(user=user, namespace=namespace, name=name)
    versions = DatasetVersion.objects.filter(dataset=dataset)
    rows = _page(versions.order_by("-created_at", "-pk"), limit, offset)
    return {"versions": _versions_json(rows, dataset, user=user), "totalCount": versions.count()}


def dataset_version_detail(*, user, namespace: str, name: str, version: str) -> dict[str, Any]:
    dataset = dataset_or_404(user=user, namespace=namespace, name=name)
    try:
        row = DatasetVersion.objects.filter(dataset=dataset, version=uuid.UUID(version)).first()
    except ValueError:
        row = None
    if row is None:
        raise NodeNotFound(f"Dataset version '{version}' not found.")
    return _versions_json([row], dataset, user=user)[0]


# --- Jobs ------------------------------------------------------------------------------------------------


def _jobs(queryset: QuerySet) -> QuerySet:
    named = [f"{job}__{name}" for job in ("parent", "dag") for name in JOB_DETAILS]
    return queryset.select_related("namespace", "parent__namespace", "dag__namespace").defer(
        "facet_stamps", "parent_stamp", "sql", *named
    )


def _latest_run() -> QuerySet:
    """A job's runs, newest first: the order of `latestRun` and of the runs listing."""
    return Run.objects.filter(job_id=OuterRef("pk")).order_by("-created_at", "-pk")


def _jobs_json(jobs: list[Job], latest_runs: dict[int, list[Run]], *, user, with_latest_runs: bool) -> list[dict]:
    """Marquez Job shapes. A job's inputs and outputs are those of its latest run, as in Marquez; a job that never
    ran (declared by a JobEvent) has those of its edges."""
    runs = [run for job_runs in latest_runs.values() for run in job_runs]
    run_shapes = dict(zip((r.pk for r in runs), _runs_json(runs, user=user), strict=True))
    never_ran = [job.pk for job in jobs if not latest_runs.get(job.pk)]
    edges = defaultdict(lambda: {"in": [], "out": []})
    if never_ran:
        for job_pk, direction, namespace_name, name in (
            base.filter_visible(JobEdge.objects.filter(job_id__in=never_ran), user, "dataset__namespace_id")
            .order_by("job_id", "dataset__namespace__name", "dataset__name")
            .values_list("job_id", "direction", "dataset__namespace__name", "dataset__name")
        ):
            edges[job_pk][direction].append(shapes.dataset_id(namespace_name, name))
    result = []
    redaction = _redaction(user)
    for job in jobs:
        job_runs = [run_shapes[run.pk] for run in latest_runs.get(job.pk, [])]
        if job_runs:
            latest = job_runs[0]
            inputs = [_without_version(v) for v in latest["inputDatasetVersions"]]
            outputs = [_without_version(v) for v in latest["outputDatasetVersions"]]
        else:
            inputs, outputs = edges[job.pk]["in"], edges[job.pk]["out"]
        result.append(
            shapes.job(
                job,
                latest_runs=job_runs,
                inputs=inputs,
                outputs=outputs,
                with_latest_runs=with_latest_runs,
                redaction=redaction,
            )
        )
    return result


def _without_version(version: dict[str, Any]) -> dict[str, str]:
    return shapes.dataset_id(version["datasetVersionId"]["namespace"], version["datasetVersionId"]["name"])


def job_page(
    *, user, namespace: str | None, limit: int, offset: int, last_run_states: list[str] | None = None
) -> dict[str, Any]:
    """Jobs of a namespace, or of every namespace the user may read, most recently updated first (Marquez)."""
    if namespace is None:
        jobs = base.visible_jobs(user)
    else:
        jobs = Job.objects.filter(namespace=namespace_or_404(user=user, name=namespace))
    if last_run_states:
        # As Marquez: jobs whose latest run is in one of the states, and jobs that never ran ("").
        latest_state = Coalesce(Subquery(_latest_run().values("state")[:1]), Value(""))
        jobs = jobs.annotate(latest_state=latest_state).filter(latest_state__in=[*last_run_states, ""])
    rows = _page_by_key(
        jobs,
        ("-updated_at", "-pk"),
        limit,
        offset,
        lambda page: _jobs(page).annotate(latest_run_pk=Subquery(_latest_run().values("pk")[:1])),
    )
    latest = {run.job_id: [run] for run in _runs(Run.objects.filter(pk__in=[j.latest_run_pk for j in rows]))}
    return {"jobs": _jobs_json(rows, latest, user=user, with_latest_runs=False), "totalCount": jobs.count()}


def job_or_404(*, user, namespace: str, name: str) -> Job:
    ns = namespace_or_404(user=user, name=namespace)
    row = _jobs(Job.objects.filter(namespace=ns, name=name)).first()
    if row is None:
        raise NodeNotFound(f"Job '{name}' not found.")
    return row


def job_detail(*, user, namespace: str, name: str) -> dict[str, Any]:
    job = job_or_404(user=user, namespace=namespace, name=name)
    runs = list(_runs(Run.objects.filter(job=job)).order_by("-created_at", "-pk")[:LATEST_RUNS])
    return _jobs_json([job], {job.pk: runs}, user=user, with_latest_runs=True)[0]


def job_run_page(*, user, namespace: str, name: str, limit: int, offset: int) -> dict[str, Any]:
    job = job_or_404(user=user, namespace=namespace, name=name)
    runs = Run.objects.filter(job=job)
    rows = _page(_runs(runs).order_by("-created_at", "-pk"), limit, offset)
    return {"runs": _runs_json(rows, user=user), "totalCount": runs.count()}


# --- Search and events -----------------------------------------------------------------------------------


def like_to_regex(pattern: str) -> str:
    """Marquez matches `q` with ILIKE '%q%': `%` is any text and `_` any one character, the rest is literal."""
    return "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def search(
    *,
    user,
    q: str,
    kind: str | None,
    sort: str,
    limit: int,
    offset: int,
    namespace: str | None = None,
    before: date | None = None,
    after: date | None = None,
) -> dict[str, Any]:
    """Datasets and jobs whose name matches `q` (case-insensitive), by name or most recently updated first."""

    def matching(queryset: QuerySet, label: str) -> QuerySet:
        queryset = queryset.filter(name__iregex=like_to_regex(q))
        if namespace:
            queryset = queryset.filter(namespace__name=namespace)
        if before:
            queryset = queryset.filter(updated_at__lt=_midnight(before))
        if after:
            queryset = queryset.filter(updated_at__gt=_midnight(after))
        return (
            queryset.annotate(kind=Value(label, output_field=CharField()), namespace_name=F("namespace__name"))
            .values_list("kind", "name", "updated_at", "namespace_name")
            .order_by()
        )

    parts = []
    if kind in (None, "DATASET"):
        parts.append(matching(base.visible_datasets(user), "DATASET"))
    if kind in (None, "JOB"):
        parts.append(matching(base.visible_jobs(user), "JOB"))
    results = parts[0].union(*parts[1:], all=True)
    order = ("name", "namespace_name", "kind") if sort == "name" else ("-updated_at", "name", "namespace_name", "kind")
    rows = _page(results.order_by(*order), limit, offset)
    return {"totalCount": results.count(), "results": [shapes.search_result(*row) for row in rows]}


def lineage_events(
    *, user, before: datetime | None, after: datetime | None, descending: bool, limit: int, offset: int
) -> tuple[list[str], int]:
    """The JSON text of run events as received, by event time, and how many match.

    As Marquez, only RunEvents: its clients (the web UI's events page) read `run` and `job` from every event.
    A reader narrowed to some namespaces gets each event with what it names of the others redacted (its job is
    theirs, but its inputs, outputs and facets may name any namespace); everyone else gets the text verbatim.
    """
    events = base.visible_raw_events(user).filter(kind=RawEvent.Kind.RUN)
    if before is not None:
        events = events.filter(event_time__lt=before)
    if after is not None:
        events = events.filter(event_time__gte=after)
    order = ("-event_time", "-pk") if descending else ("event_time", "pk")
    bodies = _page(events.order_by(*order).values_list("body", flat=True), limit, offset)
    redaction = _redaction(user)
    if redaction.visible is not None:
        bodies = [orjson.dumps(redaction.event(orjson.loads(body))).decode() for body in bodies]
    return bodies, events.count()
