import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance import auditchain


class Command(BaseCommand):
    help = "Write a new Ed25519 key pair for signing audit checkpoints: PREFIX.pem (private, 0600) and PREFIX.pub."
    requires_system_checks = []  # makes keys: must work before the setup is complete

    def add_arguments(self, parser):
        parser.add_argument("--out", default="audit-ed25519", help="Path prefix of the two files.")

    def handle(self, *args, out, **options):
        private_path, public_path = Path(f"{out}.pem"), Path(f"{out}.pub")
        for path in (private_path, public_path):
            if path.exists():
                raise CommandError(f"{path} exists: not overwriting a key")
        private_pem, public_pem = auditchain.generate_key_pair()
        # Created 0600 from the start, so the private key is never readable by others, even for a moment.
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_pem)
        public_path.write_bytes(public_pem)
        self.stdout.write(f"Wrote {private_path} (private, keep it off this server if you can) and {public_path}.")
