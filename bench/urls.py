from django.urls import path

from governance import views as governance_views

from . import floor

urlpatterns = [
    path("healthz", governance_views.healthz),
    path("floor/lineage", floor.ingest),
    path("floor/lineage/batch", floor.ingest_batch),
]
