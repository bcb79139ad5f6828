"""Classifications that follow lineage (pure: plain data in, plain data out).

A steward classifies a column (`("field", (dataset, name))`) or a whole dataset (`("dataset", dataset)`) as PII,
financial, confidential... The classification flows downstream:

* a column along column lineage to the columns computed from it;
* where a job reads the dataset and writes another without saying which columns come from which (no column
  lineage between the two datasets), to the whole output dataset, because any of its columns may carry it;
* a whole dataset to the columns column lineage links it to, and to whole outputs without column lineage.

Every inferred classification keeps its source and the path that carries it, so "where does customer email end
up?" is answered with the way it gets there.
"""

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Node = tuple[str, object]  # ("field", (dataset_id, field)) or ("dataset", dataset_id)


@dataclass(frozen=True)
class Inferred:
    node: Node
    classification: str
    source: Node
    path: tuple[Node, ...]  # source ... node

    @property
    def hops(self) -> int:
        return len(self.path) - 1


@dataclass(frozen=True)
class Flows:
    """What the lineage says about where data goes, for the datasets asked about."""

    column_edges: dict[Node, list[Node]]  # field -> fields computed from it
    dataset_successors: dict[object, list[object]]  # dataset -> datasets written by jobs that read it
    column_linked: set[tuple[object, object]]  # (input dataset, output dataset) pairs with column lineage

    @classmethod
    def build(cls, column_edges: Iterable[tuple[Node, Node]], dataset_pairs: Iterable[tuple[object, object]]):
        columns: dict[Node, list[Node]] = {}
        linked = set()
        for source, target in column_edges:
            columns.setdefault(source, []).append(target)
            linked.add((source[1][0], target[1][0]))
        successors: dict[object, list[object]] = {}
        for source, target in dataset_pairs:
            successors.setdefault(source, []).append(target)
        return cls(columns, successors, linked)

    def fields_of(self, dataset) -> list[Node]:
        if not hasattr(self, "_by_dataset"):
            index: dict[object, list[Node]] = {}
            for source in self.column_edges:
                index.setdefault(source[1][0], []).append(source)
            object.__setattr__(self, "_by_dataset", index)
        return self._by_dataset.get(dataset, [])


def next_nodes(node: Node, flows: Flows) -> list[Node]:
    kind, key = node
    dataset = key[0] if kind == "field" else key
    following: list[Node] = []
    if kind == "field":
        following += flows.column_edges.get(node, [])
    else:
        following += [target for source in flows.fields_of(dataset) for target in flows.column_edges[source]]
    for successor in flows.dataset_successors.get(dataset, []):
        if (dataset, successor) not in flows.column_linked:
            following.append(("dataset", successor))
    return following


def propagate(
    sources: Iterable[tuple[Node, str]],
    *,
    flows_for: Callable[[set[object]], Flows],
    max_hops: int = 200,
) -> list[Inferred]:
    """Breadth-first from every source, so each node gets its shortest path from each (source, classification).

    `flows_for(datasets)` returns the flows leaving those datasets; it is called once per level of the walk.
    """
    results: dict[tuple[Node, str, Node], Inferred] = {}
    for source, classification in sources:
        parents: dict[Node, Node | None] = {source: None}
        frontier = [source]
        hops = 0
        while frontier and hops < max_hops:
            hops += 1
            flows = flows_for({n[1][0] if n[0] == "field" else n[1] for n in frontier})
            found = []
            for node in frontier:
                for following in next_nodes(node, flows):
                    if following not in parents:
                        parents[following] = node
                        found.append(following)
            frontier = found
        for node in parents:
            if node == source:
                continue
            path, step = deque(), node
            while step is not None:
                path.appendleft(step)
                step = parents[step]
            results[(node, classification, source)] = Inferred(node, classification, source, tuple(path))
    return sorted(results.values(), key=lambda i: (i.classification, i.hops, repr(i.node)))


def in_memory_flows(column_edges: Iterable[tuple[Node, Node]], dataset_pairs: Iterable[tuple[object, object]]):
    """A `flows_for` over plain edge lists (tests, and whole-estate checks that load everything once)."""
    flows = Flows.build(column_edges, dataset_pairs)
    return lambda datasets: flows
