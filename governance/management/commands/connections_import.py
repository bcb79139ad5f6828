import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from governance import connections


class Command(BaseCommand):
    help = (
        "Import connections from a file in Airflow's formats: JSON as written by `airflow connections export "
        "--format json` ({conn_id: {conn_type, host, login, password, schema, port, extra}}), or lines of "
        "`conn_id=<connection URI>` (or `conn_id <URI>`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--as", dest="username", help="Record the import as done by this user.")

    def handle(self, *args, file, username=None, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        text = path.read_text()
        try:
            specs = json.loads(text)
        except json.JSONDecodeError:
            specs = None
        if specs is not None and not isinstance(specs, dict):
            raise CommandError("the JSON file must map connection ids to connections")
        if specs is None:
            specs = {}
            for number, line in enumerate(text.splitlines(), start=1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                slug, sep, uri = line.partition("=") if "=" in line.split("://")[0] else line.partition(" ")
                if not sep or "://" not in uri:
                    raise CommandError(f"{file}:{number}: expected conn_id=<URI>")
                specs[slug.strip()] = uri.strip()
        user = None
        if username:
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"no user named {username!r}")
        try:
            counts = connections.import_connections(specs=specs, user=user)
        except (ValueError, TypeError) as error:
            raise CommandError(f"nothing imported: {error}") from None
        self.stdout.write(f"{counts['created']} created, {counts['updated']} updated.")
