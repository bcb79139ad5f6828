"""How fast ingestion takes events over HTTP: `python manage.py bench_ingest` (a benchmark, not a test; see
docs/benchmarks.md, "Ingestion").

Synthetic Airflow-like events of about 3.5 KB (`bench.events`) are posted by concurrent keep-alive clients
(`bench.client`) to the app served by gunicorn (several workers, gthread) on PostgreSQL, with a Celery worker on
Redis deriving them, as in production. For the single-event endpoint and the batch endpoint (batches of 100) it
reports accepted events/s (stored raw and queued, answered 201/200), p50/p95 latency per request, and the time
until everything is derived (the derive queue is empty), with events/s derived end to end.

Floors, measured in the same run, on the same machine and gunicorn configuration:
* one PostgreSQL writer committing one-row transactions (psycopg, autocommit, a 3.5 KB row each);
* a bare Django view (`bench.floor`, served with `bench.settings`, never by the production URLconf) that only
  parses, validates (jsonschema-rs) and inserts the raw event row; and its batch twin (one multi-row INSERT).
Every figure is also given as a ratio to its floor.

It wipes the lineage tables of the database it runs on, so it refuses a database whose name does not contain
"bench" unless told --i-know.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from bench.client import LoadResult, http_request, percentile, run_load
from bench.events import airflow_events
from governance.celery import SOLO_WORKER
from governance.tokens import create_token
from lineage.models import DeriveQueue, RawEvent, Run

ROOT = Path(settings.BASE_DIR)
FLOOR_TABLE = "bench_floor_rawevent"
COMMIT_TABLE = "bench_commit_floor"
LINEAGE_TABLES = (
    "lineage_columnlineage",
    "lineage_jobedge",
    "lineage_rundataset",
    "lineage_datasetversion",
    "lineage_datasetfield",
    "lineage_run",
    "lineage_jobversion",
    "lineage_job",
    "lineage_dataset",
    "lineage_derivequeue",
    "lineage_quarantinedevent",
    "lineage_rawevent",
)


class Command(BaseCommand):
    help = "Benchmark HTTP ingestion (single and batch endpoints) against floors measured in the same run."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=10000, help="Events posted to the single endpoint.")
        parser.add_argument("--batch-events", type=int, default=30000, help="Events posted in batches.")
        parser.add_argument("--batch-size", type=int, default=100)
        parser.add_argument("--floor-events", type=int, default=5000, help="Events posted to the bare view.")
        parser.add_argument("--commits", type=int, default=10000, help="One-row commits of the PostgreSQL floor.")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
        parser.add_argument("--threads", type=int, default=4, help="gthread threads per gunicorn worker.")
        parser.add_argument("--clients", type=int, default=2, help="Client processes.")
        parser.add_argument("--connections", type=int, default=6, help="Keep-alive connections per client process.")
        parser.add_argument("--batch-connections", type=int, default=2, help="Connections per client, batches.")
        parser.add_argument(
            "--broker",
            default="redis://127.0.0.1:6379/14",
            help="CELERY_BROKER_URL of the app and its deriving worker; 'none' derives eagerly in the web workers.",
        )
        parser.add_argument(
            "--deriver",
            choices=["during", "after"],
            default="during",
            help="Run the deriving worker while events are posted (production), or start it once all are accepted "
            "(accepting and deriving measured apart; on 2 cores they compete).",
        )
        parser.add_argument("--gzip", action="store_true", help="Send gzip bodies (Content-Encoding: gzip).")
        parser.add_argument("--skip", default="", help="Comma-separated: floors,single,batch.")
        parser.add_argument("--keep", action="store_true", help="Do not wipe the lineage tables first.")
        parser.add_argument("--i-know", action="store_true", help="Run on a database not named *bench*.")

    def handle(self, *args, **options):
        name = str(connection.settings_dict["NAME"])
        if "bench" not in name and not options["i_know"]:
            raise CommandError(f"this wipes the lineage tables of {name!r}: use a *bench* database or --i-know")
        if connection.vendor != "postgresql":
            raise CommandError("bench_ingest measures the production setup: use a PostgreSQL DATABASE_URL")
        self.options = options
        self.skip = {s.strip() for s in options["skip"].split(",") if s.strip()}
        self.database_url = os.environ.get("DATABASE_URL", "")
        self.broker = "" if options["broker"] == "none" else options["broker"]
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = cursor.fetchone()[0]
            cursor.execute("SHOW synchronous_commit")
            sync = cursor.fetchone()[0]
        self.say(f"# bench_ingest on {name}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {self.load()}")
        self.say(
            f"# {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, PostgreSQL {server} "
            f"(synchronous_commit {sync}); gunicorn {options['workers']} workers x {options['threads']} threads; "
            f"clients {options['clients']} x {options['connections']} connections (batches: "
            f"x {options['batch_connections']}); broker {self.broker or 'none (eager)'}"
            + f"; deriver at nice +{settings.TRIBUTARY_WORKER_NICE} (TRIBUTARY_WORKER_NICE)"
        )
        if not options["keep"]:
            self.wipe()
        self.prometheus_dir = tempfile.mkdtemp(prefix="bench-ingest-prom-")
        rows: list[tuple] = []
        try:
            floors = self.floors() if "floors" not in self.skip else {}
            rows += floors.get("rows", [])
            if not {"single", "batch"} <= self.skip:
                rows += self.app(floors)
        finally:
            shutil.rmtree(self.prometheus_dir, ignore_errors=True)
        self.say("")
        self.say("| what | events/s | ratio to floor | p50 ms | p95 ms |")
        self.say("|---|---|---|---|---|")
        for row in rows:
            self.say("| " + " | ".join(row) + " |")
        self.say(f"# load average after: {self.load()}")

    # --- helpers ---------------------------------------------------------------------------------------------

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    @staticmethod
    def load() -> str:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())

    def wipe(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(LINEAGE_TABLES)} CASCADE")
            cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}, {COMMIT_TABLE}")

    def requests(self, events: list, path: str, token: str | None, size: int = 0) -> list[bytes]:
        import gzip

        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.options["gzip"]:
            headers["Content-Encoding"] = "gzip"
        chunks = [events[i : i + size] for i in range(0, len(events), size)] if size else events
        bodies = [orjson.dumps(chunk) for chunk in chunks]
        if self.options["gzip"]:
            bodies = [gzip.compress(body, 1) for body in bodies]
        return [http_request(path, body, headers) for body in bodies]

    def load_run(self, port: int, requests: list[bytes], connections_per_client: int) -> LoadResult:
        connections.close_all()  # the clients fork: they must not share this process's database connection
        result = run_load(port, requests, processes=self.options["clients"], threads=connections_per_client)
        bad = {status: count for status, count in result.statuses.items() if status >= 300}
        if bad:
            raise CommandError(f"refused requests {bad}: {result.sample[:300]!r}")
        return result

    def figures(self, what: str, events: int, result: LoadResult, floor: float | None, floor_name: str = "") -> tuple:
        rate = events / result.seconds
        ratio = f"{rate / floor:.2f} × {floor_name}" if floor else "-"
        p50, p95 = percentile(result.latencies, 0.5) * 1000, percentile(result.latencies, 0.95) * 1000
        self.say(f"{what}: {events} events in {result.seconds:.2f} s = {rate:,.0f}/s, p50 {p50:.1f} ms, p95 {p95:.1f}")
        return (what, f"{rate:,.0f}", ratio, f"{p50:.1f}", f"{p95:.1f}"), rate

    # --- servers ---------------------------------------------------------------------------------------------

    def env(self, settings_module: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE=settings_module,
            DATABASE_URL=self.database_url,
            DJANGO_DEBUG="0",
            TRIBUTARY_PLAIN_HTTP="1",  # gunicorn on 127.0.0.1, no TLS in front: no HTTPS redirect
            PROMETHEUS_MULTIPROC_DIR=self.prometheus_dir,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        )
        env.pop("CELERY_BROKER_URL", None)
        if self.broker:
            env["CELERY_BROKER_URL"] = self.broker
        return env

    def start_gunicorn(self, settings_module: str) -> tuple[subprocess.Popen, int]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "governance.wsgi:application",
                "--workers",
                str(self.options["workers"]),
                "--threads",
                str(self.options["threads"]),
                "--worker-class",
                "gthread",
                "--bind",
                f"127.0.0.1:{port}",
                "--keep-alive",
                "30",
                "--backlog",
                "512",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env(settings_module),
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(f"gunicorn exited with {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if b" 200 " in sock.recv(100):
                        return process, port
            except OSError:
                pass
            time.sleep(0.2)
        self.stop(process)
        raise CommandError("gunicorn did not answer /healthz within 60 s")

    def start_worker(self, *, purge: bool = True) -> subprocess.Popen:
        """A Celery worker (solo pool: one deriver) on the broker; `purge` drops wake-ups left by earlier runs."""
        if purge:
            subprocess.run(
                [sys.executable, "-m", "celery", "-A", "governance", "purge", "-f"],
                cwd=ROOT,
                env=self.env("governance.settings"),
                stdout=subprocess.DEVNULL,
                check=False,
            )
        return subprocess.Popen(
            SOLO_WORKER,
            cwd=ROOT,
            env=self.env("governance.settings"),
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    # --- floors ----------------------------------------------------------------------------------------------

    def floors(self) -> dict:
        out: dict = {"rows": []}
        body = orjson.dumps(airflow_events(1)[0]).decode()
        count = self.options["commits"]
        with psycopg.connect(self.database_url, autocommit=True) as pg:
            pg.execute(f"CREATE TABLE IF NOT EXISTS {COMMIT_TABLE} (id bigserial PRIMARY KEY, body text NOT NULL)")
            pg.execute(f"TRUNCATE {COMMIT_TABLE}")
            latencies = []
            started = time.monotonic()
            for _ in range(count):
                sent = time.perf_counter()
                pg.execute(f"INSERT INTO {COMMIT_TABLE} (body) VALUES (%s)", (body,))
                latencies.append(time.perf_counter() - sent)
            seconds = time.monotonic() - started
            pg.execute(f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (LIKE lineage_rawevent INCLUDING ALL)")
            pg.execute(f"TRUNCATE {FLOOR_TABLE}")
        result = LoadResult(started=0, finished=seconds, latencies=latencies)
        row, out["commits"] = self.figures("PostgreSQL one-row commits, 1 writer", count, result, None)
        out["rows"].append(row)

        server, port = self.start_gunicorn("bench.settings")
        try:
            self.load_run(port, self.requests(airflow_events(400, seed=7), "/floor/lineage", None), 2)  # warm-up
            events = airflow_events(self.options["floor_events"], seed=8)
            result = self.load_run(port, self.requests(events, "/floor/lineage", None), self.options["connections"])
            row, out["single"] = self.figures("bare view, single events", len(events), result, out["commits"], "PG")
            out["rows"].append(row)
            events = airflow_events(self.options["floor_events"] * 3, seed=9)
            size = self.options["batch_size"]
            requests = self.requests(events, "/floor/lineage/batch", None, size)
            result = self.load_run(port, requests, self.options["batch_connections"])
            row, out["batch"] = self.figures(f"bare view, batches of {size}", len(events), result, None)
            out["rows"].append(row)
        finally:
            self.stop(server)
        return out

    # --- the app ---------------------------------------------------------------------------------------------

    def app(self, floors: dict) -> list[tuple]:
        rows = []
        token = create_token(name=f"bench-ingest-{uuid.uuid4().hex[:6]}", scope="ingest").secret
        self.worker = self.start_worker() if self.broker else None
        server, port = self.start_gunicorn("governance.settings")
        try:
            self.load_run(port, self.requests(airflow_events(400, seed=17), "/api/v1/lineage", token), 2)  # warm-up
            self.wait_derived(time.monotonic())
            if self.options["deriver"] == "after" and self.worker is not None:
                self.stop(self.worker)
            if "single" not in self.skip:
                events = airflow_events(self.options["events"], seed=18)
                requests = self.requests(events, "/api/v1/lineage", token)
                rows += self.measure("single", events, requests, port, self.options["connections"], floors)
            if "batch" not in self.skip:
                size = self.options["batch_size"]
                events = airflow_events(self.options["batch_events"], seed=19)
                requests = self.requests(events, "/api/v1/lineage/batch", token, size)
                rows += self.measure("batch", events, requests, port, self.options["batch_connections"], floors)
        finally:
            self.stop(server)
            if self.worker is not None:
                self.stop(self.worker)
        return rows

    def measure(self, kind: str, events: list, requests: list[bytes], port: int, per_client: int, floors) -> list:
        runs_before = Run.objects.count()
        result = self.load_run(port, requests, per_client)
        floor, floor_name = (floors.get("single"), "bare") if kind == "single" else (floors.get("batch"), "bare batch")
        what = "single-event endpoint, accepted" if kind == "single" else "batch endpoint, accepted"
        row, _ = self.figures(what, len(events), result, floor, floor_name)
        if self.options["deriver"] == "after" and self.broker:
            self.worker = self.start_worker(purge=False)  # the wake-ups sent while posting are waiting for it
            result.started = time.monotonic()  # derivation is timed from the worker's start
        derived_at = self.wait_derived(result.finished)
        if self.options["deriver"] == "after" and self.broker:
            self.stop(self.worker)
        runs = Run.objects.count() - runs_before
        if runs != len(events):
            raise CommandError(f"{runs} runs derived from {len(events)} events")
        seconds = derived_at - result.started
        rate = len(events) / seconds
        ratio = f"{rate / floors['single']:.2f} × bare" if floors.get("single") else "-"
        self.say(
            f"{kind}: derived {runs} runs {derived_at - result.finished:.2f} s after the last answer, "
            f"{seconds:.2f} s after the first request = {rate:,.0f} events/s end to end"
        )
        since = "worker start" if self.options["deriver"] == "after" else "first request"
        derived = (f"{kind}: derived ({since} → queue empty, {seconds:.1f} s)", f"{rate:,.0f}", ratio, "", "")
        return [row, derived]

    def wait_derived(self, since: float, timeout: float = 900) -> float:
        """The moment (monotonic) the derive queue was first seen empty, polling every 20 ms."""
        deadline = since + timeout
        with psycopg.connect(self.database_url, autocommit=True) as pg:
            while time.monotonic() < deadline:
                if not pg.execute(f"SELECT EXISTS (SELECT 1 FROM {DeriveQueue._meta.db_table})").fetchone()[0]:
                    return time.monotonic()
                time.sleep(0.02)
        pending = DeriveQueue.objects.count()
        raise CommandError(f"{pending} of {RawEvent.objects.count()} events still not derived after {timeout:.0f} s")
