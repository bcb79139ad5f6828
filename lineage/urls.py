from django.urls import path

from lineage import views

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    # Namespaces and names contain slashes: the view splits the path at a namespace the user may read.
    path("datasets/<path:path>", views.dataset, name="dataset"),
    path("jobs/<path:path>", views.job, name="job"),
    path("lineage/", views.lineage_explorer, name="lineage-explorer"),
    path("impact/", views.impact, name="impact-page"),
    path("metadata/", views.edit_metadata, name="metadata-edit"),
]
