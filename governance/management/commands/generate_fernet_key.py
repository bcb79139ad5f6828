from django.core.management.base import BaseCommand

from governance.crypto import generate_key, key_id


class Command(BaseCommand):
    help = (
        "Print a new Fernet key. Put it first in TRIBUTARY_FERNET_KEYS (or the first line of the 0600 key file), "
        "keep the old keys after it, run rotate_fernet_keys, then drop the old keys."
    )
    requires_system_checks = []  # makes keys: must work before the setup is complete

    def handle(self, *args, **options):
        key = generate_key()
        self.stderr.write(f"New key, id {key_id(key)}:")
        self.stdout.write(key)
