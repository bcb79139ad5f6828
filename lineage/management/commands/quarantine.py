from django.core.management.base import BaseCommand, CommandError

from governance.audit import cli_actor
from lineage.ingest import services
from lineage.models import QuarantinedEvent


class Command(BaseCommand):
    help = "List, show, replay or discard refused events kept in the quarantine."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List quarantined events.")
        listing.add_argument("--status", choices=QuarantinedEvent.Status.values, default="pending")
        show = sub.add_parser("show", help="Print one quarantined event and its errors.")
        show.add_argument("id", type=int)
        replay = sub.add_parser("replay", help="Send quarantined events through ingestion again.")
        replay.add_argument("ids", type=int, nargs="*")
        replay.add_argument("--all", action="store_true", help="Replay every pending event.")
        discard = sub.add_parser("discard", help="Mark quarantined events as discarded.")
        discard.add_argument("ids", type=int, nargs="+")

    def handle(self, *args, action, **options):
        getattr(self, f"do_{action}")(**options)

    def _get(self, pk: int) -> QuarantinedEvent:
        item = QuarantinedEvent.objects.filter(pk=pk).first()
        if item is None:
            raise CommandError(f"no quarantined event #{pk}")
        return item

    def do_list(self, status, **options):
        items = QuarantinedEvent.objects.filter(status=status).order_by("received_at")
        for item in items:
            self.stdout.write(f"{item.pk}\t{item.received_at:%Y-%m-%d %H:%M:%S}\t{item.source}\t{item.reason}")
        self.stderr.write(f"{items.count()} {status}")

    def do_show(self, id, **options):
        item = self._get(id)
        self.stdout.write(f"#{item.pk} {item.status}, received {item.received_at:%Y-%m-%d %H:%M:%S} via {item.source}")
        for error in item.errors:
            self.stdout.write(f"  {error.get('path') or '/'}: {error.get('message')}")
        self.stdout.write(item.body)

    def do_replay(self, ids, all=False, **options):
        if all:
            items = list(QuarantinedEvent.objects.filter(status=QuarantinedEvent.Status.PENDING).order_by("pk"))
        elif ids:
            items = [self._get(pk) for pk in ids]
        else:
            raise CommandError("name the events to replay, or pass --all")
        replayed = 0
        for item in items:
            if item.status != QuarantinedEvent.Status.PENDING:
                self.stderr.write(f"#{item.pk} is {item.status}; skipped")
                continue
            result = services.replay_quarantined(item=item, actor=cli_actor())
            if result.stored:
                replayed += 1
                self.stdout.write(f"#{item.pk} {result.outcome}")
            else:
                self.stdout.write(f"#{item.pk} still refused: {result.reason}")
        self.stdout.write(f"{replayed} of {len(items)} replayed.")

    def do_discard(self, ids, **options):
        for pk in ids:
            item = self._get(pk)
            item.status = QuarantinedEvent.Status.DISCARDED
            item.save(update_fields=["status"])
        self.stdout.write(f"{len(ids)} discarded.")
