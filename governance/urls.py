from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated

from governance import account_views, audit_views, connection_views, token_views, views
from governance.audit_api import AuditTrailView, AuditVerifyView

urlpatterns = [
    # First: OpenLineage ingestion and the lineage reads are the busiest paths, and Django tries patterns in order.
    path("api/v1/", include("lineage.api.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # No e-mailed reset: administrators reset passwords (Django admin); users change their own.
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("account/mfa/setup/", account_views.mfa_setup, name="mfa-setup"),
    path("account/mfa/verify/", account_views.mfa_verify, name="mfa-verify"),
    path("account/mfa/recovery/", account_views.mfa_recovery, name="mfa-recovery"),
    path("tokens/", token_views.tokens_page, name="tokens"),
    path("tokens/<int:pk>/revoke", token_views.revoke_page, name="token-revoke"),
    path("api/v1/tokens", token_views.TokenListView.as_view(), name="token-list"),
    path("api/v1/tokens/<int:pk>", token_views.TokenDetailView.as_view(), name="token-detail"),
    path("connections/", connection_views.connection_list_page, name="connections"),
    path("connections/new", connection_views.connection_new_page, name="connection-new"),
    path("connections/<slug:slug>/", connection_views.connection_page, name="connection-page"),
    path("connections/<slug:slug>/edit", connection_views.connection_edit_page, name="connection-edit"),
    path("connections/<slug:slug>/delete", connection_views.connection_delete_page, name="connection-delete"),
    path(
        "connections/<slug:slug>/test",
        connection_views.connection_use_page,
        {"action": "test"},
        name="connection-test-page",
    ),
    path(
        "connections/<slug:slug>/reveal",
        connection_views.connection_use_page,
        {"action": "reveal"},
        name="connection-reveal-page",
    ),
    path("api/v1/connections", connection_views.ConnectionListView.as_view(), name="connection-list"),
    path("api/v1/connections/<slug:slug>", connection_views.ConnectionDetailView.as_view(), name="connection-detail"),
    path(
        "api/v1/connections/<slug:slug>/reveal",
        connection_views.ConnectionRevealView.as_view(),
        name="connection-reveal",
    ),
    path("api/v1/connections/<slug:slug>/test", connection_views.ConnectionTestView.as_view(), name="connection-test"),
    path("api/v1/reauth", connection_views.ReauthView.as_view(), name="reauth"),
    # The API's description is for any logged-in user (or token holder).
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
        name="api-docs",
    ),
    path("api/v1/audit", AuditTrailView.as_view(), name="audit-trail"),
    path("api/v1/audit/verify", AuditVerifyView.as_view(), name="audit-verify"),
    path("audit/", audit_views.trail, name="audit"),
    path("", include("compliance.urls")),
    path("", include("lineage.urls")),
]

# Django's 403 page, after recording the refusal in the audit trail.
handler403 = "governance.views.permission_denied"
# Under /api/, JSON in the API's error shape.
handler404 = "governance.views.page_not_found"
handler500 = "governance.views.server_error"
