"""Compliance over the API: report, checks, rules, legal holds, and classifications along lineage."""

from datetime import timedelta

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from compliance import rendering, selectors, services, signing
from compliance.classification import propagate
from compliance.models import CheckResult, ComplianceReport, ComplianceRule, LegalHold
from compliance.scope import EVERYTHING, View, view_of
from governance.api import params
from governance.api.negotiation import FormatIsOurs
from governance.api.params import BadParameter
from governance.openapi import BINARY, READ_ERRORS, errors, ref, typed
from governance.permissions import GOVERNANCE_READ_TOKENS, visible_namespace_ids
from governance.roles import EDIT_METADATA, READ_LINEAGE, VIEW_COMPLIANCE
from governance.times import iso
from lineage.api.lineage import NODE_PARAMETERS, ReadView, _node

EDIT_RULES = "compliance.change_compliancerule"
MANAGE_HOLDS = "compliance.add_legalhold"


def period(query) -> tuple:
    end = params.moment(query, "end") or timezone.now()
    start = params.moment(query, "start") or end - timedelta(days=30)
    if start >= end:
        raise BadParameter("start", "must be before end")
    return start, end


class ComplianceView(ReadView):
    endpoint = "compliance"
    required_permissions = {"GET": [VIEW_COMPLIANCE]}
    token_scopes = GOVERNANCE_READ_TOKENS  # not the lineage reads' scopes, which ReadView accepts


class ReportView(ComplianceView):
    content_negotiation_class = FormatIsOurs

    @extend_schema(
        operation_id="getComplianceReport",
        summary="The compliance report of a period, signed (Ed25519); every download is audited",
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATETIME, description="Default: 30 days before end."),
            OpenApiParameter("end", OpenApiTypes.DATETIME, description="Default: now."),
            OpenApiParameter("format", str, enum=["json", "csv", "pdf"], description="Default json."),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                ref("ComplianceReport"),
                description="The report; headers X-Report-Id, X-Report-SHA256, "
                "X-Report-Signature. The detached signature file is at "
                "/api/v1/compliance/reports/<id>/signature.",
            ),
            (200, "text/csv"): OpenApiResponse({"type": "string"}, description="The report as CSV rows."),
            (200, "application/pdf"): OpenApiResponse(BINARY, description="The report as a PDF document."),
            **errors(*READ_ERRORS, e403="Neither the auditor nor the admin role."),
        },
        tags=["Compliance"],
    )
    def get(self, request):
        start, end = period(request.query_params)
        fmt = params.choice(request.query_params, "format", ("json", "csv", "pdf"), "json")
        report, content, signature = services.generate_report(
            start=start, end=end, fmt=fmt, user=request.user, request=request
        )
        services.record_download(report=report, file="report", user=request.user, request=request)
        response = HttpResponse(content, content_type=rendering.CONTENT_TYPES[fmt])
        filename = f"compliance-{start:%Y%m%d}-{end:%Y%m%d}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Report-Id"] = str(report.pk)
        response["X-Report-SHA256"] = signature["sha256"]
        response["X-Report-Signature"] = signature["signature"]
        return response


class ReportSignatureView(ComplianceView):
    @extend_schema(
        operation_id="getComplianceReportSignature",
        summary="The detached signature of a generated report (save it as <report>.sig)",
        responses={200: typed("ComplianceReportSignature"), **errors(401, 403, 404)},
        tags=["Compliance"],
    )
    def get(self, request, pk: int):
        report = get_object_or_404(ComplianceReport, pk=pk)
        services.record_download(report=report, file="signature", user=request.user, request=request)
        public = signing.private_key().public_key()
        body = signing.signature_file(
            {
                "algorithm": "Ed25519",
                "sha256": report.sha256,
                "signature": report.signature,
                "keyId": report.key_id,
                "publicKey": signing.public_pem(public),
            },
            report_id=report.pk,
            filename=f"compliance-{report.start:%Y%m%d}-{report.end:%Y%m%d}.{report.format}",
            generated_at=iso(report.generated_at),
        )
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = (
            f'attachment; filename="compliance-{report.start:%Y%m%d}-{report.end:%Y%m%d}.{report.format}.sig"'
        )
        return response


