from django.urls import path

from lineage.api.marquez import views

urlpatterns = [
    path("namespaces", views.NamespaceListView.as_view(), name="marquez-namespaces"),
    # Every request under namespaces/ is answered by this view, which splits the path by the namespaces that
    # exist (they contain slashes). The named patterns after it are never reached by a request: they give
    # reverse() and the OpenAPI schema Marquez's paths, each with the view that answers it.
    path("namespaces/<path:path>", views.NamespacePathView.as_view(), name="marquez-namespace-path"),
    path("namespaces/<path:namespace>", views.NamespaceView.as_view(), name="marquez-namespace"),
    path("namespaces/<path:namespace>/datasets", views.DatasetListView.as_view(), name="marquez-datasets"),
    path("namespaces/<path:namespace>/datasets/<path:dataset>", views.DatasetView.as_view(), name="marquez-dataset"),
    path(
        "namespaces/<path:namespace>/datasets/<path:dataset>/versions",
        views.DatasetVersionListView.as_view(),
        name="marquez-dataset-versions",
    ),
    path(
        "namespaces/<path:namespace>/datasets/<path:dataset>/versions/<str:version>",
        views.DatasetVersionView.as_view(),
        name="marquez-dataset-version",
    ),
    path("namespaces/<path:namespace>/jobs", views.JobListView.as_view(), name="marquez-jobs"),
    path("namespaces/<path:namespace>/jobs/<path:job>", views.JobView.as_view(), name="marquez-job"),
    path("namespaces/<path:namespace>/jobs/<path:job>/runs", views.JobRunListView.as_view(), name="marquez-job-runs"),
    path("jobs", views.AllJobListView.as_view(), name="marquez-all-jobs"),
    path("jobs/runs/<path:id>/facets", views.RunFacetsView.as_view(), name="marquez-run-facets"),
    path("jobs/runs/<path:id>", views.RunView.as_view(), name="marquez-run"),
    path("search", views.SearchView.as_view(), name="marquez-search"),
    path("events/lineage", views.LineageEventListView.as_view(), name="marquez-lineage-events"),
]
