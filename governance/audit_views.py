"""The auditor's page, /audit/: filters, the timeline with each record's changes, and a verify button. A narrowed
auditor sees the records about their namespaces alone (audit_api.visible_records)."""

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.shortcuts import render

from governance.api.params import BadParameter
from governance.audit_api import read_filters, visible_records
from governance.models import AuditRecord
from governance.permissions import require_permission
from governance.roles import VIEW_AUDIT

PAGE_SIZE = 50


@require_permission(VIEW_AUDIT)
def trail(request):
    error = None
    try:
        filters = read_filters(request.GET)
    except BadParameter as bad:
        error, filters = str(bad), {}
    records = visible_records(request.user).matching(**filters).order_by("-sequence")
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    shown = [(item, change_rows(item.changes)) for item in page.object_list]
    query = {k: v for k, v in request.GET.items() if k in ("actor", "action", "object", "outcome", "after", "before")}
    context = {
        "page": page,
        "records": shown,
        "filters": query,
        "outcomes": AuditRecord.Outcome.values,
        "error": error,
        "query": urlencode(query),
        # The shown range, newest first on the page: what the verify button checks.
        "first": shown[-1][0].sequence if shown else None,
        "last": shown[0][0].sequence if shown else None,
    }
    return render(request, "audit/trail.html", context)


def change_rows(changes) -> list[dict]:
    """A record's changes as rows for the template: field, before, after, or a secret that changed."""
    rows = []
    for name, change in (changes or {}).items():
        if isinstance(change, dict) and set(change) == {"before", "after"}:
            rows.append({"field": name, "before": change["before"], "after": change["after"], "secret": False})
        else:
            rows.append({"field": name, "before": None, "after": None, "secret": True})
    return rows
