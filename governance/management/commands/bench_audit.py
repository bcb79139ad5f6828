"""What the audit trail costs: `python manage.py bench_audit` (a benchmark, not a test; see docs/benchmarks.md).

1. Ingestion and a metadata-like edit, with auditing on and off (TRIBUTARY_AUDIT_ENABLED), alternating.
2. Hash-chained appends per second with 1 and N concurrent writer processes, against the same rows appended
   without the chain (no head lock, no link): the price of serialising the chain.
3. Exporting the last 200,000 records as CSV and JSON lines: rate, and the exporter's peak memory (tracemalloc in
   a second pass, and the peak RSS of a fresh process that only exports).

It writes events, datasets and audit records into the database it runs on, so it refuses a database whose name
does not contain "bench" unless told --i-know.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from governance import audit
from governance.auditchain import GENESIS_HASH, entry_hash, format_time
from governance.models import AuditRecord
from governance.tokens import authenticate_secret, create_token
from lineage import demo
from lineage.ingest import services
from lineage.models import Dataset

UNCHAINED_TABLE = "bench_audit_unchained"


class Command(BaseCommand):
    help = "Benchmark the audit trail: record cost on/off, concurrent chained appends, exports of 200,000 records."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=4000, help="Events ingested per setting (on, off).")
        parser.add_argument("--edits", type=int, default=2000, help="Metadata edits per setting (on, off).")
        parser.add_argument("--writers", type=int, default=4, help="Concurrent writer processes.")
        parser.add_argument("--appends", type=int, default=1500, help="Records appended per writer.")
        parser.add_argument("--export-records", type=int, default=200_000)
        parser.add_argument("--skip", action="append", default=[], choices=["cost", "appends", "export"])
        parser.add_argument("--i-know", action="store_true", help="Run on a database not named *bench*.")
        # Internal: the child processes.
        parser.add_argument("--worker", choices=["chained", "unchained", "export"], help="(internal)")
        parser.add_argument("--worker-args", default="", help="(internal)")

    def handle(self, *args, **options):
        if options["worker"]:
            return self.worker(options["worker"], json.loads(options["worker_args"]))
        name = str(connection.settings_dict["NAME"])
        if "bench" not in name and not options["i_know"]:
            raise CommandError(f"this writes benchmark data into {name!r}: use a *bench* database or --i-know")
        self.say(f"# bench_audit on {connection.vendor} {name}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        self.say(f"# {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, server {self.server_version()}")
        if "cost" not in options["skip"]:
            self.record_cost(options["events"], options["edits"])
        if "appends" not in options["skip"]:
            if connection.vendor != "postgresql":
                self.say("appends: skipped, concurrent writers need PostgreSQL")
            else:
                self.appends(options["writers"], options["appends"])
        if "export" not in options["skip"]:
            self.export(options["export_records"])

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def server_version(self) -> str:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SHOW server_version")
            else:
                cursor.execute("SELECT sqlite_version()")
            return cursor.fetchone()[0]

    # 1. Record cost.

    def record_cost(self, events: int, edits: int) -> None:
        template = self.airflow_event()
        size = len(json.dumps(template))
        token = create_token(name=f"bench-{uuid.uuid4().hex[:6]}", scope="ingest")
        user, _ = get_user_model().objects.get_or_create(username="bench-steward")
        services.ingest_event(event=self.fresh(template), derive=True)  # a dataset to edit
        dataset = Dataset.objects.order_by("pk").first()

        def ingest(count: int) -> list[float]:
            timings = []
            for _ in range(count):
                event = self.fresh(template)
                started = time.perf_counter()
                authenticate_secret(token.secret)
                services.ingest_event(event=event, token=token.token, derive=False)
                timings.append(time.perf_counter() - started)
            return timings

        def edit(count: int) -> list[float]:
            timings = []
            for number in range(count):
                started = time.perf_counter()
                with transaction.atomic():
                    # The namespace too, as an edit page would load it: the record names the dataset by it.
                    row = Dataset.objects.select_related("namespace").select_for_update(of=("self",)).get(pk=dataset.pk)
                    before = audit.fields_of(row, ["description", "tags"])
                    row.description = f"Orders as booked, edit {number}"
                    row.tags = ["pii", f"tier-{number % 3}"]
                    row.save(update_fields=["description", "tags"])
                    after = audit.fields_of(row, ["description", "tags"])
                    audit.record("metadata.updated", actor=user, target=row, changes=audit.diff(before, after))
                timings.append(time.perf_counter() - started)
            return timings

        for label, work, total in (("ingestion", ingest, events), ("metadata edit", edit, edits)):
            work(min(200, total))  # warm up
            # On and off alternate operation by operation, so that a busy neighbour slows both alike.
            results = {True: [], False: []}
            for number in range(total * 2):
                enabled = number % 2 == 0
                settings.TRIBUTARY_AUDIT_ENABLED = enabled
                try:
                    results[enabled] += work(1)
                finally:
                    settings.TRIBUTARY_AUDIT_ENABLED = True
            on, off = self.summary(results[True]), self.summary(results[False])
            extra = (on["mean_ms"] - off["mean_ms"]) * 1000
            what = f" (~{size / 1024:.1f} KiB Airflow event, token auth, derive deferred)" if work is ingest else ""
            self.say(
                f"{label}{what}: "
                f"audit on {on['per_s']:,.0f}/s (p50 {on['p50_ms']:.2f} ms, p95 {on['p95_ms']:.2f} ms), "
                f"off {off['per_s']:,.0f}/s (p50 {off['p50_ms']:.2f} ms, p95 {off['p95_ms']:.2f} ms); "
                f"recording adds {extra:+.0f} µs per operation ({(on['mean_ms'] / off['mean_ms'] - 1) * 100:+.1f}%)"
            )

    @staticmethod
    def summary(timings: list[float]) -> dict:
        ordered = sorted(timings)
        mean = statistics.fmean(ordered)
        return {
            "per_s": 1 / mean,
            "mean_ms": mean * 1000,
            "p50_ms": ordered[len(ordered) // 2] * 1000,
            "p95_ms": ordered[int(len(ordered) * 0.95)] * 1000,
        }

    @staticmethod
    def airflow_event() -> dict:
        """A ~3 KiB event of the demo estate (Airflow 3 provider shape): a SQL check's COMPLETE."""
        events = demo.demo_events(base=datetime(2025, 6, 1, tzinfo=UTC), days=1)
        return min(events, key=lambda event: abs(len(json.dumps(event)) - 3072))

    @staticmethod
    def fresh(template: dict) -> dict:
        event = json.loads(json.dumps(template))
        event["run"]["runId"] = str(uuid.uuid4())
        return event

    # 2. Concurrent appends.

    def appends(self, writers: int, each: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {UNCHAINED_TABLE}")
            cursor.execute(
                f"CREATE TABLE {UNCHAINED_TABLE} "
                "(LIKE governance_auditrecord INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES)"
            )
            cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {UNCHAINED_TABLE}_seq")
        try:
            # Each chained run right next to its unchained twin, so that both see the same machine.
            for count in sorted({1, writers}):
                for mode in ("chained", "unchained"):
                    rate, latencies = self.run_writers(mode, count, each)
                    self.say(
                        f"appends, {mode}, {count} writer{'s' if count > 1 else ''}: {rate:,.0f} records/s "
                        f"(per append p50 {statistics.median(latencies):.2f} ms, "
                        f"p99 {sorted(latencies)[int(len(latencies) * 0.99)]:.2f} ms)"
                    )
            result = audit.verify_chain()
            self.say(
                f"chain after the concurrent appends: {'intact' if result.ok else result.broken}, "
                f"{result.count:,} records"
            )
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {UNCHAINED_TABLE}")
                cursor.execute(f"DROP SEQUENCE IF EXISTS {UNCHAINED_TABLE}_seq")

    def run_writers(self, mode: str, count: int, each: int) -> tuple[float, list[float]]:
        start_at = time.time() + 3  # every process has started Django before any appends
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "django",
                    "bench_audit",
                    "--worker",
                    mode,
                    "--worker-args",
                    json.dumps({"count": each, "start_at": start_at}),
                ],
                cwd=settings.BASE_DIR,
                env={**os.environ, "DJANGO_SETTINGS_MODULE": "governance.settings"},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(count)
        ]
        reports = []
        for process in processes:
            out, err = process.communicate(timeout=900)
            if process.returncode != 0:
                raise CommandError(f"a {mode} writer failed: {err.decode()[-2000:]}")
            reports.append(json.loads(out.decode().strip().splitlines()[-1]))
        elapsed = max(r["end"] for r in reports) - min(r["start"] for r in reports)
        latencies = [ms for r in reports for ms in r["latencies_ms"]]
        return count * each / elapsed, latencies

    # 3. Export.

    def export(self, total: int) -> None:
        present = AuditRecord.objects.count()
        if present < total:
            started = time.perf_counter()
            audit.bulk_append(
                {
                    "action": "metadata.updated",
                    "actor": f"steward{n % 12}",
                    "target": ("lineage.dataset", n, f"postgres://warehouse:5432/analytics.mart.table_{n % 500}"),
                    "changes": {"description": {"before": f"Table {n}", "after": f"Table {n}, reviewed"}},
                    "detail": {"reason": "quarterly review"},
                }
                for n in range(total - present)
            )
            self.say(f"seeded {total - present:,} records in {time.perf_counter() - started:.1f} s (bulk_append)")
        last = AuditRecord.objects.order_by("-sequence").values_list("sequence", flat=True).first()
        first = last - total + 1
        for fmt in audit.EXPORT_FORMATS:
            rate = self.run_export(fmt, first, last)
            started = time.perf_counter()
            tracemalloc.start()
            try:
                consumed = sum(len(c) for c in self.export_stream(fmt, first, last))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            traced_seconds = time.perf_counter() - started
            self.say(
                f"export {fmt}, {total:,} records ({consumed / 2**20:.0f} MiB): "
                f"{rate['records_per_s']:,.0f} records/s, "
                f"{rate['mib_per_s']:.1f} MiB/s; peak Python memory {peak / 2**20:.1f} MiB (tracemalloc, "
                f"{traced_seconds:.0f} s traced); exporter process RSS {rate['rss_before_mib']:.0f} MiB before, "
                f"{rate['rss_peak_mib']:.0f} MiB peak"
            )

    @staticmethod
    def export_stream(fmt: str, first: int, last: int):
        records = AuditRecord.objects.matching(first=first, last=last)
        return audit.export_records(records=records, fmt=fmt, actor="bench", via="cli")

    def run_export(self, fmt: str, first: int, last: int) -> dict:
        """Export in a fresh process, so that its peak RSS is the exporter's alone."""
        process = subprocess.run(
            [
                sys.executable,
                "-m",
                "django",
                "bench_audit",
                "--worker",
                "export",
                "--worker-args",
                json.dumps({"fmt": fmt, "first": first, "last": last}),
            ],
            cwd=settings.BASE_DIR,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "governance.settings"},
            capture_output=True,
            timeout=1800,
        )
        if process.returncode != 0:
            raise CommandError(f"the exporter failed: {process.stderr.decode()[-2000:]}")
        return json.loads(process.stdout.decode().strip().splitlines()[-1])

    # The child processes.

    def worker(self, mode: str, args: dict) -> None:
        if mode == "export":
            return self.export_worker(**args)
        time.sleep(max(0.0, args["start_at"] - time.time()))
        latencies = []
        start = time.time()
        for number in range(args["count"]):
            began = time.perf_counter()
            if mode == "chained":
                audit.record(
                    "metadata.updated",
                    actor=f"writer:{os.getpid()}",
                    target=("lineage.dataset", number, f"analytics.mart.table_{number}"),
                    changes={"description": {"before": "", "after": f"writer {os.getpid()}"}},
                )
            else:
                self.unchained_append(number)
            latencies.append((time.perf_counter() - began) * 1000)
        print(json.dumps({"start": start, "end": time.time(), "latencies_ms": latencies}))

    @staticmethod
    def unchained_append(number: int) -> None:
        """The same row and the same hashing, without the head lock or the link: what the chain is compared to."""
        content = audit._content(
            "metadata.updated",
            f"writer:{os.getpid()}",
            ("lineage.dataset", number, f"analytics.mart.table_{number}"),
            "success",
            {"description": {"before": "", "after": f"writer {os.getpid()}"}},
            None,
            None,
        )
        now = datetime.now(UTC)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT nextval('{UNCHAINED_TABLE}_seq')")
            sequence = cursor.fetchone()[0]
            entry = {**content, "sequence": sequence, "time": format_time(now), "previous_hash": GENESIS_HASH}
            cursor.execute(
                f"INSERT INTO {UNCHAINED_TABLE} (sequence, time, actor_id, actor_label, action, object_type, "
                "object_id, object_name, outcome, source_ip, user_agent, request_id, changes, detail, "
                "previous_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    sequence,
                    now,
                    None,
                    entry["actor"],
                    entry["action"],
                    entry["object_type"],
                    entry["object_id"],
                    entry["object_name"],
                    entry["outcome"],
                    "",
                    "",
                    "",
                    json.dumps(entry["changes"]),
                    None,
                    GENESIS_HASH,
                    entry_hash(entry),
                ],
            )

    def export_worker(self, fmt: str, first: int, last: int) -> None:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        size = sum(len(chunk) for chunk in self.export_stream(fmt, first, last))
        seconds = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "records_per_s": (last - first + 1) / seconds,
                    "mib_per_s": size / 2**20 / seconds,
                    "rss_before_mib": rss_before,
                    "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                }
            )
        )
