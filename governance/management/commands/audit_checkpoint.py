from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance import audit, auditchain


class Command(BaseCommand):
    help = "Sign the audit chain head (sequence, hash) with an Ed25519 private key; the signature becomes a record."

    def add_arguments(self, parser):
        parser.add_argument(
            "--key", type=Path, required=True, help="Ed25519 private key (PEM), e.g. from audit_keygen."
        )

    def handle(self, *args, key, **options):
        try:
            private_key = auditchain.load_private_key(key.read_bytes())
        except (OSError, ValueError, TypeError) as error:
            raise CommandError(f"cannot read the private key {key}: {error}") from None
        try:
            item = audit.checkpoint(private_key=private_key, actor=audit.cli_actor())
        except ValueError as error:
            raise CommandError(str(error)) from None
        detail = item.detail
        self.stdout.write(
            f"Signed record {detail['sequence']} ({detail['hash']}) with key {detail['key_id']}: "
            f"checkpoint record {item.sequence}."
        )
