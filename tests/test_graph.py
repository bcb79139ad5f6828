"""The graph algorithms on hand-made graphs: pure, no database."""

from lineage.read.graph import BOTH, DOWN, UP, adjacency_expander, impact, recommendations, report, walk


def d(name):
    return ("dataset", name)


def j(name):
    return ("job", name)


def pipeline(*steps):
    """Edges from (inputs, job, outputs) steps."""
    edges = []
    for inputs, job, outputs in steps:
        edges += [(d(i), j(job)) for i in inputs] + [(j(job), d(o)) for o in outputs]
    return edges


CHAIN = pipeline((["a"], "1", ["b"]), (["b"], "2", ["c"]), (["c"], "3", ["e"]))
#  a ─1─ b ─2─ c ─3─ e, and a sibling branch: b ─4─ x (shares the ancestor b, is not upstream of e)
SIBLING = CHAIN + pipeline((["b"], "4", ["x"]))


def run(edges, start, depth=20, direction=UP):
    return walk(start, depth=depth, direction=direction, expand=adjacency_expander(edges))


def test_upstream_follows_edges_against_the_data_and_counts_depth_in_edges():
    result = run(CHAIN, d("e"))
    assert result.depths == {d("e"): 0, j("3"): 1, d("c"): 2, j("2"): 3, d("b"): 4, j("1"): 5, d("a"): 6}
    assert result.edges == set(CHAIN)


def test_depth_limits_the_walk_and_the_edges():
    result = run(CHAIN, d("e"), depth=2)
    assert set(result.depths) == {d("e"), j("3"), d("c")}
    assert result.edges == {(d("c"), j("3")), (j("3"), d("e"))}


def test_depth_zero_is_the_node_alone():
    result = run(CHAIN, d("c"), depth=0, direction=BOTH)
    assert result.depths == {d("c"): 0} and result.edges == set()


def test_upstream_never_contains_a_sibling_branch():
    result = run(SIBLING, d("e"))
    assert j("4") not in result.depths and d("x") not in result.depths


def test_downstream_and_both_are_directed():
    down = run(SIBLING, d("c"), direction=DOWN)
    assert set(down.depths) == {d("c"), j("3"), d("e")}
    both = run(SIBLING, d("c"), direction=BOTH)
    # Upstream of c is b, 1, a; the sibling x only shares the ancestor b: it is neither up nor down.
    assert set(both.depths) == {d("c"), j("3"), d("e"), j("2"), d("b"), j("1"), d("a")}
    assert d("x") not in both.depths


def test_a_diamond_reaches_each_node_once_at_its_nearest_depth():
    edges = pipeline((["s"], "1", ["l"]), (["s"], "2", ["r"]), (["l", "r"], "3", ["t"]), (["s"], "4", ["t"]))
    result = run(edges, d("t"))
    assert result.depths[d("s")] == 2  # through job 4, not 4 edges through l or r
    assert result.edges == set(edges)


def test_a_cycle_terminates_and_a_node_both_upstream_and_downstream_appears_once():
    edges = pipeline((["a"], "1", ["b"]), (["b"], "2", ["a"]))
    result = run(edges, d("a"), direction=BOTH)
    assert result.depths == {d("a"): 0, j("1"): 1, j("2"): 1, d("b"): 2}
    assert result.edges == set(edges)


def test_a_self_loop_is_an_edge_both_ways():
    edges = pipeline((["t"], "dedupe", ["t"]))
    result = run(edges, d("t"), direction=UP)
    assert result.depths == {d("t"): 0, j("dedupe"): 1}
    assert result.edges == set(edges)


def test_a_job_start_walks_its_inputs():
    result = run(CHAIN, j("2"), depth=2)
    assert result.depths == {j("2"): 0, d("b"): 1, j("1"): 2}


def test_impact_finds_the_jobs_whose_failure_cuts_off_datasets():
    #  s ─1─ a ─2─ b ─3─ c        job 1 is the only way to a, b, c and d: it cuts off 4 datasets.
    #          └──5─ d            job 2 cuts off b and c; 3 cuts off c; 5 cuts off d.
    #  s ─4─ e ─6─ c              c has a second way in (through 4 and 6), so 1, 2, 3 do not cut it off alone.
    edges = pipeline(
        (["s"], "1", ["a"]),
        (["a"], "2", ["b"]),
        (["b"], "3", ["c"]),
        (["a"], "5", ["d"]),
        (["s"], "4", ["e"]),
        (["e"], "6", ["c"]),
    )
    down = run(edges, d("s"), direction=DOWN)
    result = impact(d("s"), down)
    assert dict(result.critical) == {"1": 3, "2": 1, "4": 1, "5": 1}
    assert result.hops == 2  # b, c and d are two transformations away (c also through 4 and 6)
    assert sorted(result.datasets) == ["a", "b", "c", "d", "e"]


def test_impact_of_a_job_does_not_list_the_job_itself_and_orders_equal_scores_by_name():
    # 1 ─ s ─2─ a, s ─3─ b: jobs 2 and 3 each cut off one dataset; names order them, not keys.
    edges = pipeline(([], "1", ["s"]), (["s"], "2", ["a"]), (["s"], "3", ["b"]))
    down = run(edges, j("1"), direction=DOWN)
    result = impact(j("1"), down, name={"2": "zz", "3": "aa"}.get)
    assert result.critical == [("3", 1), ("2", 1)]


def test_recommendations_follow_the_seed_rules():
    assert len(recommendations(critical=1, dags=6, datasets=11)) == 3
    assert recommendations(critical=0, dags=5, datasets=10)[0].startswith("Low impact")


def test_report_of_a_small_graph():
    fan_out = pipeline((["hub"], "fan", [f"o{i}" for i in range(7)]))
    loop = pipeline((["p"], "x", ["q"]), (["q"], "y", ["p"]))
    nodes = [d("lonely")] + [n for edge in CHAIN + fan_out + loop for n in edge]
    stats = report(nodes, CHAIN + fan_out + loop)
    assert stats["datasets"] == 15 and stats["transformations"] == 6
    assert stats["edges"] == len(CHAIN) + len(fan_out) + len(loop)
    assert stats["criticalPaths"] == [{"node": j("fan"), "outDegree": 7}]
    assert stats["orphanedDatasets"] == [d("lonely")]
    assert stats["hasCycles"] and sorted(map(str, stats["cycles"][0])) == sorted(
        map(str, [d("p"), j("x"), d("q"), j("y")])
    )
    assert stats["maxDepth"] == 6  # a ─1─ b ─2─ c ─3─ e
    assert stats["weaklyConnectedComponents"] == {"count": 4, "largest": [9, 7, 4, 1]}
