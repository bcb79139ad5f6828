from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError

from governance import audit, auditchain


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain (all of it, or --from/--to) and report the first broken link; the "
        "whole chain is also held to every signed checkpoint (the database's, and --checkpoint files), with "
        "--public-key checking their signatures. Or verify an exported JSON-lines file offline with --file."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", type=int, help="First record (sequence) to check.")
        parser.add_argument("--to", dest="last", type=int, help="Last record (sequence) to check.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Records read per query (memory bound).")
        parser.add_argument("--file", type=Path, help="An export of `audit_export --format jsonl` to verify offline.")
        parser.add_argument(
            "--public-key", type=Path, help="The Ed25519 public key (PEM) whose signatures are checked."
        )
        parser.add_argument(
            "--checkpoint",
            type=Path,
            action="append",
            default=[],
            help="A checkpoint file of `audit_checkpoint --output` the trail must still reach (repeatable).",
        )

    def handle(
        self, *args, first=None, last=None, batch_size=5000, file=None, public_key=None, checkpoint=(), **options
    ):
        key = self.read_key(public_key)
        if file is not None:
            if checkpoint:
                raise CommandError("--checkpoint holds the database to a checkpoint: not with --file")
            return self.verify_file(file, key)
        if checkpoint and key is None:
            raise CommandError("--checkpoint needs --public-key: an unsigned claim proves nothing")
        if (checkpoint or key is not None) and (first is not None or last is not None):
            raise CommandError("checkpoints are checked against the whole chain: leave out --from and --to")
        result = audit.verify_chain(first=first, last=last, batch_size=batch_size)
        if not result.ok:
            raise CommandError(f"chain broken at {result.broken}")
        problems, count = [], 0
        if first is None and last is None:
            stored = audit.stored_checkpoints()
            files = [self.read_checkpoint(path) for path in checkpoint]
            problems = audit.check_checkpoints(stored, public_key=key)
            problems += audit.check_checkpoints(files, public_key=key, require_key=True)
            count = len(stored) + len(files)
        if problems:
            raise CommandError("; ".join(str(problem) for problem in problems))
        span = f" (records {result.first}–{result.last})" if result.count else ""
        held = f"; {count} signed checkpoint(s) hold" if count else ""
        self.stdout.write(f"{result.count} records verified{span}{held}.")

    def read_key(self, path: Path | None):
        if path is None:
            return None
        try:
            return auditchain.load_public_key(path.read_bytes())
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot read the public key {path}: {error}") from None

    def read_checkpoint(self, path: Path) -> dict:
        try:
            detail = orjson.loads(path.read_bytes())
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error}") from None
        except orjson.JSONDecodeError as error:
            raise CommandError(f"{path} is not a checkpoint (JSON): {error}") from None
        if not isinstance(detail, dict) or not {"sequence", "hash", "signature", "key_id"} <= set(detail):
            raise CommandError(f"{path} is not a checkpoint: it needs sequence, hash, signature and key_id")
        return detail

    def verify_file(self, path: Path, key) -> None:
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
