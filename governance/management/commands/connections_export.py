import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from governance import audit, connections
from governance.models import Connection
from governance.permissions import is_admin


class Command(BaseCommand):
    help = (
        "Export connections in Airflow's JSON (default) or URI format, without secrets. --with-secrets needs "
        "--as an admin user and is recorded in the audit trail."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "uri"], default="json")
        parser.add_argument("--with-secrets", action="store_true")
        parser.add_argument("--as", dest="username", help="The admin asking for secrets.")

    def handle(self, *args, format, with_secrets, username=None, **options):
        if with_secrets:
            user = get_user_model().objects.filter(username=username).first() if username else None
            if user is None or not is_admin(user):
                raise CommandError("--with-secrets is for admins: name one with --as USERNAME")
            audit.record("connection.exported", actor=user, detail={"with_secrets": True})
        items = Connection.objects.order_by("slug")
        if format == "json":
            data = {c.slug: connections.to_airflow(c, with_secrets=with_secrets) for c in items}
            self.stdout.write(json.dumps(data, indent=2))
        else:
            for connection in items:
                self.stdout.write(
                    f"{connection.slug}={connections.to_airflow_uri(connection, with_secrets=with_secrets)}"
                )
