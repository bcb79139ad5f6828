from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management.base import BaseCommand, CommandError

from compliance import signing


class Command(BaseCommand):
    help = "Print the public key that signs compliance reports, or --generate PATH a new private key (0600)."
    requires_system_checks = []  # makes keys: must work before the setup is complete

    def add_arguments(self, parser):
        parser.add_argument("--generate", metavar="PATH", help="Write a new Ed25519 private key here.")

    def handle(self, *args, generate=None, **options):
        if generate:
            path = Path(generate)
            if path.exists():
                raise CommandError(f"{path} exists; refusing to overwrite a key")
            signing.write_private_key(path, Ed25519PrivateKey.generate())
            self.stderr.write(f"Wrote {path} (0600). Set TRIBUTARY_REPORT_SIGNING_KEY_FILE={path}.")
            return
        public = signing.private_key().public_key()
        self.stderr.write(f"Key id {signing.key_id(public)}; give this public key to auditors:")
        self.stdout.write(signing.public_pem(public))
