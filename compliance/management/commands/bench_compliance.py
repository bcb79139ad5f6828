"""Benchmark (not a test): a compliance report over a year of history, in each format.

    DATABASE_URL=postgresql://127.0.0.1:5432/tributary_bench_compliance python manage.py migrate
    DATABASE_URL=postgresql://127.0.0.1:5432/tributary_bench_compliance python manage.py bench_compliance

A year of history is made once (and reused): audit records spread over 365 days (logins, refusals, reveals,
metadata edits...) and hourly check results of every rule, with a few failures; the lineage is whatever estate
the database holds (`load_demo` is run when it holds none, so PII flows exist). Then the report of the whole
year is generated in JSON, CSV and PDF, timing each and tracing the Python heap's peak.
"""

import random
import time
import tracemalloc
from datetime import timedelta

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils import timezone

from compliance import services
from compliance.models import CheckResult, CheckRun, ComplianceRule
from governance import audit
from governance.models import AuditRecord
from lineage.models import Dataset

ACTIONS = [
    ("auth.login", "success", 40),
    ("auth.login_failed", "failure", 3),
    ("access.denied", "denied", 2),
    ("metadata.updated", "success", 8),
    ("connection.revealed", "success", 1),
    ("connection.revealed", "denied", 1),
    ("token.first_use", "success", 1),
    ("compliance.report_downloaded", "success", 1),
]
MARKER = "bench_compliance"


class Command(BaseCommand):
    help = "Time a compliance report over a year of history (JSON, CSV, PDF) and its memory peak."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--audit-per-day", type=int, default=2000, help="Audit records made per day.")

    def handle(self, *args, days, audit_per_day, **options):
        end = timezone.now()
        start = end - timedelta(days=days)
        if not Dataset.objects.exists():
            self.stderr.write("No lineage yet: loading the demo estate.")
            call_command("load_demo", stdout=self.stderr)
        if not AuditRecord.objects.filter(detail__bench=MARKER).exists():
            self._make_history(start, days, audit_per_day)
        records = AuditRecord.objects.filter(time__gte=start, time__lt=end).count()
        results = CheckResult.objects.filter(checked_at__gte=start, checked_at__lt=end).count()
        self.stdout.write(
            f"History in the period: {records:,} audit records, {results:,} check results, "
            f"{Dataset.objects.count():,} datasets."
        )

        rows = []
        for fmt in ("json", "csv", "pdf"):
            tracemalloc.start()
            began = time.perf_counter()
            _, content, _ = services.generate_report(start=start, end=end, fmt=fmt, user=None)
            seconds = time.perf_counter() - began
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rows.append((fmt, seconds, peak / 2**20, len(content) / 1024))
        self.stdout.write(f"{'format':<8}{'seconds':>10}{'peak MiB':>10}{'size KiB':>10}")
        for fmt, seconds, peak, size in rows:
            self.stdout.write(f"{fmt:<8}{seconds:>10.2f}{peak:>10.1f}{size:>10.0f}")

    def _make_history(self, start, days, per_day):
        rng = random.Random(7)
        weights = [w for _, _, w in ACTIONS]
        self.stderr.write(f"Making {days * per_day:,} audit records over {days} days...")

        def records():
            for day in range(days):
                base = start + timedelta(days=day)
                for n in range(per_day):
                    action, outcome, _ = rng.choices(ACTIONS, weights=weights)[0]
                    yield {
                        "action": action,
                        "actor": f"user{n % 40}",
                        "outcome": outcome,
                        "target": ("lineage.dataset", n % 500, f"warehouse.mart.table_{n % 500}"),
                        "detail": {"bench": MARKER},
                        "time": base + timedelta(seconds=n * 86400 / per_day),
                    }

        audit.bulk_append(records(), batch_size=20000)
        self.stderr.write("Making hourly check results...")
        rules = list(ComplianceRule.objects.all())
        results = []
        for hour in range(days * 24 + 1):  # up to now: the report finds its checks recent, as with a worker
            at = start + timedelta(hours=hour)
            run = CheckRun.objects.create(trigger="schedule", started_at=at, finished_at=at)
            for rule in rules:
                failing = rng.random() < 0.05
                results.append(
                    CheckResult(
                        run=run,
                        rule_id=rule.id,
                        category=rule.category,
                        severity=rule.severity,
                        status="fail" if failing else "pass",
                        violation_count=int(failing),
                        checked_at=at,
                    )
                )
            if len(results) > 20000:
                CheckResult.objects.bulk_create(results)
                results = []
        CheckResult.objects.bulk_create(results)
