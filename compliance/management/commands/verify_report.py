import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance import signing


class Command(BaseCommand):
    help = (
        "Prove a downloaded compliance report was not edited: check it against its detached signature "
        "(FILE.sig by default) and, better, against the server's public key (--public-key)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--signature", help="The .sig file (default: FILE.sig).")
        parser.add_argument("--public-key", help="PEM file of the trusted public key (report_signing_key --public).")

    def handle(self, *args, file, signature=None, public_key=None, **options):
        report = Path(file)
        sig_path = Path(signature or f"{file}.sig")
        for path in (report, sig_path):
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
        try:
            sig = json.loads(sig_path.read_text())
        except json.JSONDecodeError:
            raise CommandError(f"{sig_path} is not a signature file") from None
        key = Path(public_key).read_text() if public_key else None
        result = signing.verify(report.read_bytes(), sig, public_key_pem=key)
        if not result.ok:
            raise CommandError(f"NOT VERIFIED: {result.message}")
        self.stdout.write(f"VERIFIED: {result.message}")
