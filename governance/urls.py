from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import audit_views, views
from .audit_api import AuditTrailView, AuditVerifyView

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/audit", AuditTrailView.as_view(), name="audit-trail"),
    path("api/v1/audit/verify", AuditVerifyView.as_view(), name="audit-verify"),
    path("audit/", audit_views.trail, name="audit"),
    path("api/v1/", include("lineage.api.urls")),
    path("", include("lineage.urls")),
]

# Django's 403 page, after recording the refusal in the audit trail.
handler403 = "governance.views.permission_denied"
