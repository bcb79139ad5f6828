from django.urls import include, path

from lineage.api.lineage import ColumnLineageView, ImpactView, LineageDiffView, LineageReportView, LineageView
from lineage.api.metadata import MetadataView
from lineage.ingest.quarantine_api import QuarantineDetailView, QuarantineListView, QuarantineReplayView
from lineage.ingest.views import LineageBatchIngestView

urlpatterns = [
    # POST ingests one event (ingest token); GET reads the graph (session or read token).
    path("lineage", LineageView.as_view(), name="lineage"),
    path("lineage/batch", LineageBatchIngestView.as_view(), name="lineage-batch"),
    path("lineage/report", LineageReportView.as_view(), name="lineage-report"),
    path("lineage/diff", LineageDiffView.as_view(), name="lineage-diff"),
    path("column-lineage", ColumnLineageView.as_view(), name="column-lineage"),
    path("impact", ImpactView.as_view(), name="impact"),
    path("metadata", MetadataView.as_view(), name="metadata"),
    path("quarantine", QuarantineListView.as_view(), name="quarantine-list"),
    path("quarantine/<int:pk>", QuarantineDetailView.as_view(), name="quarantine-detail"),
    path("quarantine/<int:pk>/replay", QuarantineReplayView.as_view(), name="quarantine-replay"),
]
# Marquez-compatible reads: namespaces, datasets, jobs, runs, search, raw events.
urlpatterns.append(path("", include("lineage.api.marquez.urls")))
