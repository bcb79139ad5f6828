"""The lineage read API: GET /api/v1/lineage, /column-lineage, /impact, /lineage/report and /lineage/diff."""

import time

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import params
from governance.api.params import BadParameter
from governance.api.renderers import ORJSONRenderer
from governance.observability import LINEAGE_QUERY_LATENCY
from governance.openapi import READ_ERRORS, errors, typed
from governance.permissions import LINEAGE_READ_TOKENS
from governance.roles import READ_LINEAGE
from lineage.api import openapi
from lineage.api.params import MAX_DEPTH, walk_depth, walk_direction
from lineage.ingest.views import LineageIngestView
from lineage.read import shapes, traversal
from lineage.read.graph import BOTH, DOWN, UP, walk
from lineage.read.identity import NodeNotFound, resolve_node
from lineage.read.reports import lineage_report
from lineage.read.traversal import column_expander
from lineage.read.visible import visible_namespace_ids

NODE_PARAMETERS = [
    OpenApiParameter(
        "nodeId",
        str,
        description="dataset:<namespace>:<name>, job:<namespace>:<name> or "
        "datasetField:<namespace>:<name>:<field>. Namespaces may contain colons.",
    ),
    OpenApiParameter("type", str, description="Instead of nodeId: dataset, job or datasetField."),
    OpenApiParameter("namespace", str, description="Instead of nodeId: the node's namespace."),
    OpenApiParameter("name", str, description="Instead of nodeId: the node's name."),
    OpenApiParameter("field", str, description="Instead of nodeId, for a datasetField: the field."),
]
DEPTH = OpenApiParameter("depth", int, description="Edges to follow (dataset→job→dataset is 2). Default 20, 0–100.")
DIRECTION = OpenApiParameter(
    "direction",
    str,
    enum=["upstream", "downstream", "both"],
    description="Directed walk; both = upstream ∪ downstream. Default both.",
)
AS_OF = OpenApiParameter("asOf", OpenApiTypes.DATETIME, description="Answer as the graph stood at this time.")
VIEW = OpenApiParameter(
    "view",
    str,
    enum=["cumulative", "latest"],
    description="cumulative (default): every edge seen; latest: each job's latest completed run.",
)


def _visible(request) -> set[int] | None:
    """The namespaces the reader may see (None: all), worked out once per request."""
    if not hasattr(request, "_visible_namespaces"):
        request._visible_namespaces = visible_namespace_ids(request.user)
    return request._visible_namespaces


def _node(request):
    """The requested node; one in a namespace the reader may not see is as unknown as a missing one."""
    query = request.query_params
    return resolve_node(
        node_id=query.get("nodeId"),
        type=query.get("type"),
        namespace=query.get("namespace"),
        name=query.get("name"),
        field=query.get("field"),
        visible=_visible(request),
    )


def _walk(ref, visible: set[int] | None, **query):
    """The directed subgraph around the requested node, walked only through namespaces the reader may see."""
    start = (ref.kind, ref.node.pk)
    namespaces = frozenset(visible) if visible is not None else None
    subgraph, _ = traversal.walk(traversal.Query(start=start, visible_namespaces=namespaces, **query))
    return subgraph


def _forget_renderer_context(response: Response) -> None:
    response.renderer_context = None


