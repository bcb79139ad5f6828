import time

from django.core.management.base import BaseCommand

from lineage.derive import queue
from lineage.derive.queue import derive_pending
from lineage.models import Dataset, Job, Run


class Command(BaseCommand):
    help = "Derive the whole lineage graph again from the stored raw events."

    def handle(self, *args, **options):
        started = time.monotonic()
        queued = queue.rebuild()
        self.stderr.write(f"Derived tables cleared; {queued} raw events queued.")
        derived = derive_pending()
        self.stdout.write(
            f"Rebuilt from {derived} events in {time.monotonic() - started:.1f} s: "
            f"{Dataset.objects.count()} datasets, {Job.objects.count()} jobs, {Run.objects.count()} runs."
        )
