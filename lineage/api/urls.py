from django.urls import path

from .ingest import LineageBatchIngestView
from .lineage import ColumnLineageView, ImpactView, LineageDiffView, LineageReportView, LineageView

urlpatterns = [
    # POST ingests one event (ingest token); GET reads the graph (session or read token).
    path("lineage", LineageView.as_view(), name="lineage"),
    path("lineage/batch", LineageBatchIngestView.as_view(), name="lineage-batch"),
    path("lineage/report", LineageReportView.as_view(), name="lineage-report"),
    path("lineage/diff", LineageDiffView.as_view(), name="lineage-diff"),
    path("column-lineage", ColumnLineageView.as_view(), name="column-lineage"),
    path("impact", ImpactView.as_view(), name="impact"),
]