class ReadView(APIView):
    """Turns the read-side exceptions into 400 (naming the parameter) and 404, and times the query."""

    endpoint = "lineage"
    required_permissions = {"GET": [READ_LINEAGE]}
    token_scopes = LINEAGE_READ_TOKENS
    renderer_classes = [ORJSONRenderer]

    def handle_exception(self, exc):
        if isinstance(exc, BadParameter):
            return params.bad_parameter(exc)
        if isinstance(exc, NodeNotFound):
            return params.not_found(str(exc))
        return super().handle_exception(exc)

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        # DRF keeps the response on the view, the view is in a reference cycle with DRF's request, and the
        # response's renderer context holds the view and the response itself: an answer of thousands of nodes would
        # live on until a full garbage collection, which may be hundreds of requests away (1.4 GB after a hundred
        # 25,000-node answers). Without the cycles it goes by reference counting once it is sent.
        self.response = None
        if isinstance(response, Response):
            response.add_post_render_callback(_forget_renderer_context)
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        started = getattr(request, "_started", None)
        if started is not None:
            LINEAGE_QUERY_LATENCY.labels(endpoint=self.endpoint).observe(time.perf_counter() - started)
        return super().finalize_response(request, response, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        request._started = time.perf_counter()
        super().initial(request, *args, **kwargs)


class LineageView(ReadView, LineageIngestView):
    """GET reads the lineage graph (session or read token); POST ingests one event (ingest token)."""

    def get_authenticators(self):
        if getattr(self.request, "method", None) == "POST":
            return []
        return [auth() for auth in ReadView.authentication_classes]

    def get_permissions(self):
        if getattr(self.request, "method", None) == "POST":
            return []
        return [permission() for permission in ReadView.permission_classes]

    def get_parsers(self):
        return []

    @extend_schema(
        operation_id="getLineage",
        summary="The directed lineage graph around a node (Marquez shape)",
        parameters=[
            *NODE_PARAMETERS,
            DEPTH,
            DIRECTION,
            AS_OF,
            VIEW,
            OpenApiParameter("group", str, enum=["dag"], description="dag: collapse Airflow tasks into their DAG."),
            OpenApiParameter(
                "limit",
                int,
                description="At most this many nodes, nearest first; the answer then says truncated and totalNodes.",
            ),
        ],
        responses={
            200: typed("LineageAnswer", "{graph: [{id, type, data, inEdges, outEdges}]}"),
            **errors(*READ_ERRORS, 404, e404="Unknown node."),
        },
        tags=["Lineage"],
    )
    def get(self, request, *args, **kwargs):
        query = request.query_params
        ref = _node(request)
        depth = walk_depth(query)
        direction = walk_direction(query)
        as_of = params.moment(query, "asOf")
        view = params.choice(query, "view", (traversal.CUMULATIVE, traversal.LATEST), traversal.CUMULATIVE)
        group = params.choice(query, "group", ("none", "dag"), "none")
        limit = params.integer(query, "limit", 0, minimum=0)
        if ref.kind == "datasetField":
            return Response(shapes.column_graph(_column_walk(request, ref, depth, direction, as_of)))
        if as_of is not None and ref.node.created_at > as_of:
            raise NodeNotFound(f"{ref.node_id} did not exist at {as_of.isoformat()}")
        visible = _visible(request)
        with traversal.collector_paused():
            subgraph = _walk(ref, visible, depth=depth, direction=direction, as_of=as_of, view=view)
            answer = shapes.lineage_graph(subgraph, group_by_dag=group == "dag", limit=limit or None, visible=visible)
            return Response(answer)

    @extend_schema(**openapi.POST_EVENT)
    def post(self, request, *args, **kwargs):
        return LineageIngestView.post(self, request, *args, **kwargs)


def _column_walk(request, ref, depth: int, direction: str, as_of):
    """Field-level lineage from one field, or from every field of a dataset; fields of datasets the reader may
    not see are neither shown nor walked through."""
    dataset_id = ref.node.pk
    if ref.kind == "datasetField":
        starts = [("field", (dataset_id, ref.field))]
    else:
        starts = [("field", (dataset_id, name)) for name in shapes.field_names(ref.node)]
    expand = column_expander(as_of=as_of, visible=_visible(request))
    result = None
    for start in starts:
        sub = walk(start, depth=depth, direction=direction, expand=expand)
        result = sub if result is None else result.merge(sub)
    return result


class ColumnLineageView(ReadView):
    endpoint = "column-lineage"

    @extend_schema(
        operation_id="getColumnLineage",
        summary="Column-level lineage from columnLineage facets (Marquez shape)",
        parameters=[
            *NODE_PARAMETERS,
            DEPTH,
            AS_OF,
            OpenApiParameter(
                "withDownstream", bool, description="Also follow fields downstream. Default false, as Marquez."
            ),
        ],
        responses={
            200: typed(
                "ColumnLineageGraph", "{graph: [{id: datasetField:..., type: DATASET_FIELD, data, inEdges, outEdges}]}"
            ),
            **errors(*READ_ERRORS, 404, e404="Unknown node."),
        },
        tags=["Lineage"],
    )
    def get(self, request, *args, **kwargs):
        query = request.query_params
        ref = _node(request)
        if ref.kind == "job":
            raise BadParameter("nodeId", "column lineage starts from a dataset or a datasetField")
        depth = walk_depth(query)
        with_downstream = params.boolean(query, "withDownstream", False)
        as_of = params.moment(query, "asOf")
        subgraph = _column_walk(request, ref, depth, BOTH if with_downstream else UP, as_of)
        return Response(shapes.column_graph(subgraph))


class ImpactView(ReadView):
    endpoint = "impact"

    @extend_schema(
        operation_id="getImpact",
        summary="What a change to a node would reach: downstream jobs by DAG, datasets and owners, critical jobs",
        parameters=[*NODE_PARAMETERS, AS_OF],
        responses={
            200: typed("Impact", "summary, dags, datasets, owners, criticalTransformations, recommendations"),
            **errors(*READ_ERRORS, 404, e404="Unknown node."),
        },
        tags=["Lineage"],
    )
    def get(self, request, *args, **kwargs):
        ref = _node(request)
        if ref.kind == "datasetField":
            raise BadParameter("nodeId", "impact starts from a dataset or a job")
        as_of = params.moment(request.query_params, "asOf")
        visible = _visible(request)
        subgraph = _walk(ref, visible, depth=MAX_DEPTH, direction=DOWN, as_of=as_of)
        return Response(shapes.impact(ref, subgraph, visible=visible))


class LineageReportView(ReadView):
    endpoint = "report"

    @extend_schema(
        operation_id="getLineageReport",
        summary="Statistics of the whole graph (cached; recomputed when lineage changes)",
        responses={
            200: typed(
                "LineageReport",
                "counts, averageConnections, criticalPaths, orphanedDatasets, "
                "maxDepth, hasCycles, weaklyConnectedComponents",
            ),
            **errors(401, 403),
        },
        tags=["Lineage"],
    )
    def get(self, request, *args, **kwargs):
        return Response(lineage_report(visible=_visible(request)))


class LineageDiffView(ReadView):
    endpoint = "diff"

    @extend_schema(
        operation_id="getLineageDiff",
        summary="Nodes and edges around a node that appeared or disappeared between two times",
        parameters=[
            *NODE_PARAMETERS,
            DEPTH,
            DIRECTION,
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=True),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Default: now."),
            OpenApiParameter(
                "view",
                str,
                enum=["latest", "cumulative"],
                description="latest (default) shows removals; cumulative only additions.",
            ),
        ],
        responses={
            200: typed("LineageDiff", "{from, to, added: {nodes, edges}, removed: {nodes, edges}}"),
            **errors(*READ_ERRORS, 404, e404="Unknown node."),
        },
        tags=["Lineage"],
    )
    def get(self, request, *args, **kwargs):
        query = request.query_params
        ref = _node(request)
        if ref.kind == "datasetField":
            raise BadParameter("nodeId", "the diff starts from a dataset or a job")
        since = params.moment(query, "from")
        if since is None:
            raise BadParameter("from", "is required")
        until = params.moment(query, "to")
        if until is not None and until < since:
            raise BadParameter("to", "must not be before from")
        view = params.choice(query, "view", (traversal.LATEST, traversal.CUMULATIVE), traversal.LATEST)
        depth, direction = walk_depth(query), walk_direction(query)
        visible = _visible(request)

        def at(moment):
            return _walk(ref, visible, depth=depth, direction=direction, as_of=moment, view=view)

        return Response(shapes.diff(at(since), at(until), since=since, until=until, visible=visible))
