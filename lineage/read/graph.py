"""Graph algorithms on plain data (no database): traversal, impact and whole-graph analysis.

A node is a `(kind, key)` tuple: `("dataset", id)`, `("job", id)` or `("field", (dataset_id, name))`. An edge
`(origin, destination)` follows the data: dataset -> job (an input) and job -> dataset (an output).

`walk` is the reference traversal. The lineage API answers the same question with one recursive SQL query
(`lineage.read.traversal`), and the tests check that both agree; column lineage, which is smaller, walks with `walk`
directly, one query per level.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

Node = tuple[str, Any]
Edge = tuple[Node, Node]
UP, DOWN, BOTH = "upstream", "downstream", "both"
DIRECTIONS = (UP, DOWN, BOTH)


@dataclass
class Subgraph:
    depths: dict[Node, int] = field(default_factory=dict)  # node -> edges from the start
    edges: set[Edge] = field(default_factory=set)

    def merge(self, other: "Subgraph") -> "Subgraph":
        depths = dict(self.depths)
        for node, depth in other.depths.items():
            depths[node] = min(depth, depths.get(node, depth))
        return Subgraph(depths, self.edges | other.edges)

    @property
    def max_depth(self) -> int:
        return max(self.depths.values(), default=0)


def walk(
    start: Node,
    *,
    depth: int,
    direction: str,
    expand: Callable[[list[Node], str], Iterable[Edge]],
    blocked: Callable[[Node], bool] | None = None,
) -> Subgraph:
    """Every node within `depth` edges of `start`, following edges against the data (upstream), with it
    (downstream) or both ways separately (both = upstream ∪ downstream, never sideways), and every edge
    among the nodes found.

    `expand(frontier, direction)` returns the edges into (upstream) or out of (downstream) the frontier nodes.
    A `blocked` node (one the reader may not see) is reached but never walked through: it is the boundary.
    """
    if direction == BOTH:
        up = walk(start, depth=depth, direction=UP, expand=expand, blocked=blocked)
        down = walk(start, depth=depth, direction=DOWN, expand=expand, blocked=blocked)
        return up.merge(down)
    depths = {start: 0}
    frontier = [start]
    level = 0
    while frontier and level < depth:
        level += 1
        found = []
        if blocked is not None:
            frontier = [node for node in frontier if not blocked(node)]
        for origin, destination in expand(frontier, direction) if frontier else ():
            neighbour = origin if direction == UP else destination
            if neighbour not in depths:
                depths[neighbour] = level
                found.append(neighbour)
        frontier = found
    # The answer's edges are all the edges among the nodes found, including those of the nodes at the depth
    # limit (every such edge lies on a path toward the start, possibly a longer one).
    nodes = list(depths)
    edges = {(o, d) for o, d in expand(nodes, direction) if o in depths and d in depths} if len(nodes) > 1 else set()
    return Subgraph(depths, edges)


def adjacency_expander(edges: Iterable[Edge]) -> Callable[[list[Node], str], list[Edge]]:
    """An `expand` over an in-memory edge list (tests, and the analysis of an answer)."""
    into, out = defaultdict(list), defaultdict(list)
    for origin, destination in edges:
        out[origin].append((origin, destination))
        into[destination].append((origin, destination))

    def expand(frontier: list[Node], direction: str) -> list[Edge]:
        table = into if direction == UP else out
        return [edge for node in frontier for edge in table.get(node, ())]

    return expand


def induced(subgraph_nodes: Iterable[Node], edges: Iterable[Edge]) -> set[Edge]:
    nodes = set(subgraph_nodes)
    return {(o, d) for o, d in edges if o in nodes and d in nodes}


# --- Impact --------------------------------------------------------------------------------------------------


@dataclass
class Impact:
    datasets: list[Any]  # dataset keys downstream of the start
    jobs: list[Any]
    hops: int  # transformations between the start and the farthest affected dataset
    critical: list[tuple[Any, int]]  # (job key, datasets cut off if it fails), most first


def impact(start: Node, downstream: Subgraph, *, limit: int = 10, name: Callable[[Any], str] | None = None) -> Impact:
    """What a change to `start` reaches, and which jobs are chokepoints.

    A job is critical when some downstream datasets are reachable from the start only through it: if it fails
    (or breaks after the change), they stop being fed. That is the dominator relation of the downstream graph
    rooted at the start; a job's score is the number of datasets it dominates. Equal scores are ordered by
    `name(job key)` (default: the key), so the jobs listed do not depend on database ids.
    """
    graph = nx.DiGraph()
    graph.add_node(start)
    graph.add_edges_from(downstream.edges)
    dominators = nx.immediate_dominators(graph, start)
    tree = defaultdict(list)
    for node, parent in dominators.items():
        if node != parent:
            tree[parent].append(node)

    def dominated_datasets(node: Node) -> int:
        count, stack = 0, list(tree[node])
        while stack:
            current = stack.pop()
            count += current[0] == "dataset"
            stack.extend(tree[current])
        return count

    # The start itself is not listed: a change to it reaches everything by definition.
    critical = [
        (node[1], score)
        for node in downstream.depths
        if node[0] == "job" and node != start and (score := dominated_datasets(node)) > 0
    ]
    critical.sort(key=lambda item: (-item[1], name(item[0]) if name else str(item[0])))
    return Impact(
        datasets=[n[1] for n in downstream.depths if n[0] == "dataset" and n != start],
        jobs=[n[1] for n in downstream.depths if n[0] == "job" and n != start],
        hops=(max((depth for n, depth in downstream.depths.items() if n[0] == "dataset"), default=0) + 1) // 2,
        critical=critical[:limit],
    )


def recommendations(*, critical: int, dags: int, datasets: int) -> list[str]:
    """The seed's rules for a change's blast radius."""
    advice = []
    if critical > 0:
        advice.append(
            f"Review before changing: {critical} critical transformation(s) are the only path to some downstream "
            "datasets."
        )
    if dags > 5:
        advice.append(f"Coordinate with the owners of the {dags} affected DAGs before deploying.")
    if datasets > 10:
        advice.append(f"Stage the change: {datasets} downstream datasets are affected; roll out and validate in steps.")
    if not advice:
        advice.append("Low impact: no critical transformation, few DAGs and datasets downstream.")
    return advice


# --- Whole-graph report ------------------------------------------------------------------------------------


def report(
    nodes: Iterable[Node], edges: Iterable[Edge], *, top: int = 10, all_critical: bool = False
) -> dict[str, Any]:
    """Statistics of the whole lineage graph (the seed's DataLineageTracker report, computed properly).

    `all_critical` lists every critical path (out-degree > 5), for a caller that orders them by name itself."""
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    datasets = [n for n in graph if n[0] == "dataset"]
    jobs = [n for n in graph if n[0] == "job"]
    node_count, edge_count = graph.number_of_nodes(), graph.number_of_edges()
    critical = sorted(((n, d) for n, d in graph.out_degree() if d > 5), key=lambda item: (-item[1], str(item[0])))
    critical = critical if all_critical else critical[:top]
    orphans = [n for n in datasets if graph.in_degree(n) == 0 and graph.out_degree(n) == 0]
    has_cycles = not nx.is_directed_acyclic_graph(graph)
    # Longest path on the acyclic part: the condensation collapses each cycle into one node.
    acyclic = nx.condensation(graph) if has_cycles else graph
    max_depth = nx.dag_longest_path_length(acyclic) if node_count else 0
    components = sorted((len(c) for c in nx.weakly_connected_components(graph)), reverse=True)
    cycles = (
        []
        if not has_cycles
        else [
            sorted(c, key=str)
            for c in nx.strongly_connected_components(graph)
            if len(c) > 1 or graph.has_edge(next(iter(c)), next(iter(c)))
        ]
    )
    return {
        "nodes": node_count,
        "edges": edge_count,
        "datasets": len(datasets),
        "transformations": len(jobs),
        "averageConnections": round(2 * edge_count / node_count, 3) if node_count else 0.0,
        "criticalPaths": [{"node": n, "outDegree": d} for n, d in critical],
        "orphanedDatasets": orphans,
        "maxDepth": max_depth,
        "hasCycles": has_cycles,
        "cycles": cycles[:top],
        "weaklyConnectedComponents": {"count": len(components), "largest": components[:top]},
    }
