from datetime import UTC, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from governance.audit import cli_actor
from governance.models import ApiToken
from governance.tokens import create_token, describe_expiry


class Command(BaseCommand):
    help = (
        "Create an API token. What it is (scope, namespaces, owner, expiry) is printed first; the secret is printed "
        "once, alone on the last line of stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="What the token is for, e.g. 'airflow-prod'.")
        parser.add_argument(
            "--scope",
            required=True,
            choices=ApiToken.Scope.values,
            help="ingest: write lineage (Airflow). read: read lineage. governance-read: read lineage and the "
            "owner's governance data (audit trail, compliance, connection metadata); needs --owner.",
        )
        parser.add_argument(
            "--namespace",
            action="append",
            default=[],
            dest="namespaces",
            help="Limit the token to this namespace (repeat for several). Default: all namespaces.",
        )
        parser.add_argument("--owner", help="Username the token belongs to (read tokens act with their rights).")
        expiry = parser.add_mutually_exclusive_group()
        expiry.add_argument(
            "--expires-in-days",
            type=int,
            help="Expire the token after this many days. Default: TRIBUTARY_TOKEN_LIFETIME_DAYS "
            "(TRIBUTARY_INGEST_TOKEN_LIFETIME_DAYS for ingest tokens).",
        )
        expiry.add_argument("--expires-at", help="Expire the token at this time (ISO 8601; UTC if no offset).")
        expiry.add_argument("--no-expiry", action="store_true", help="The token never expires (until revoked).")

    def handle(self, *args, name, scope, namespaces, owner=None, **options):
        user = None
        if owner:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"no user named {owner!r}")
        try:
            issued = create_token(
                name=name,
                scope=scope,
                namespaces=namespaces,
                owner=user,
                expires_at=self.expiry(options),
                never_expires=options["no_expiry"],
                actor=cli_actor(),
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        token = issued.token
        where = ", ".join(token.namespaces) or "all namespaces"
        whose = f", owned by {token.owner.get_username()}" if token.owner else ""
        self.stdout.write(f"Created {scope} token {token.name!r} ({token.prefix}…) for {where}{whose}.")
        self.stdout.write(f"Expires: {describe_expiry(token)}.")
        self.stderr.write("The token is on the next line of stdout, shown once: copy it now.")
        self.stdout.write(issued.secret)

    @staticmethod
    def expiry(options):
        days, at = options.get("expires_in_days"), options.get("expires_at")
        if days is not None:
            if days <= 0:
                raise CommandError("--expires-in-days must be a positive number of days")
            return timezone.now() + timedelta(days=days)
        if at is not None:
            try:
                moment = parse_datetime(at)
            except ValueError:
                moment = None
            if moment is None:
                raise CommandError(f"--expires-at {at!r} is not an ISO 8601 time, e.g. 2027-01-31T00:00:00Z")
            if timezone.is_naive(moment):
                moment = moment.replace(tzinfo=UTC)
            if moment <= timezone.now():
                raise CommandError("--expires-at must be in the future")
            return moment
        return None
