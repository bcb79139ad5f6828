import statistics
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client

from governance import sessions
from lineage import benchgraph
from lineage.derive.queue import derive_pending
from lineage.ingest import services
from lineage.models import Dataset

JOBS_NS = "bench-airflow"
DATA_NS = "postgres://bench:5432"
PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
USER, PASSWORD = "bench-viewer", "Bench-viewer-pass1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def table(layer: int, index: int) -> str:
    return f"layer{layer:02d}.t{index:03d}"


def _facet(**fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/Facet.json", **fields}


def _dataset(layer: int, index: int, *, with_schema: bool = False) -> dict:
    facets = {}
    if with_schema:
        facets["schema"] = _facet(fields=[{"name": f"c{n}", "type": "bigint"} for n in range(6)])
        facets["ownership"] = _facet(owners=[{"name": f"team:layer{layer:02d}", "type": "MAINTAINER"}])
    return {"namespace": DATA_NS, "name": table(layer, index), "facets": facets}


def layered_events(layers: int, width: int) -> list[dict]:
    """A layered estate: layer l's task i reads tables 2i and 2i+1 (mod width) of layer l-1 and writes table i of
    layer l; the tasks of a layer are one Airflow DAG. Every table has two readers and every task two inputs, so a
    walk doubles at each layer, upstream and downstream, until it spans the width."""
    events = []
    for layer in range(1, layers):
        moment = T0 + timedelta(hours=layer)
        dag_run = f"dag-{layer}"
        events.append(
            {
                "eventType": "COMPLETE",
                "eventTime": moment.isoformat(),
                "producer": PRODUCER,
                "schemaURL": SCHEMA_URL,
                "run": {"runId": dag_run, "facets": {}},
                "job": {
                    "namespace": JOBS_NS,
                    "name": f"layer{layer:02d}",
                    "facets": {"jobType": _facet(integration="AIRFLOW", jobType="DAG", processingType="BATCH")},
                },
                "inputs": [],
                "outputs": [],
            }
        )
        for index in range(width):
            events.append(
                {
                    "eventType": "COMPLETE",
                    "eventTime": (moment + timedelta(seconds=index)).isoformat(),
                    "producer": PRODUCER,
                    "schemaURL": SCHEMA_URL,
                    "run": {
                        "runId": f"run-{layer}-{index}",
                        "facets": {
                            "parent": _facet(
                                job={"namespace": JOBS_NS, "name": f"layer{layer:02d}"}, run={"runId": dag_run}
                            )
                        },
                    },
                    "job": {
                        "namespace": JOBS_NS,
                        "name": f"layer{layer:02d}.task{index:03d}",
                        "facets": {"jobType": _facet(integration="AIRFLOW", jobType="TASK", processingType="BATCH")},
                    },
                    "inputs": [
                        _dataset(layer - 1, (2 * index) % width, with_schema=layer == 1),
                        _dataset(layer - 1, (2 * index + 1) % width, with_schema=layer == 1),
                    ],
                    "outputs": [_dataset(layer, index, with_schema=True)],
                }
            )
    return events


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = (
        "Benchmark the steward's UI on a generated layered estate: server time (p50/p95) of the dataset page and "
        "of the explorer's first JSON answer, and in Chromium the time from navigation to a drawn, interactive "
        "graph of 50, 500 and 2,000 nodes. Run it on its own database: "
        "DATABASE_URL=postgresql://127.0.0.1:5432/tributary_ui_bench python manage.py migrate && "
        "DATABASE_URL=... python manage.py bench_ui"
    )

    def add_arguments(self, parser):
        parser.add_argument("--layers", type=int, default=20)
        parser.add_argument("--width", type=int, default=500)
        parser.add_argument("--requests", type=int, default=40, help="Server requests per measured URL.")
        parser.add_argument("--repeat", type=int, default=5, help="Browser navigations per graph size.")
        parser.add_argument("--sizes", default="50,500,2000")
        parser.add_argument("--no-browser", action="store_true")
        parser.add_argument(
            "--graph",
            choices=["estate", "lineage-bench"],
            default="estate",
            help="estate: the Airflow estate generated through ingestion (--layers x --width); lineage-bench: "
            "the 195,000-node graph of bench_lineage (20 x 5,000, loaded directly; needs a *bench* database).",
        )

    def handle(self, *args, layers, width, requests, repeat, sizes, no_browser, graph, **options):
        if graph == "lineage-bench":
            data_ns, start, description = self.ensure_lineage_bench()
        else:
            if layers < 3 or width < 20:
                raise CommandError("--layers must be at least 3 and --width at least 20")
            self.ensure_estate(layers, width)
            data_ns, start = DATA_NS, table(layers // 2, width // 2)
            description = (
                f"{Dataset.objects.filter(namespace__name=DATA_NS).count()} datasets and "
                f"{(layers - 1) * (width + 1)} jobs in {layers} layers of {width}"
            )
        user = self.ensure_user()
        node = f"dataset:{data_ns}:{start}"
        self.stdout.write(f"Graph: {description}; start node {node}; database {connection.vendor}.")

        rows = [("server", "what", "p50 ms", "p95 ms")]
        for label, url in (
            ("dataset page", f"/datasets/{data_ns}/{start}"),
            ("explorer page (HTML)", f"/lineage/?nodeId={quote(node)}"),
            ("explorer's first JSON (depth 6, limit 300)", f"/api/v1/lineage?nodeId={quote(node)}&depth=6&limit=300"),
            (
                "explorer JSON, 2,000 nodes (depth 100, limit 2000)",
                f"/api/v1/lineage?nodeId={quote(node)}&depth=100&limit=2000",
            ),
        ):
            p50, p95, nodes = self.time_server(user, url, requests)
            rows.append(("server", f"{label}{nodes}", f"{p50:.0f}", f"{p95:.0f}"))
        if not no_browser:
            for size in (int(s) for s in sizes.split(",")):
                depth = self.depth_for(user, node, size)
                median, worst, drawn, phases = self.time_browser(node, size, depth, repeat)
                rows.append(
                    (
                        "Chromium",
                        f"navigation → drawn, interactive graph of {drawn} nodes, depth {depth} ({phases})",
                        f"{median:.0f}",
                        f"{worst:.0f} (max)",
                    )
                )
        self.stdout.write("")
        self.stdout.write("| where | what | median/p50 ms | p95/max ms |")
        self.stdout.write("|---|---|---|---|")
        for row in rows[1:]:
            self.stdout.write("| " + " | ".join(row) + " |")

    def ensure_lineage_bench(self) -> tuple[str, str, str]:
        """The graph of bench_lineage, loaded unless there; the start is a table of its middle layer."""
        name = connection.settings_dict["NAME"] or ""
        if "bench" not in name:
            raise CommandError(f"--graph lineage-bench loads 195,000 nodes into {name!r}: use a *bench* database")
        graph = benchgraph.LayeredGraph()
        try:
            seconds = graph.ensure()
        except ValueError as error:
            raise CommandError(str(error)) from None
        loaded = "reused" if seconds is None else f"loaded in {seconds:.0f} s"
        description = (
            f"the bench_lineage graph ({graph.layers} layers x {graph.width:,} datasets, {graph.nodes:,} nodes, "
            f"{graph.edges:,} edges; {loaded})"
        )
        return benchgraph.DATA_NS, graph.dataset(graph.layers // 2, graph.width // 2), description

    def ensure_estate(self, layers: int, width: int) -> None:
        expected = layers * width
        have = Dataset.objects.filter(namespace__name=DATA_NS).count()
        if have == expected:
            return
        if have:
            raise CommandError(f"the database holds another bench estate ({have} datasets): use a fresh database")
        events = layered_events(layers, width)
        began = time.monotonic()
        for event in events:
            result = services.ingest_event(event=event, source="cli", derive=False)
            if result.errors:
                raise CommandError(f"bench event refused: {result.errors[:1]}")
        ingested = time.monotonic() - began
        derived = derive_pending()
        self.stdout.write(
            f"Generated {len(events)} events: stored in {ingested:.0f} s, {derived} derived in "
            f"{time.monotonic() - began - ingested:.0f} s."
        )

    def ensure_user(self):
        user, created = get_user_model().objects.get_or_create(username=USER)
        if created:
            user.set_password(PASSWORD)
            user.save()
            user.groups.add(Group.objects.get(name="viewer"))
        return user

    def client(self, user) -> Client:
        client = Client()
        client.force_login(user)
        session = client.session
        session[sessions.LOGIN_AT] = session[sessions.SEEN_AT] = int(time.time())
        session.save()
        return client

    def time_server(self, user, url: str, count: int) -> tuple[float, float, str]:
        client = self.client(user)
        nodes = ""
        for _ in range(3):  # warm caches and connections
            response = client.get(url)
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}")
        if url.startswith("/api/"):
            nodes = f" → {len(response.json()['graph'])} nodes"
        timings = []
        for _ in range(count):
            began = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - began) * 1000)
        return statistics.median(timings), percentile(timings, 0.95), nodes

    def depth_for(self, user, node: str, size: int) -> int:
        """The smallest depth whose answer has at least `size` nodes: what a steward would ask for."""
        client = self.client(user)
        for depth in range(2, 101, 2):
            answer = client.get(f"/api/v1/lineage?nodeId={quote(node)}&depth={depth}&limit={size}").json()
            if len(answer["graph"]) >= size:
                return depth
        return 100

    def time_browser(self, node: str, size: int, depth: int, repeat: int) -> tuple[float, float, int, str]:
        from lineage.browser import chromium, log_in, wait_for_graph
        from lineage.uiserver import web_server

        timings, phases, drawn = [], [], 0
        with web_server() as base, chromium() as context:
            page = context.new_page()
            log_in(page, base, USER, PASSWORD)
            url = f"{base}/lineage/?nodeId={quote(node)}&depth={depth}&limit={size}"
            page.goto(url)  # the first load also fetches the scripts into the cache, as any second visit would
            wait_for_graph(page, timeout=120_000)
            for _ in range(repeat):
                page.goto(url)
                drawn = wait_for_graph(page, timeout=120_000)
                # performance.now() counts from the navigation's start.
                marks = page.evaluate("window.tributaryGraph.timings")
                timings.append(marks["ready"])
                phases.append(marks)

        def phase(start: str, end: str) -> float:
            return statistics.median(m[end] - m[start] for m in phases)

        summary = (
            f"page and scripts {statistics.median(m['requested'] for m in phases):.0f}, "
            f"answer {phase('requested', 'answered'):.0f}, build {phase('answered', 'layoutStart'):.0f}, "
            f"layout {phase('layoutStart', 'layoutEnd'):.0f}, paint {phase('layoutEnd', 'ready'):.0f} ms"
        )
        return statistics.median(timings), max(timings), drawn, summary
