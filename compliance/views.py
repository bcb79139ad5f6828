from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from compliance import services
from compliance.models import CheckRun, ComplianceRule
from compliance.rendering import scope_text
from compliance.scope import view_of
from governance.permissions import require_permission
from governance.roles import READ_LINEAGE, VIEW_COMPLIANCE


@require_permission(VIEW_COMPLIANCE)
def compliance_page(request):
    """The auditor's page: pick a period, download the signed report; the latest checks, rules and holds."""
    services.ensure_recent_checks()
    end = timezone.now()
    latest = CheckRun.objects.prefetch_related("results").first()
    view = view_of(request.user)
    results = sorted(latest.results.all(), key=lambda r: (r.status == "pass", r.rule_id)) if latest else []
    for result in results:  # what the user may see of each result, as the API answers it
        result.shown, result.hidden = view.violations(result.violations)
    return render(
        request,
        "compliance/compliance.html",
        {
            "start": (end - timedelta(days=30)).strftime("%Y-%m-%d"),
            "end": end.strftime("%Y-%m-%d"),
            "latest": latest,
            "results": results,
            "rules": ComplianceRule.objects.all(),
            "holds": services.visible_holds(view).filter(released_at__isnull=True),
            "scope": scope_text(view.label),
            "narrowed": not view.everything,
        },
    )


@require_permission(READ_LINEAGE)
def classification_flow_page(request):
    """Where a classified (or about to be classified) column or dataset ends up, with the path that carries it."""
    from django.http import Http404

    from compliance.api import classification_answer
    from compliance.classification import propagate
    from compliance.selectors import classified_sources, flows_for, normalise
    from governance.api.params import BadParameter
    from lineage.read.identity import NodeNotFound, resolve_node
    from lineage.read.visible import visible_namespace_ids

    label = normalise(request.GET.get("classification") or "PII")
    visible = visible_namespace_ids(request.user)
    try:
        ref = resolve_node(node_id=request.GET.get("nodeId"), visible=visible)
    except (NodeNotFound, BadParameter):
        raise Http404 from None
    if ref.kind == "job":
        raise Http404
    node = ("field", (ref.node.pk, ref.field)) if ref.kind == "datasetField" else ("dataset", ref.node.pk)
    answer = classification_answer([(node, label)], propagate([(node, label)], flows_for=flows_for), visible)
    saved = (node, label) in set(classified_sources(label))
    return render(request, "compliance/flow.html", {"ref": ref, "label": label, "saved": saved, **answer})
