from django.urls import path

from compliance import api, views

urlpatterns = [
    path("compliance/", views.compliance_page, name="compliance"),
    path("classifications/flow/", views.classification_flow_page, name="classification-flow"),
    path("api/v1/compliance/report", api.ReportView.as_view(), name="compliance-report"),
    path(
        "api/v1/compliance/reports/<int:pk>/signature",
        api.ReportSignatureView.as_view(),
        name="compliance-report-signature",
    ),
    path("api/v1/compliance/checks", api.ChecksView.as_view(), name="compliance-checks"),
    path("api/v1/compliance/rules", api.RulesView.as_view(), name="compliance-rules"),
    path("api/v1/compliance/rules/<slug:pk>", api.RuleView.as_view(), name="compliance-rule"),
    path("api/v1/compliance/holds", api.HoldsView.as_view(), name="compliance-holds"),
    path("api/v1/compliance/holds/<int:pk>/release", api.HoldReleaseView.as_view(), name="compliance-hold-release"),
    path("api/v1/classifications", api.ClassificationsView.as_view(), name="classifications"),
    path("api/v1/classifications/preview", api.ClassificationPreviewView.as_view(), name="classification-preview"),
]
