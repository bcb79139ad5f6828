from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated

from . import account_views, token_views, views

urlpatterns = [
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
    # The API's description is for any logged-in user (or token holder).
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
        name="api-docs",
    ),
    path("api/v1/", include("lineage.api.urls")),
    path("", include("lineage.urls")),
]
