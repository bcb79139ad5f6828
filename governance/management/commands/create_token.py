from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from governance.audit import cli_actor
from governance.tokens import create_token


class Command(BaseCommand):
    help = "Create an API token. The secret is printed once, alone on the last line of stdout."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="What the token is for, e.g. 'airflow-prod'.")
        parser.add_argument("--scope", required=True, choices=["ingest", "read"])
        parser.add_argument(
            "--namespace",
            action="append",
            default=[],
            dest="namespaces",
            help="Limit the token to this namespace (repeat for several). Default: all namespaces.",
        )
        parser.add_argument("--owner", help="Username the token belongs to (read tokens act with their rights).")
        parser.add_argument("--expires-in-days", type=int, help="Expire the token after this many days.")

    def handle(self, *args, name, scope, namespaces, owner=None, expires_in_days=None, **options):
        user = None
        if owner:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"no user named {owner!r}")
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be a positive number of days")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            issued = create_token(
                name=name, scope=scope, namespaces=namespaces, owner=user, expires_at=expires_at, actor=cli_actor()
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        where = ", ".join(issued.token.namespaces) or "all namespaces"
        self.stderr.write(f"Created {scope} token {issued.token.name!r} for {where}. It is shown once:")
        self.stdout.write(issued.secret)
