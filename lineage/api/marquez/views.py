"""The Marquez-compatible read endpoints: check the parameters, call one selector, answer its JSON.

Errors are Marquez's: `{"code": 404, "message": "Dataset 'x' not found."}`, and `{"code": 400, "message": ...,
"parameter": "limit"}` for a bad parameter (Marquez answers those with Dropwizard's `{"errors": [...]}`; naming
the parameter is more use to a script).
"""

import re
import time

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.params import BadParameter
from governance.observability import LINEAGE_QUERY_LATENCY
from governance.openapi import READ_ERRORS, errors, typed
from governance.permissions import LINEAGE_READ_TOKENS
from governance.roles import READ_LINEAGE
from lineage.api.marquez import params, selectors
from lineage.models import RunState
from lineage.read import identity, visible
from lineage.read.identity import NodeNotFound

TAGS = ["Marquez-compatible reads"]
SECTIONS = ("/datasets", "/jobs")
FIRST_SECTION = re.compile(r"/(?:datasets|jobs)(?=/|$)")

PATH_SEGMENTS = r"^[^\n]+$"  # what the routes' `path` converter takes
NAMESPACE = OpenApiParameter(
    "namespace",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=PATH_SEGMENTS,
    description="The namespace, URL-encoded: namespaces contain `:` and `/` (`postgres%3A%2F%2Fdb%3A5432`).",
)
DATASET = OpenApiParameter(
    "dataset",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=PATH_SEGMENTS,
    description="The dataset's name, URL-encoded.",
)
JOB = OpenApiParameter(
    "job", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=PATH_SEGMENTS, description="The job's name, URL-encoded."
)
VERSION = OpenApiParameter(
    "version", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A version of the dataset (`currentVersion`)."
)
RUN_ID = OpenApiParameter(
    "id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=PATH_SEGMENTS,
    description="The run's `runId` (a UUID from most producers).",
)
LIMIT = OpenApiParameter(
    "limit",
    OpenApiTypes.INT,
    description=f"How many results to return from `offset`: 0 to {params.MAX_LIMIT}, default {params.DEFAULT_LIMIT}.",
)
OFFSET = OpenApiParameter("offset", OpenApiTypes.INT, description="How many results to skip, default 0.")
PAGE = [LIMIT, OFFSET]
LAST_RUN_STATES = OpenApiParameter(
    "lastRunStates",
    OpenApiTypes.STR,
    enum=RunState.values,
    many=True,
    explode=True,
    description="Only jobs whose latest run is in one of these states (repeat the parameter), and jobs that never "
    "ran. Default: every job.",
)


def responses(schema: str, ok: str, *, not_found: str | None = None) -> dict:
    answers = {
        200: typed(schema, ok),
        **errors(
            *READ_ERRORS,
            e400="A bad parameter: `{code, message, parameter}` names it.",
            e403="The user may not read lineage.",
        ),
    }
    if not_found:
        answers.update(errors(404, e404=f"`{{code, message}}`: {not_found}"))
    return answers


class MarquezView(APIView):
    endpoint = "marquez"
    required_permissions = {"GET": [READ_LINEAGE]}
    token_scopes = LINEAGE_READ_TOKENS

    def dispatch(self, request, *args, **kwargs):
        started = time.perf_counter()
        response = super().dispatch(request, *args, **kwargs)
        LINEAGE_QUERY_LATENCY.labels(endpoint=self.endpoint).observe(time.perf_counter() - started)
        return response

    def handle_exception(self, exc):
        if isinstance(exc, NodeNotFound):
            return self.error(404, str(exc))
        if isinstance(exc, BadParameter):
            return self.error(400, f"{exc.parameter} {exc.message}", parameter=exc.parameter)
        return super().handle_exception(exc)

    def error(self, status: int, message: str, **extra) -> Response:
        body = {"code": status, "message": message, **extra}
        request_id = getattr(self.request, "request_id", None)
        if request_id:
            body["requestId"] = request_id
        return Response(body, status=status)


class NamespaceListView(MarquezView):
    endpoint = "marquez_namespaces"

    @extend_schema(
        operation_id="getNamespaces",
        summary="List namespaces",
        parameters=PAGE,
        responses=responses("NamespaceList", "`{namespaces: [Namespace], totalCount}`, by name."),
        tags=TAGS,
    )
    def get(self, request):
        limit, offset = params.page(request.query_params)
        return Response(selectors.namespace_page(user=request.user, limit=limit, offset=offset))


