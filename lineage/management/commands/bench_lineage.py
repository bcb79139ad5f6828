"""Lineage queries on the 195,000-node graph of issue 4: `python manage.py bench_lineage` (a benchmark, not a
test; see docs/benchmarks.md).

Loads the layered graph (`lineage.benchgraph`) once, then serves the app with gunicorn and times upstream
queries over HTTP from random last-layer datasets at several depths, the impact query and the lineage report,
against two yardsticks measured in the same run on the same edges: a plain networkx BFS over the graph in memory,
and a bare recursive CTE over the edge table (the floor). It refuses a database whose name does not contain
"bench" unless told --i-know.
"""

import http.client
import random
import statistics
import time
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import networkx as nx
import orjson
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from governance.tokens import create_token
from lineage.benchgraph import DATA_NS, LayeredGraph
from lineage.models import Dataset, JobEdge, LineageReport
from lineage.uiserver import gunicorn_server, memory_mib, worker_pids

READER = "bench-lineage-reader"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {percentile(values, 0.95):.1f}"


class Client:
    """One keep-alive HTTP connection with a read token; times each request to the last byte of the body."""

    def __init__(self, base: str, token: str):
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def get(self, path: str) -> tuple[float, bytes]:
        began = time.perf_counter()
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - began) * 1000
        if response.status != 200:
            raise CommandError(f"GET {path} answered {response.status}: {body[:300]!r}")
        return elapsed, body


