from django.apps import AppConfig


class LineageConfig(AppConfig):
    name = "lineage"
    verbose_name = "Lineage"

    def ready(self) -> None:
        from governance.observability import scrape_gauge
        from lineage.models import DeriveQueue, QuarantinedEvent

        # Imported here: models are ready only once the app registry is.
        scrape_gauge("tributary_derive_queue_depth", "Raw events waiting to be derived", DeriveQueue.objects.count)
        scrape_gauge(
            "tributary_quarantine_pending",
            "Refused events waiting in the quarantine",
            QuarantinedEvent.objects.filter(status=QuarantinedEvent.Status.PENDING).count,
        )
