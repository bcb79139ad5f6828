import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance import audit
from governance.models import AuditRecord


class Command(BaseCommand):
    help = (
        "Export audit records --from/--to as JSON lines (verifiable with audit_verify --file) or CSV. "
        "--signature extends the range to the next signed checkpoint, so that the file can be verified offline "
        "with the public key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", type=int, help="First record (sequence).")
        parser.add_argument("--to", dest="last", type=int, help="Last record (sequence).")
        parser.add_argument("--format", dest="fmt", choices=audit.EXPORT_FORMATS, default="jsonl")
        parser.add_argument(
            "--signature", action="store_true", help="Include the checkpoint that signs the range (JSON lines only)."
        )
        parser.add_argument("--output", type=Path, help="File to write (default: standard output).")

    def handle(self, *args, first=None, last=None, fmt="jsonl", signature=False, output=None, **options):
        if signature:
            if fmt != "jsonl":
                raise CommandError("--signature needs --format jsonl: only JSON lines can be verified")
            last = self.signed_end(last)
        records = AuditRecord.objects.matching(first=first, last=last)
        filters = {"from": first, "to": last}
        stream = audit.export_records(records=records, fmt=fmt, filters=filters, actor=audit.cli_actor(), via="cli")
        target = output.open("wb") if output else sys.stdout.buffer
        try:
            for chunk in stream:
                target.write(chunk)
        finally:
            if output:
                target.close()
            else:
                target.flush()
        if output:
            self.stderr.write(f"Wrote records {first or 'first'}–{last or 'last'} to {output}.")

    def signed_end(self, last: int | None) -> int:
        """The checkpoint record that signs `last` (or the latest one), which ends a signed export."""
        if last is None:
            end = (
                AuditRecord.objects.filter(action=audit.auditchain.CHECKPOINT_ACTION)
                .order_by("-sequence")
                .values_list("sequence", flat=True)
                .first()
            )
        else:
            end = audit.covering_checkpoint(last)
        if end is None:
            raise CommandError(
                f"no signed checkpoint covers record {last or 'the latest'}: run manage.py audit_checkpoint first"
            )
        if last is not None and end != last:
            self.stderr.write(f"Extended the range to record {end}, the checkpoint that signs record {last}.")
        return end
