from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from governance import connections, crypto
from governance.models import Connection


class Command(BaseCommand):
    help = (
        "Re-encrypt every connection secret with the newest key, in batches (each batch its own transaction). "
        "Safe to interrupt and run again: it continues where it stopped. Afterwards the old keys can be removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            newest = crypto.current_key_id()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        pending = Connection.objects.exclude(key_id=newest).exclude(password_encrypted="", extra_encrypted="")
        self.stderr.write(f"{pending.count()} connection(s) to re-encrypt with key {newest}.")
        try:
            done = connections.rotate_keys(
                batch_size=batch_size, on_batch=lambda n: self.stderr.write(f"  {n} re-encrypted")
            )
        except crypto.SecretError as error:
            raise CommandError(f"{error}. Finished batches are saved; fix the keys and run this again.") from None
        self.stdout.write(f"{done} connection(s) re-encrypted; every secret now uses key {newest}.")
