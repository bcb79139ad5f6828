from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from governance import audit


class Command(BaseCommand):
    help = (
        "Delete audit records older than --days (default TRIBUTARY_AUDIT_RETENTION_DAYS), leaving an anchor "
        "record that keeps the chain verifiable. --dry-run only says what would go."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Keep this many days of records.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would be deleted; change nothing.")

    def handle(self, *args, days=None, dry_run=False, **options):
        days = settings.TRIBUTARY_AUDIT_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError("--days must be at least 1")
        before = timezone.now() - timedelta(days=days)
        cut = audit.audit_retention_cut(before=before, dry_run=dry_run, actor=audit.cli_actor())
        span = f" (records {cut.first_sequence}–{cut.last_sequence})" if cut.count else ""
        if dry_run:
            self.stdout.write(f"Would delete {cut.count} records older than {before:%Y-%m-%d %H:%M:%S} UTC{span}.")
        else:
            self.stdout.write(
                f"Deleted {cut.count} records older than {before:%Y-%m-%d %H:%M:%S} UTC{span}; "
                f"anchor: record {cut.anchor.sequence}."
            )
