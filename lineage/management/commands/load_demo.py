import time
from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from governance.models import Namespace
from lineage import annotations
from lineage.demo import DEFAULT_DAYS, STEWARD_NOTES, demo_events, history_days, utc_midnight
from lineage.derive.queue import derive_pending
from lineage.ingest import services
from lineage.models import Dataset, Job, RawEvent, Run, RunState


class Command(BaseCommand):
    help = (
        "Load a demo Airflow estate (seven DAGs on two Airflow instances, OpenLineage events of the last days) "
        "through ingestion. Running it again the same day adds nothing; on a later day it adds the new days."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=DEFAULT_DAYS, help=f"Days of history before today (default {DEFAULT_DAYS})."
        )

    def handle(self, *args, days: int, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        began = time.monotonic()
        base = utc_midnight()
        # The stories are counted from the first day the demo was ever loaded, so days already loaded come out
        # the same (duplicates) when the demo is extended later.
        first = RawEvent.objects.filter(source="demo").order_by("pk").values_list("event_time", flat=True).first()
        events = demo_events(base=base, days=days, first_day=first.date() if first else None)

        counts: Counter[str] = Counter()
        problems = []
        for event in events:
            result = services.ingest_event(event=event, source="demo", derive=False)
            counts[result.outcome] += 1
            for problem in result.errors + result.warnings:
                problems.append(f"{event['job']['name']} {event['eventType']}: {problem['path']}: {problem['message']}")
        derived = derive_pending()
        if problems:
            # The demo is meant to be spotless; a problem here is a bug in lineage.demo or in validation.
            raise CommandError(f"{len(problems)} problem(s) in demo events, first: {problems[0]}")

        for note in STEWARD_NOTES:
            annotations.update_metadata(
                kind=note["kind"], namespace=note["namespace"], name=note["name"], changes=note["changes"], user=None
            )

        runs = Run.objects.all()
        history = list(history_days(base=base, days=days))
        self.stdout.write(f"Demo history: {history[0]} to {history[-1]} ({days} days).")
        self.stdout.write(
            f"{len(events)} events: {counts[services.ACCEPTED]} accepted, {counts[services.DUPLICATE]} duplicates; "
            f"{derived} derived in {time.monotonic() - began:.1f} s."
        )
        self.stdout.write(
            f"The store now holds {Dataset.objects.count()} datasets, {Job.objects.count()} jobs and "
            f"{runs.count()} runs ({runs.filter(state=RunState.FAILED).count()} failed) "
            f"in {Namespace.objects.count()} namespaces; stewards classified {len(STEWARD_NOTES)} datasets."
        )
