"""Read-side queries shared by the API and the pages: node identity, and what a user may see."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q, QuerySet

from .graph import UP, Edge, Node
from .models import ColumnLineage, Dataset, Job, Namespace, RawEvent, Run

NODE_TYPES = {"dataset": "DATASET", "job": "JOB", "datasetField": "DATASET_FIELD"}


class NodeNotFound(LookupError):
    pass


class BadParameter(ValueError):
    def __init__(self, parameter: str, message: str):
        super().__init__(f"{parameter}: {message}")
        self.parameter, self.message = parameter, message


@dataclass(frozen=True)
class NodeRef:
    kind: str  # dataset, job or datasetField
    node: Dataset | Job
    field: str = ""

    @property
    def node_id(self) -> str:
        return node_id(self.kind, self.node.namespace.name, self.node.name, self.field)


def node_id(kind: str, namespace: str, name: str, field: str = "") -> str:
    """Marquez's node ids: dataset:<namespace>:<name>, job:<namespace>:<name>, datasetField:<ns>:<name>:<field>."""
    if kind == "datasetField":
        return f"datasetField:{namespace}:{name}:{field}"
    return f"{kind}:{namespace}:{name}"


def _prefixes(text: str) -> list[str]:
    """Every prefix of `text` that ends just before a colon, longest first."""
    return [text[:i] for i in range(len(text) - 1, 0, -1) if text[i] == ":"]


def split_namespace(rest: str, *, visible: set[int] | None) -> tuple[Namespace, str]:
    """Split `<namespace>:<name>` at the longest known namespace (namespaces contain colons: postgres://db:5432).

    Only namespaces in `visible` are candidates (None: all), so a reader learns nothing of one they may not see:
    its nodes, its missing nodes and a namespace that does not exist all answer the same.
    """
    candidates = _prefixes(rest)
    namespaces = Namespace.objects.filter(name__in=candidates)
    if visible is not None:
        namespaces = namespaces.filter(id__in=visible)
    known = {ns.name: ns for ns in namespaces}
    for candidate in candidates:
        if candidate in known:
            return known[candidate], rest[len(candidate) + 1 :]
    if visible is None:
        raise NodeNotFound(f"no known namespace starts {rest!r}")
    raise NodeNotFound(f"no namespace you may read starts {rest!r}")


def _node_in_longest_namespace(model, rest: str, visible: set[int] | None) -> Dataset | Job | None:
    """The dataset or job named by `<namespace>:<name>`, split at the longest known namespace in `visible` (None:
    all): one raw query, as this runs first in every lineage request and composing it with the ORM cost ten times
    its execution."""
    quote = connection.ops.quote_name
    candidates = _prefixes(rest)
    if not candidates or (visible is not None and not visible):
        return None
    placeholders = ", ".join(["%s"] * len(candidates))
    namespaces = quote(Namespace._meta.db_table)
    granted, ids = "", []
    if visible is not None:
        ids = sorted(visible)
        granted = f" AND c.id IN ({', '.join(['%s'] * len(ids))})"
    sql = (
        f"SELECT node.* FROM {quote(model._meta.db_table)} node JOIN {namespaces} n ON n.id = node.namespace_id "
        f"WHERE n.id = (SELECT c.id FROM {namespaces} c WHERE c.name IN ({placeholders}){granted} "
        f"ORDER BY LENGTH(c.name) DESC LIMIT 1) AND node.name = SUBSTR(%s, LENGTH(n.name) + 2)"
    )
    return next(iter(model.objects.raw(sql, [*candidates, *ids, rest])), None)


def resolve_node(
    *,
    node_id: str | None = None,
    type: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    field: str | None = None,
    visible: set[int] | None,
) -> NodeRef:
    """The node named by a Marquez node id, or by explicit type/namespace/name(/field) parameters, among the
    namespaces in `visible` (None: all; see `visible_namespace_ids`).

    A node in a namespace outside `visible` is answered exactly as one that does not exist, with a message that
    names only what the reader asked and what they may see.
    """
    if node_id:
        kind, sep, rest = node_id.partition(":")
        if not sep or kind not in NODE_TYPES:
            raise BadParameter("nodeId", "must start with dataset:, job: or datasetField:")
        if kind in ("dataset", "job"):
            node = _node_in_longest_namespace(Job if kind == "job" else Dataset, rest, visible)
            if node is not None:
                return NodeRef(kind, node)
            ns, remainder = split_namespace(rest, visible=visible)  # which part is unknown, to say so
            raise NodeNotFound(f"no {kind} {remainder!r} in namespace {ns.name!r}")
        ns, remainder = split_namespace(rest, visible=visible)
        # datasetField:<ns>:<name>:<field>: the longest known dataset name, then the field.
        candidates = _prefixes(remainder)
        datasets = {
            d.name: d for d in Dataset.objects.filter(namespace=ns, name__in=candidates).select_related("namespace")
        }
        for candidate in candidates:
            if candidate in datasets:
                return NodeRef("datasetField", datasets[candidate], remainder[len(candidate) + 1 :])
        raise NodeNotFound(f"no dataset in namespace {ns.name!r} matches {remainder!r}")

    if not (type and namespace and name):
        raise BadParameter("nodeId", "give nodeId, or type, namespace and name")
    kind = {"dataset": "dataset", "job": "job", "datasetfield": "datasetField", "dataset_field": "datasetField"}.get(
        type.lower()
    )
    if kind is None:
        raise BadParameter("type", "must be dataset, job or datasetField")
    if kind == "datasetField" and not field:
        raise BadParameter("field", "a datasetField needs a field")
    # Explicit parameters need no splitting: they name a node whose id reads two ways (see split_namespace).
    model = Job if kind == "job" else Dataset
    nodes = model.objects.filter(namespace__name=namespace, name=name)
    namespaces = Namespace.objects.filter(name=namespace)
    if visible is not None:
        nodes, namespaces = nodes.filter(namespace_id__in=visible), namespaces.filter(id__in=visible)
    node = nodes.select_related("namespace").first()
    if node is None:
        if not namespaces.exists():
            unknown = "no namespace" if visible is None else "no namespace you may read named"
            raise NodeNotFound(f"{unknown} {namespace!r}")
        raise NodeNotFound(f"no {'job' if kind == 'job' else 'dataset'} {name!r} in namespace {namespace!r}")
    return NodeRef(kind, node, field if kind == "datasetField" else "")


