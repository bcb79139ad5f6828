from django.urls import include, path

from .ingest import LineageBatchIngestView, LineageIngestView

urlpatterns = [
    path("lineage/batch", LineageBatchIngestView.as_view(), name="lineage-batch"),
]
# POST /api/v1/lineage ingests; GET on the same path reads lineage (added with the read API).
urlpatterns.append(path("lineage", LineageIngestView.as_view(), name="lineage"))
# Marquez-compatible reads: namespaces, datasets, jobs, runs, search, raw events.
urlpatterns.append(path("", include("lineage.api.marquez.urls")))
