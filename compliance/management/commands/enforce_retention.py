from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from compliance.services import enforce_retention


class Command(BaseCommand):
    help = (
        "Apply the retention rules: remove raw events and runs older than the metadata retention and audit records "
        "older than the audit retention (through the chain-preserving cut), never what a legal hold covers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say what would go; change nothing.")
        parser.add_argument("--as", dest="username", help="Record the run as done by this user.")

    def handle(self, *args, dry_run=False, username=None, **options):
        user = None
        if username:
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"no user named {username!r}")
        outcome = enforce_retention(dry_run=dry_run, user=user)
        verb = "Would remove" if dry_run else "Removed"
        self.stdout.write(
            f"{verb} {outcome.raw_events} raw event(s) and {outcome.runs} run(s) older than "
            f"{outcome.cutoffs['metadata'][:10]}, and {outcome.audit_records} audit record(s) older than "
            f"{outcome.cutoffs['audit'][:10]}; {outcome.held_raw_events} old raw event(s) kept under legal hold."
        )