class NamespaceView(MarquezView):
    endpoint = "marquez_namespace"

    @extend_schema(
        operation_id="getNamespace",
        summary="Get a namespace",
        parameters=[NAMESPACE],
        responses=responses(
            "Namespace",
            "A Namespace: name, createdAt, updatedAt, ownerName, description, isHidden.",
            not_found="no such namespace.",
        ),
        tags=TAGS,
    )
    def get(self, request, namespace):
        return Response(selectors.namespace_detail(user=request.user, name=namespace))


class DatasetListView(MarquezView):
    endpoint = "marquez_datasets"

    @extend_schema(
        operation_id="getDatasets",
        summary="List the datasets of a namespace",
        parameters=[NAMESPACE, *PAGE],
        responses=responses(
            "DatasetList", "`{datasets: [Dataset], totalCount}`, by name.", not_found="no such namespace."
        ),
        tags=TAGS,
    )
    def get(self, request, namespace):
        limit, offset = params.page(request.query_params)
        return Response(selectors.dataset_page(user=request.user, namespace=namespace, limit=limit, offset=offset))


class DatasetView(MarquezView):
    endpoint = "marquez_dataset"

    @extend_schema(
        operation_id="getDataset",
        summary="Get a dataset",
        parameters=[NAMESPACE, DATASET],
        responses=responses(
            "Dataset",
            "A Dataset: id, type, name, physicalName, times, sourceName, fields, tags, lastModifiedAt, "
            "lastLifecycleState, description, currentVersion, columnLineage, facets, deleted; and Tributary's "
            "nodeId, datasetType, sourceUri, owners, symlinks.",
            not_found="no such namespace or dataset.",
        ),
        tags=TAGS,
    )
    def get(self, request, namespace, dataset):
        return Response(selectors.dataset_detail(user=request.user, namespace=namespace, name=dataset))


class DatasetVersionListView(MarquezView):
    endpoint = "marquez_dataset_versions"

    @extend_schema(
        operation_id="getDatasetVersions",
        summary="List the versions of a dataset",
        parameters=[NAMESPACE, DATASET, *PAGE],
        responses=responses(
            "DatasetVersionList",
            "`{versions: [DatasetVersion], totalCount}`, newest first; a version per run that wrote the dataset "
            "and per DatasetEvent, with the run that created it.",
            not_found="no such namespace or dataset.",
        ),
        tags=TAGS,
    )
    def get(self, request, namespace, dataset):
        limit, offset = params.page(request.query_params)
        return Response(
            selectors.dataset_version_page(
                user=request.user, namespace=namespace, name=dataset, limit=limit, offset=offset
            )
        )


class DatasetVersionView(MarquezView):
    endpoint = "marquez_dataset_version"

    @extend_schema(
        operation_id="getDatasetVersion",
        summary="Get a version of a dataset",
        parameters=[NAMESPACE, DATASET, VERSION],
        responses=responses("DatasetVersion", "A DatasetVersion.", not_found="no such namespace, dataset or version."),
        tags=TAGS,
    )
    def get(self, request, namespace, dataset, version):
        return Response(
            selectors.dataset_version_detail(user=request.user, namespace=namespace, name=dataset, version=version)
        )


class JobListView(MarquezView):
    endpoint = "marquez_jobs"

    @extend_schema(
        operation_id="getJobs",
        summary="List the jobs of a namespace",
        parameters=[NAMESPACE, LAST_RUN_STATES, *PAGE],
        responses=responses(
            "JobList", "`{jobs: [Job], totalCount}`, most recently updated first.", not_found="no such namespace."
        ),
        tags=TAGS,
    )
    def get(self, request, namespace=None):
        limit, offset = params.page(request.query_params)
        states = params.choices(request.query_params, "lastRunStates", set(RunState.values))
        return Response(
            selectors.job_page(
                user=request.user, namespace=namespace, limit=limit, offset=offset, last_run_states=states
            )
        )


class AllJobListView(JobListView):
    endpoint = "marquez_all_jobs"

    @extend_schema(
        operation_id="getAllJobs",
        summary="List the jobs of every namespace",
        parameters=[LAST_RUN_STATES, *PAGE],
        responses=responses("JobList", "`{jobs: [Job], totalCount}`, most recently updated first."),
        tags=TAGS,
    )
    def get(self, request):
        return super().get(request)