def result_json(result: CheckResult, rule: ComplianceRule | None, view: View = EVERYTHING) -> dict:
    """A check's result as `view` sees it: the count is exact; the violations listed are those in view, and
    `hidden` says how many of the listed ones are not."""
    shown, hidden = view.violations(result.violations)
    return {
        "rule": result.rule_id,
        "title": rule.title if rule else result.rule_id,
        "category": result.category,
        "severity": result.severity,
        "status": result.status,
        "violationCount": result.violation_count,
        "violations": shown,
        "hidden": hidden,
        "checkedAt": iso(result.checked_at),
    }


class ChecksView(ComplianceView):
    required_permissions = {"GET": [VIEW_COMPLIANCE], "POST": [VIEW_COMPLIANCE]}

    @extend_schema(
        operation_id="getComplianceChecks",
        summary="Each rule, its live status, and the objects that violate it (runs the checks now)",
        responses={200: typed("ComplianceChecks"), **errors(401, 403)},
        tags=["Compliance"],
    )
    def get(self, request):
        run = services.run_checks(trigger="live", user=request.user)
        rules = {rule.id: rule for rule in ComplianceRule.objects.all()}
        view = view_of(request.user)
        results = [result_json(r, rules.get(r.rule_id), view) for r in run.results.all().order_by("rule_id")]
        return Response(
            {
                "checkedAt": iso(run.started_at),
                "scope": view.label,
                "checks": results,
                "failing": sum(r["status"] != "pass" for r in results),
            }
        )

    @extend_schema(
        operation_id="runComplianceChecks",
        request=None,
        responses={200: typed("ComplianceChecks"), **errors(401, 403)},
        tags=["Compliance"],
    )
    def post(self, request):
        return self.get(request)


class RuleInput(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    severity = serializers.ChoiceField(choices=["low", "medium", "high", "critical"], required=False)
    parameters = serializers.DictField(required=False)
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


def rule_json(rule: ComplianceRule, view: View = EVERYTHING) -> dict:
    return {
        "id": rule.id,
        "category": rule.category,
        "severity": rule.severity,
        "title": rule.title,
        "description": rule.description,
        "check": rule.check_name,
        "parameters": view.parameters(rule.parameters),
        "enabled": rule.enabled,
        "updatedAt": iso(rule.updated_at),
        "updatedBy": rule.updated_by.get_username() if rule.updated_by else None,
    }


class RulesView(ComplianceView):
    @extend_schema(
        operation_id="listComplianceRules",
        responses={200: typed("ComplianceRules"), **errors(401, 403)},
        tags=["Compliance"],
    )
    def get(self, request):
        view = view_of(request.user)
        rules = ComplianceRule.objects.select_related("updated_by")
        return Response({"scope": view.label, "rules": [rule_json(r, view) for r in rules]})


class RuleView(ComplianceView):
    required_permissions = {"GET": [VIEW_COMPLIANCE], "PATCH": [EDIT_RULES]}

    @extend_schema(
        operation_id="getComplianceRule",
        responses={200: typed("ComplianceRule"), **errors(401, 403, 404)},
        tags=["Compliance"],
    )
    def get(self, request, pk: str):
        return Response(rule_json(get_object_or_404(ComplianceRule, pk=pk), view_of(request.user)))

    @extend_schema(
        operation_id="updateComplianceRule",
        request=RuleInput,
        responses={200: typed("ComplianceRule"), **errors(400, 401, 403, 404)},
        tags=["Compliance"],
    )
    def patch(self, request, pk: str):
        rule = get_object_or_404(ComplianceRule, pk=pk)
        data = RuleInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(rule_json(services.update_rule(rule=rule, values=dict(data.validated_data), user=request.user)))


class HoldInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=LegalHold.Kind.values)
    namespace = serializers.CharField(max_length=1024)
    name = serializers.CharField(max_length=1024, required=False, allow_blank=True, default="")
    reason = serializers.CharField()


def hold_json(hold: LegalHold) -> dict:
    return {
        "id": hold.pk,
        "kind": hold.kind,
        "namespace": hold.namespace,
        "name": hold.name,
        "reason": hold.reason,
        "placedAt": iso(hold.placed_at),
        "placedBy": hold.placed_by.get_username() if hold.placed_by else None,
        "releasedAt": iso(hold.released_at),
        "active": hold.active,
    }


