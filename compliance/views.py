from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from governance.permissions import require_permission
from governance.roles import VIEW_COMPLIANCE

from . import services
from .models import CheckRun, ComplianceRule, LegalHold


@require_permission(VIEW_COMPLIANCE)
def compliance_page(request):
    """The auditor's page: pick a period, download the signed report; the latest checks, rules and holds."""
    services.ensure_recent_checks()
    end = timezone.now()
    latest = CheckRun.objects.prefetch_related("results").first()
    return render(
        request,
        "compliance/compliance.html",
        {
            "start": (end - timedelta(days=30)).strftime("%Y-%m-%d"),
            "end": end.strftime("%Y-%m-%d"),
            "latest": latest,
            "results": sorted(latest.results.all(), key=lambda r: (r.status == "pass", r.rule_id)) if latest else [],
            "rules": ComplianceRule.objects.all(),
            "holds": LegalHold.objects.filter(released_at__isnull=True),
        },
    )