class JobView(MarquezView):
    endpoint = "marquez_job"

    @extend_schema(
        operation_id="getJob",
        summary="Get a job",
        parameters=[NAMESPACE, JOB],
        responses=responses(
            "Job",
            "A Job: id, type, name, simpleName, parentJobName, times, inputs and outputs (of the latest run), "
            "location, description, latestRun, latestRuns (10), facets, currentVersion, labels, tags; and "
            "Tributary's nodeId, jobType, integration, parent, dag (the Airflow DAG it belongs to), owners.",
            not_found="no such namespace or job.",
        ),
        tags=TAGS,
    )
    def get(self, request, namespace, job):
        return Response(selectors.job_detail(user=request.user, namespace=namespace, name=job))


class JobRunListView(MarquezView):
    endpoint = "marquez_job_runs"

    @extend_schema(
        operation_id="getRuns",
        summary="List the runs of a job",
        parameters=[NAMESPACE, JOB, *PAGE],
        responses=responses(
            "RunList", "`{runs: [Run], totalCount}`, newest first.", not_found="no such namespace or job."
        ),
        tags=TAGS,
    )
    def get(self, request, namespace, job):
        limit, offset = params.page(request.query_params)
        return Response(
            selectors.job_run_page(user=request.user, namespace=namespace, name=job, limit=limit, offset=offset)
        )


class RunView(MarquezView):
    endpoint = "marquez_run"

    @extend_schema(
        operation_id="getRun",
        summary="Get a run",
        parameters=[RUN_ID],
        responses=responses(
            "Run",
            "A Run: id, times, state, durationMs, args, jobVersion, inputDatasetVersions, outputDatasetVersions, "
            "facets; and Tributary's job and parentRunId.",
            not_found="no such run.",
        ),
        tags=TAGS,
    )
    def get(self, request, id):
        return Response(selectors.run_detail(user=request.user, run_id=id))


class RunFacetsView(MarquezView):
    endpoint = "marquez_run_facets"

    @extend_schema(
        operation_id="getRunFacets",
        summary="Get the facets of a run, or of its job",
        parameters=[
            RUN_ID,
            OpenApiParameter("type", OpenApiTypes.STR, enum=["run", "job"], required=True, description="Whose facets."),
        ],
        responses=responses("RunFacets", "`{runId, facets}`.", not_found="no such run."),
        tags=TAGS,
    )
    def get(self, request, id):
        kind = params.choice(request.query_params, "type", {"run": "run", "job": "job"}, default=None)
        if kind is None:
            raise BadParameter("type", "is required: run or job")
        return Response(selectors.run_facets(user=request.user, run_id=id, kind=kind))


class SearchView(MarquezView):
    endpoint = "marquez_search"
    FILTERS = {"dataset": "DATASET", "job": "JOB"}
    SORTS = {"name": "name", "updated_at": "updated_at", "update_at": "updated_at", "updatedat": "updated_at"}

    @extend_schema(
        operation_id="search",
        summary="Search datasets and jobs by name",
        parameters=[
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                required=True,
                description="Text to find in names, case-insensitive; `%` matches any text and `_` one character.",
            ),
            OpenApiParameter("filter", OpenApiTypes.STR, enum=["dataset", "job"], description="Only datasets or jobs."),
            OpenApiParameter(
                "sort",
                OpenApiTypes.STR,
                enum=["name", "updated_at"],
                description="`name` (default) or `updated_at` (most recent first).",
            ),
            OpenApiParameter(
                "limit", OpenApiTypes.INT, description=f"0 to {params.MAX_LIMIT}, default 10 (Marquez's default)."
            ),
            OFFSET,
            OpenApiParameter("namespace", OpenApiTypes.STR, description="Only this namespace."),
            OpenApiParameter("before", OpenApiTypes.DATE, description="Only updated before this day (YYYY-MM-DD)."),
            OpenApiParameter("after", OpenApiTypes.DATE, description="Only updated after this day (YYYY-MM-DD)."),
        ],
        responses=responses("SearchResults", "`{totalCount, results: [{type, name, updatedAt, namespace, nodeId}]}`."),
        tags=TAGS,
    )
    def get(self, request):
        query = request.query_params
        limit, offset = params.page(query, default_limit=10)
        return Response(
            selectors.search(
                user=request.user,
                q=params.text(query, "q", required=True),
                kind=params.choice(query, "filter", self.FILTERS, default=None),
                sort=params.choice(query, "sort", self.SORTS, default="name"),
                limit=limit,
                offset=offset,
                namespace=params.text(query, "namespace"),
                before=params.day(query, "before"),
                after=params.day(query, "after"),
            )
        )