class Command(BaseCommand):
    help = (
        "Benchmark lineage queries over HTTP (gunicorn) on the layered 195,000-node graph, against an in-memory "
        "networkx BFS and a bare recursive CTE measured in the same run. Use a database named *bench*."
    )

    def add_arguments(self, parser):
        parser.add_argument("--layers", type=int, default=20)
        parser.add_argument("--width", type=int, default=5000)
        parser.add_argument("--fan-in", type=int, default=3)
        parser.add_argument("--seed", type=int, default=4)
        parser.add_argument("--queries", type=int, default=200, help="Upstream queries per depth.")
        parser.add_argument("--depths", default="2,6,20")
        parser.add_argument("--impact-queries", type=int, default=20)
        parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (1: its memory is measured).")
        parser.add_argument("--no-report", action="store_true", help="Skip the whole-graph lineage report.")
        parser.add_argument("--i-know", action="store_true", help="Run on a database not named *bench*.")

    def say(self, message: str = "") -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def handle(self, *args, **options):
        name = connection.settings_dict["NAME"] or ""
        if "bench" not in name and not options["i_know"]:
            raise CommandError(f"this writes benchmark data into {name!r}: use a *bench* database or --i-know")
        if connection.vendor != "postgresql":
            raise CommandError("bench_lineage measures PostgreSQL: set DATABASE_URL=postgresql://.../*bench*")
        graph = LayeredGraph(options["layers"], options["width"], options["fan_in"], options["seed"])
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
        self.say(f"# bench_lineage on {name}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load}")
        self.ensure_graph(graph)

        rng = random.Random(graph.seed)
        last = graph.layers - 1
        names = [graph.dataset(last, i) for i in rng.sample(range(graph.width), options["queries"])]
        pks = dict(Dataset.objects.filter(namespace__name=DATA_NS, name__in=names).values_list("name", "pk"))
        starts = [(n, pks[n]) for n in names]
        depths = [int(d) for d in options["depths"].split(",")]

        bfs = self.time_bfs(starts, depths)
        floor = self.time_cte(starts, depths)
        token = self.read_token()
        rows = []
        with gunicorn_server(workers=options["workers"]) as (base, master):
            client = Client(base, token)
            workers = worker_pids(master)
            self.say(f"gunicorn {options['workers']} worker(s) at {base}; RSS after start {self.rss(workers)}")
            for depth in depths:
                timings, counts, mismatched = [], [], 0
                for node_name, _pk in starts[:5]:  # warm the connection, the worker and the caches
                    client.get(self.lineage_path(node_name, depth))
                for node_name, pk in starts:
                    elapsed, body = client.get(self.lineage_path(node_name, depth))
                    timings.append(elapsed)
                    count = len(orjson.loads(body)["graph"])
                    counts.append(count)
                    mismatched += count != bfs[depth]["counts"][pk]
                if mismatched:
                    raise CommandError(f"depth {depth}: {mismatched} answers differ in size from the BFS")
                rows.append(
                    (
                        f"upstream depth {depth}",
                        statistics.median(timings),
                        percentile(timings, 0.95),
                        statistics.median(counts),
                        bfs[depth],
                        floor[depth],
                        len(body),
                    )
                )
                self.say(
                    f"depth {depth}: HTTP p50/p95 {summary(timings)} ms, nodes p50 {statistics.median(counts):.0f} "
                    f"(max {max(counts)}), last body {len(body) / 1024:.0f} KiB; networkx BFS p50/p95 "
                    f"{summary(bfs[depth]['timings'])} ms; CTE p50/p95 {summary(floor[depth])} ms; "
                    f"worker RSS {self.rss(workers)}"
                )
            if options["impact_queries"] > 0:
                self.time_impact(client, graph, rng, options["impact_queries"], workers)
            if not options["no_report"]:
                self.time_report(client, workers)
            self.say(f"worker RSS at the end {self.rss(workers)}")

        self.say()
        self.say(
            "| query | HTTP p50 ms | HTTP p95 ms | nodes (p50) | networkx BFS p50 ms | CTE floor p50 ms | "
            "p50 ÷ BFS | p50 ÷ CTE |"
        )
        self.say("|---|---|---|---|---|---|---|---|")
        for label, p50, p95, nodes, bfs_row, cte, _ in rows:
            bfs_p50, cte_p50 = statistics.median(bfs_row["timings"]), statistics.median(cte)
            self.say(
                f"| {label} | {p50:.1f} | {p95:.1f} | {nodes:,.0f} | {bfs_p50:.1f} | {cte_p50:.1f} | "
                f"{p50 / bfs_p50:.2f} | {p50 / cte_p50:.1f} |"
            )

    # --- The graph --------------------------------------------------------------------------------------------

    def ensure_graph(self, graph: LayeredGraph) -> None:
        try:
            seconds = graph.ensure(progress=lambda message: self.stderr.write(f"loading {message}", ending="\r"))
        except ValueError as error:
            raise CommandError(str(error)) from None
        if seconds is None:
            self.say(f"Reusing the loaded graph: {graph.nodes:,} nodes, {graph.edges:,} edges.")
        else:
            self.say(f"Loaded {graph.nodes:,} nodes, {graph.edges:,} edges: {seconds:.0f} s (and VACUUM ANALYZE).")

    def read_token(self) -> str:
        user, created = get_user_model().objects.get_or_create(username=READER)
        if created:
            user.set_unusable_password()
            user.save()
            user.groups.add(Group.objects.get(name="viewer"))
        return create_token(name=f"{READER}-{int(time.time())}", scope="read", owner=user).secret

    @staticmethod
    def rss(workers: list[int]) -> str:
        sizes = [memory_mib(pid) for pid in workers]
        return ", ".join(f"{now:.0f} MiB (peak {peak:.0f})" for now, peak in sizes)

    @staticmethod
    def lineage_path(name: str, depth: int) -> str:
        return f"/api/v1/lineage?nodeId={quote(f'dataset:{DATA_NS}:{name}')}&depth={depth}&direction=upstream"

    # --- Yardsticks ---------------------------------------------------------------------------------------------

    def time_bfs(self, starts, depths) -> dict[int, dict]:
        """networkx breadth-first search upstream from each start, over the whole edge table held in memory."""
        began = time.perf_counter()
        graph = nx.DiGraph()
        for job_id, dataset_id, direction in JobEdge.objects.values_list("job_id", "dataset_id", "direction").iterator(
            chunk_size=20000
        ):
            if direction == "in":
                graph.add_edge(("dataset", dataset_id), ("job", job_id))
            else:
                graph.add_edge(("job", job_id), ("dataset", dataset_id))
        self.say(
            f"networkx DiGraph of {graph.number_of_nodes():,} nodes and {graph.number_of_edges():,} edges built in "
            f"{time.perf_counter() - began:.1f} s"
        )
        results = {}
        for depth in depths:
            timings, counts = [], {}
            for _, pk in starts:
                t0 = time.perf_counter()
                reached = {("dataset", pk)}
                for _, node in nx.bfs_edges(graph, ("dataset", pk), reverse=True, depth_limit=depth):
                    reached.add(node)
                timings.append((time.perf_counter() - t0) * 1000)
                counts[pk] = len(reached)
            results[depth] = {"timings": timings, "counts": counts}
        return results

    def time_cte(self, starts, depths) -> dict[int, list[float]]:
        """The floor: a bare recursive CTE over the indexed edge table, two edges a step, returning the ids of
        the datasets and jobs reached (no node data, no JSON, no HTTP)."""
        sql = """
            WITH RECURSIVE walk(dataset_id, depth) AS (
                SELECT CAST(%(start)s AS BIGINT), 0
                UNION
                SELECT i.dataset_id, w.depth + 2 FROM walk w
                JOIN lineage_jobedge o ON o.dataset_id = w.dataset_id AND o.direction = 'out'
                JOIN lineage_jobedge i ON i.job_id = o.job_id AND i.direction = 'in'
                WHERE w.depth + 2 <= %(depth)s
            )
            SELECT DISTINCT dataset_id FROM walk
            UNION ALL
            SELECT DISTINCT o.job_id FROM walk w
            JOIN lineage_jobedge o ON o.dataset_id = w.dataset_id AND o.direction = 'out'
            WHERE w.depth + 1 <= %(depth)s
        """
        results = {}
        with connection.cursor() as cursor:
            for depth in depths:
                timings = []
                for _, pk in starts[:5]:
                    cursor.execute(sql, {"start": pk, "depth": depth})
                    cursor.fetchall()
                for _, pk in starts:
                    t0 = time.perf_counter()
                    cursor.execute(sql, {"start": pk, "depth": depth})
                    cursor.fetchall()
                    timings.append((time.perf_counter() - t0) * 1000)
                results[depth] = timings
        return results

    # --- Impact and report --------------------------------------------------------------------------------------

    def time_impact(self, client: Client, graph: LayeredGraph, rng: random.Random, count: int, workers) -> None:
        """Impact (everything downstream) from datasets of the layer whose downstream spans as many layers as the
        deepest upstream query: the mirror image of that walk."""
        layer = max(0, graph.layers - 1 - 10)
        names = [graph.dataset(layer, i) for i in rng.sample(range(graph.width), count)]
        timings, sizes = [], []
        client.get(f"/api/v1/impact?nodeId={quote(f'dataset:{DATA_NS}:{names[0]}')}")
        for node_name in names:
            elapsed, body = client.get(f"/api/v1/impact?nodeId={quote(f'dataset:{DATA_NS}:{node_name}')}")
            timings.append(elapsed)
            answer = orjson.loads(body)["summary"]
            sizes.append(answer["datasets"] + answer["jobs"])
        self.say(
            f"impact from {count} datasets of layer {layer}: HTTP p50/p95 {summary(timings)} ms, downstream nodes p50 "
            f"{statistics.median(sizes):,.0f}; worker RSS {self.rss(workers)}"
        )

    def time_report(self, client: Client, workers) -> None:
        # The first request computes the report (in the web worker: no broker), later ones read the stored one.
        LineageReport.objects.all().delete()
        elapsed, body = client.get("/api/v1/lineage/report")
        report = orjson.loads(body)
        self.say(
            f"lineage report, first request: {elapsed / 1000:.1f} s (computed in {report['computeSeconds']} s; "
            f"{report['nodes']:,} nodes, {report['edges']:,} edges, maxDepth {report['maxDepth']}, "
            f"{report['orphanedDatasets']['count']} orphaned datasets, stale={report['stale']}); "
            f"worker RSS {self.rss(workers)}"
        )
        timings = [client.get("/api/v1/lineage/report")[0] for _ in range(20)]
        self.say(f"lineage report, stored: HTTP p50/p95 {summary(timings)} ms")
