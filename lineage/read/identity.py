"""Node identity: node ids, and finding the node an id names among the namespaces a reader may see."""

from dataclasses import dataclass

from django.db import connection

from governance.api.params import BadParameter
from governance.models import Namespace
from lineage.models import Dataset, Job
from lineage.read.visible import visible_namespaces

NODE_TYPES = {"dataset": "DATASET", "job": "JOB", "datasetField": "DATASET_FIELD"}


class NodeNotFound(LookupError):
    pass


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