class LineageEventListView(MarquezView):
    endpoint = "marquez_events"

    @extend_schema(
        operation_id="getLineageEvents",
        summary="List received OpenLineage run events, verbatim",
        parameters=[
            OpenApiParameter(
                "before", OpenApiTypes.DATETIME, description="Only events with an eventTime before this time."
            ),
            OpenApiParameter(
                "after", OpenApiTypes.DATETIME, description="Only events with an eventTime at or after this time."
            ),
            OpenApiParameter(
                "sortDirection",
                OpenApiTypes.STR,
                enum=["desc", "asc"],
                description="By eventTime, `desc` (default) or `asc`.",
            ),
            *PAGE,
        ],
        responses=responses("LineageEvents", "`{events: [RunEvent as received], totalCount}`."),
        tags=TAGS,
    )
    def get(self, request):
        query = request.query_params
        limit, offset = params.page(query)
        direction = params.choice(query, "sortDirection", {"desc": "desc", "asc": "asc"}, default="desc")
        bodies, total = selectors.lineage_events(
            user=request.user,
            before=params.moment(query, "before"),
            after=params.moment(query, "after"),
            descending=direction == "desc",
            limit=limit,
            offset=offset,
        )
        # The stored texts are spliced in as they are: verbatim, and no parse-and-dump of large pages.
        content = b'{"events":[' + b",".join(body.encode() for body in bodies) + b'],"totalCount":%d}' % total
        return HttpResponse(content, content_type="application/json")


class NamespacePathView(MarquezView):
    """Everything under /namespaces/<namespace>/, routed here because a namespace may contain `/`.

    WSGI servers decode `%2F` before Django sees the path, so `postgres://db:5432/datasets/orders` can only be
    split by the namespaces that exist: the longest one followed by the end, `/datasets` or `/jobs`.
    """

    @extend_schema(exclude=True)
    def get(self, request, path):
        view, kwargs = route(path, user=request.user)
        self.endpoint = view.endpoint
        return view().get(request, **kwargs)


def route(path: str, *, user) -> tuple[type[MarquezView], dict[str, str]]:
    """The view and arguments a path under /namespaces/ names."""
    split = identity.split_namespace_path(path, user=user, sections=SECTIONS)
    if split is None:
        # Cut at the first section, whether or not the namespace exists but is hidden, so the 404 says the same.
        return NamespaceView, {"namespace": FIRST_SECTION.split(path, maxsplit=1)[0]}
    namespace, rest = split
    if rest == "":
        return NamespaceView, {"namespace": namespace.name}
    if rest == "/datasets":
        return DatasetListView, {"namespace": namespace.name}
    if rest == "/jobs":
        return JobListView, {"namespace": namespace.name}
    if rest.startswith("/datasets/"):
        name = rest[len("/datasets/") :]
        readings = [(DatasetView, {"dataset": name})]
        if name.endswith("/versions"):
            readings.append((DatasetVersionListView, {"dataset": name.removesuffix("/versions")}))
        head, found, version = name.rpartition("/versions/")
        if found and version and "/" not in version:
            readings.append((DatasetVersionView, {"dataset": head, "version": version}))
        view, kwargs = _existing(readings, "dataset", visible.visible_datasets(user).filter(namespace=namespace))
    else:
        name = rest[len("/jobs/") :]
        readings = [(JobView, {"job": name})]
        if name.endswith("/runs"):
            readings.append((JobRunListView, {"job": name.removesuffix("/runs")}))
        view, kwargs = _existing(readings, "job", visible.visible_jobs(user).filter(namespace=namespace))
    return view, {"namespace": namespace.name, **kwargs}


def _existing(readings: list, key: str, candidates) -> tuple[type[MarquezView], dict[str, str]]:
    """The first reading whose dataset or job exists (names may end in `/versions` or `/runs` themselves), else the
    most specific one, so that its 404 names what the client most likely meant."""
    if len(readings) == 1:
        return readings[0]
    existing = set(candidates.filter(name__in=[kwargs[key] for _, kwargs in readings]).values_list("name", flat=True))
    for view, kwargs in readings:
        if kwargs[key] in existing:
            return view, kwargs
    return readings[-1]