_UNSET = object()


def visible_namespace_ids(user) -> set[int] | None:
    """Ids of the namespaces `user` may read, or None for all of them.

    Every read query filters through this, so per-namespace grants apply everywhere at once. Worked out once per
    user object, that is once per request (a page filters a dozen queries by it, and each computation costs
    several queries: roles, then per-namespace grants), as Django caches a user's permissions.
    """
    cached = getattr(user, "_tributary_visible_namespaces", _UNSET)
    if cached is _UNSET:
        from governance.permissions import visible_namespace_ids as visible

        cached = visible(user)
        user._tributary_visible_namespaces = cached
    return cached


def column_expander(*, as_of: datetime | None = None, visible: set[int] | None = None):
    """An `expand` for `lineage.graph.walk` over field-level lineage: one query per level of the walk."""

    def expand(frontier: list[Node], direction: str) -> list[Edge]:
        by_dataset = defaultdict(set)
        for _, (dataset_id, field) in frontier:
            by_dataset[dataset_id].add(field)
        side = "output" if direction == UP else "input"
        condition = Q()
        for dataset_id, fields in by_dataset.items():
            condition |= Q(**{f"{side}_dataset_id": dataset_id, f"{side}_field__in": fields})
        rows = ColumnLineage.objects.filter(condition).exclude(output_field="")
        if visible is not None:
            rows = rows.filter(input_dataset__namespace_id__in=visible, output_dataset__namespace_id__in=visible)
        if as_of is not None:
            rows = rows.filter(first_seen__lte=as_of)
        return [
            (("field", (i_ds, i_f)), ("field", (o_ds, o_f)))
            for i_ds, i_f, o_ds, o_f in rows.values_list(
                "input_dataset_id", "input_field", "output_dataset_id", "output_field"
            )
        ]

    return expand


def filter_visible(queryset: QuerySet, user, namespace_field: str) -> QuerySet:
    """`queryset` narrowed to rows whose `namespace_field` (a namespace id) `user` may read."""
    ids = visible_namespace_ids(user)
    return queryset if ids is None else queryset.filter(**{f"{namespace_field}__in": ids})


def visible_namespaces(user) -> QuerySet[Namespace]:
    return filter_visible(Namespace.objects.all(), user, "id")


def visible_datasets(user) -> QuerySet[Dataset]:
    return filter_visible(Dataset.objects.all(), user, "namespace_id")


def visible_jobs(user) -> QuerySet[Job]:
    return filter_visible(Job.objects.all(), user, "namespace_id")


def visible_runs(user) -> QuerySet[Run]:
    return filter_visible(Run.objects.all(), user, "job__namespace_id")


def visible_raw_events(user) -> QuerySet[RawEvent]:
    """Raw events of the namespaces `user` may read: the job's namespace, or the dataset's for a DatasetEvent."""
    ids = visible_namespace_ids(user)
    events = RawEvent.objects.all()
    if ids is None:
        return events
    return events.filter(job_namespace__in=Namespace.objects.filter(id__in=ids).values("name"))


def split_namespace_path(path: str, *, user, sections: tuple[str, ...]) -> tuple[Namespace, str] | None:
    """Split `<namespace>[/<section>...]` at the longest namespace `user` may read that is followed by the end
    or by one of `sections` (`/datasets`, `/jobs`); None when there is none.

    Namespaces contain slashes (`gs://bucket`, `postgres://db:5432`), and WSGI servers decode `%2F` into `/` before
    Django sees the path, so the path alone cannot say where the namespace ends.
    """
    candidates = [path]
    for section in sections:
        start = path.find(section)
        while start != -1:
            end = start + len(section)
            if start > 0 and (end == len(path) or path[end] == "/"):
                candidates.append(path[:start])
            start = path.find(section, start + 1)
    known = {ns.name: ns for ns in visible_namespaces(user).filter(name__in=set(candidates))}
    for candidate in sorted(candidates, key=len, reverse=True):
        if candidate in known:
            return known[candidate], path[len(candidate) :]
    return None
