from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance import audit, auditchain


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain (all of it, or --from/--to) and report the first broken link; "
        "or verify an exported JSON-lines file offline with --file (and --public-key for its signatures)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", type=int, help="First record (sequence) to check.")
        parser.add_argument("--to", dest="last", type=int, help="Last record (sequence) to check.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Records read per query (memory bound).")
        parser.add_argument("--file", type=Path, help="An export of `audit_export --format jsonl` to verify offline.")
        parser.add_argument("--public-key", type=Path, help="With --file: the Ed25519 public key (PEM) to check.")

    def handle(self, *args, first=None, last=None, batch_size=5000, file=None, public_key=None, **options):
        if file is not None:
            return self.verify_file(file, public_key)
        if public_key is not None:
            raise CommandError("--public-key checks the signatures of an exported file: use it with --file")
        result = audit.verify_chain(first=first, last=last, batch_size=batch_size)
        if not result.ok:
            raise CommandError(f"chain broken at {result.broken}")
        span = f" (records {result.first}–{result.last})" if result.count else ""
        self.stdout.write(f"{result.count} records verified{span}.")

    def verify_file(self, path: Path, public_key_path: Path | None) -> None:
        key = None
        if public_key_path is not None:
            try:
                key = auditchain.load_public_key(public_key_path.read_bytes())
            except (OSError, ValueError) as error:
                raise CommandError(f"cannot read the public key {public_key_path}: {error}") from None
        try:
            with path.open("rb") as lines:
                result = auditchain.verify_export(lines, public_key=key)
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error}") from None
        except (ValueError, KeyError) as error:
            raise CommandError(f"{path} is not an audit export (JSON lines): {error}") from None
        if not result.chain.ok:
            raise CommandError(f"chain broken at {result.chain.broken}")
        if not result.ok:
            raise CommandError(result.problem)
        chain = result.chain
        message = f"{chain.count} records verified (records {chain.first}–{chain.last})"
        if result.signed_up_to is not None:
            message += f", signed up to record {result.signed_up_to}"
        self.stdout.write(message + ".")