class HoldsView(ComplianceView):
    required_permissions = {"GET": [VIEW_COMPLIANCE], "POST": [MANAGE_HOLDS]}

    @extend_schema(
        operation_id="listLegalHolds", responses={200: typed("LegalHolds"), **errors(401, 403)}, tags=["Compliance"]
    )
    def get(self, request):
        holds = services.visible_holds(view_of(request.user)).select_related("placed_by")
        return Response({"holds": [hold_json(h) for h in holds]})

    @extend_schema(
        operation_id="placeLegalHold",
        request=HoldInput,
        responses={201: typed("LegalHold"), **errors(400, 401, 403)},
        tags=["Compliance"],
    )
    def post(self, request):
        data = HoldInput(data=request.data)
        data.is_valid(raise_exception=True)
        hold = services.place_hold(**data.validated_data, user=request.user)
        return Response(hold_json(hold), status=status.HTTP_201_CREATED)


class HoldReleaseView(ComplianceView):
    required_permissions = {"POST": [MANAGE_HOLDS]}

    @extend_schema(
        operation_id="releaseLegalHold",
        request=None,
        responses={200: typed("LegalHold"), **errors(401, 403, 404, e404="No such hold, or released already.")},
        tags=["Compliance"],
    )
    def post(self, request, pk: int):
        hold = get_object_or_404(LegalHold, pk=pk, released_at__isnull=True)
        return Response(hold_json(services.release_hold(hold=hold, user=request.user)))


# --- Classifications -------------------------------------------------------------------------------------------


def _label(node, names) -> str:
    if node[0] == "dataset":
        return f"dataset:{names[node[1]]}"
    return f"datasetField:{names[node[1][0]]}:{node[1][1]}"


def classification_answer(sources, inferred, visible) -> dict:
    from lineage.models import Dataset

    ids = {n[1] if n[0] == "dataset" else n[1][0] for n, _ in sources}
    for item in inferred:
        ids |= {n[1] if n[0] == "dataset" else n[1][0] for n in item.path}
    rows = Dataset.objects.filter(pk__in=ids).values_list("pk", "namespace_id", "namespace__name", "name")
    names = {pk: f"{ns}:{name}" for pk, ns_id, ns, name in rows if visible is None or ns_id in visible}

    def shown(node) -> bool:
        return (node[1] if node[0] == "dataset" else node[1][0]) in names

    return {
        "sources": [{"node": _label(n, names), "classification": c} for n, c in sources if shown(n)],
        "inferred": [
            {
                "node": _label(i.node, names),
                "classification": i.classification,
                "source": _label(i.source, names),
                "hops": i.hops,
                "path": [_label(step, names) if shown(step) else "restricted" for step in i.path],
            }
            for i in inferred
            if shown(i.node) and shown(i.source)
        ],
    }


class ClassificationsView(ReadView):
    endpoint = "classifications"

    @extend_schema(
        operation_id="listClassifications",
        summary="Declared classifications and where lineage carries them, with the path",
        parameters=[OpenApiParameter("classification", str, description="e.g. PII; default all")],
        responses={200: typed("Classifications"), **errors(401, 403)},
        tags=["Compliance"],
    )
    def get(self, request):
        label = request.query_params.get("classification") or None
        sources = selectors.classified_sources(label)
        return Response(
            classification_answer(sources, selectors.inferred(sources=sources), visible_namespace_ids(request.user))
        )


class ClassificationPreviewView(ReadView):
    endpoint = "classifications"
    required_permissions = {"GET": [READ_LINEAGE]}

    @extend_schema(
        operation_id="previewClassification",
        summary="Where a classification put on a dataset or field would flow, before it is saved",
        parameters=[*NODE_PARAMETERS, OpenApiParameter("classification", str, required=True)],
        responses={200: typed("Classifications"), **errors(*READ_ERRORS, 404, e404="Unknown node.")},
        tags=["Compliance"],
    )
    def get(self, request):
        ref = _node(request)
        label = (request.query_params.get("classification") or "").strip()
        if not label:
            raise BadParameter("classification", "is required, e.g. PII")
        if ref.kind == "job":
            raise BadParameter("nodeId", "classify a dataset or a datasetField")
        node = ("field", (ref.node.pk, ref.field)) if ref.kind == "datasetField" else ("dataset", ref.node.pk)
        sources = [(node, selectors.normalise(label))]
        inferred = propagate(sources, flows_for=selectors.flows_for)
        answer = classification_answer(sources, inferred, visible_namespace_ids(request.user))
        answer["canSave"] = request.user.has_perm(EDIT_METADATA)
        return Response(answer)
