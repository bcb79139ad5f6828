from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError

from governance import audit, auditchain


class Command(BaseCommand):
    help = (
        "Sign the audit chain head (sequence, hash) with an Ed25519 private key; the signature becomes a record and "
        "is kept in the checkpoint table. --output also writes it to a file: keep that copy off this database, "
        "it is what `audit_verify --checkpoint` holds the trail to even if the database was emptied."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--key", type=Path, required=True, help="Ed25519 private key (PEM), e.g. from audit_keygen."
        )
        parser.add_argument("--output", type=Path, help="Also write the signed checkpoint (JSON) to this file.")

    def handle(self, *args, key, output=None, **options):
        try:
            private_key = auditchain.load_private_key(key.read_bytes())
        except (OSError, ValueError, TypeError) as error:
            raise CommandError(f"cannot read the private key {key}: {error}") from None
        try:
            item = audit.checkpoint(private_key=private_key, actor=audit.cli_actor())
        except ValueError as error:
            raise CommandError(str(error)) from None
        detail = item.detail
        if output is not None:
            try:
                output.write_bytes(orjson.dumps(detail, option=orjson.OPT_SORT_KEYS) + b"\n")
            except OSError as error:
                raise CommandError(f"signed record {detail['sequence']}, but cannot write {output}: {error}") from None
        self.stdout.write(
            f"Signed record {detail['sequence']} ({detail['hash']}) with key {detail['key_id']}: "
            f"checkpoint record {item.sequence}."
        )
