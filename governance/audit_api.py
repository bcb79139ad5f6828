"""The audit trail's API: GET /api/v1/audit (a page, or a streaming CSV / JSON-lines export) and
POST /api/v1/audit/verify. Only for users with governance.view_auditrecord (the auditor and admin roles); an
auditor narrowed to some namespaces reads the records about objects of those namespaces alone."""

from datetime import UTC, datetime

from django.db import models
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import audit
from governance.api import params
from governance.api.negotiation import FormatIsOurs
from governance.api.params import BadParameter
from governance.models import AuditRecord
from governance.openapi import EXPORT_SCHEMA, errors
from governance.permissions import GOVERNANCE_READ_TOKENS, namespace_scope
from governance.roles import VIEW_AUDIT

VIEW_PERMISSION = VIEW_AUDIT
FORMATS = ("json", *audit.EXPORT_FORMATS)
DEFAULT_LIMIT, MAX_LIMIT = 50, 1000


def visible_records(user) -> "models.QuerySet[AuditRecord]":
    """The records `user` may read: every one, or for a user narrowed to some namespaces (per-namespace grants,
    or a read token's namespaces) those whose target belongs to those namespaces alone. A record about no
    namespace (logins, users, roles, tokens of every namespace, the trail's own records) is about everyone, so
    only the unnarrowed read it."""
    from governance.models import Namespace

    scope = namespace_scope(user)
    if scope is None:
        return AuditRecord.objects.all()
    return AuditRecord.objects.within_namespaces(Namespace.objects.filter(pk__in=scope).values_list("name", flat=True))


def read_filters(query) -> dict:
    """The filters of the API and the page, from query parameters; a bad value raises BadParameter."""
    filters = {
        "actor": (query.get("actor") or "").strip(),
        "action": (query.get("action") or "").strip(),
        "object": (query.get("object") or "").strip(),
        "outcome": params.choice(query, "outcome", ("", *AuditRecord.Outcome.values), ""),
        "after": params.moment(query, "after"),
        "before": params.moment(query, "before"),
    }
    return filters


def export_response(stream, fmt: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type=audit.CONTENT_TYPES[fmt])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    response["X-Accel-Buffering"] = "no"  # let a proxy pass the stream on as it comes
    return response


FILTER_PARAMETERS = [
    OpenApiParameter("actor", str, description="Username, token:<prefix>, cli:<user>, anonymous or system."),
    OpenApiParameter(
        "action", str, description="An action name (auth.login), or a family ending in .* (auth.*). See docs/audit.md."
    ),
    OpenApiParameter(
        "object", str, description="type:id (governance.apitoken:3), a type, an id, or part of the object's name."
    ),
    OpenApiParameter("outcome", str, enum=list(AuditRecord.Outcome.values)),
    OpenApiParameter("after", OpenApiTypes.DATETIME, description="Records at or after this time."),
    OpenApiParameter("before", OpenApiTypes.DATETIME, description="Records before this time."),
]

RECORD_FIELDS = {
    "sequence": serializers.IntegerField(),
    "time": serializers.CharField(help_text="UTC, microseconds: 2025-01-31T12:00:00.000000Z"),
    "actor_id": serializers.IntegerField(allow_null=True),
    "actor": serializers.CharField(),
    "action": serializers.CharField(),
    "object_type": serializers.CharField(),
    "object_id": serializers.CharField(),
    "object_name": serializers.CharField(),
    "outcome": serializers.ChoiceField(choices=AuditRecord.Outcome.values),
    "source_ip": serializers.CharField(),
    "user_agent": serializers.CharField(),
    "request_id": serializers.CharField(),
    "changes": serializers.JSONField(allow_null=True),
    "detail": serializers.JSONField(allow_null=True),
    "previous_hash": serializers.CharField(),
    "hash": serializers.CharField(),
}


class AuditTrailView(APIView):
    content_negotiation_class = FormatIsOurs
    # The one permission mechanism (governance.permissions.RolePermission): auditors and admins.
    required_permissions = {"GET": [VIEW_AUDIT]}
    token_scopes = GOVERNANCE_READ_TOKENS

    def handle_exception(self, exc):
        if isinstance(exc, BadParameter):
            return params.bad_parameter(exc)
        return super().handle_exception(exc)

    @extend_schema(
        operation_id="listAuditRecords",
        summary="Audit records, newest first; or the whole filtered trail as a streaming CSV / JSON-lines export",
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("limit", int, description=f"Page size, 1–{MAX_LIMIT}, default {DEFAULT_LIMIT}."),
            OpenApiParameter("offset", int, description="Records to skip, default 0."),
            OpenApiParameter(
                "format",
                str,
                enum=list(FORMATS),
                description="json (default): a page. csv or jsonl: every matching record, oldest first, streamed "
                "(limit and offset ignored); the export is itself recorded as audit.exported.",
            ),
        ],
        responses={
            (200, "text/csv"): EXPORT_SCHEMA,
            (200, "application/jsonl"): EXPORT_SCHEMA,
            (200, "application/json"): inline_serializer(
                "AuditPage",
                {
                    "totalCount": serializers.IntegerField(),
                    "limit": serializers.IntegerField(),
                    "offset": serializers.IntegerField(),
                    "records": inline_serializer("AuditRecord", RECORD_FIELDS, many=True),
                },
            ),
            **errors(400, 401, 403, e403="Neither the auditor nor the admin role."),
        },
        tags=["Audit"],
    )
    def get(self, request):
        query = request.query_params
        filters = read_filters(query)
        fmt = params.choice(query, "format", FORMATS, "json")
        records = visible_records(request.user).matching(**filters)
        if fmt != "json":
            stream = audit.export_records(records=records, fmt=fmt, filters=filters, request=request)
            return export_response(stream, fmt)
        limit = params.integer(query, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        offset = params.integer(query, "offset", 0)
        return Response(
            {
                "totalCount": records.count(),
                "limit": limit,
                "offset": offset,
                "records": audit.page(records, limit=limit, offset=offset),
            }
        )


MAX_SEQUENCE = 2**63 - 1  # a record's sequence is a PostgreSQL bigint


class SequenceField(serializers.IntegerField):
    """A record's sequence: a whole JSON number (digits, in a form), never a float, a boolean or a list."""

    default_error_messages = {"invalid": "must be a whole number of a record (1, 2, 3 …)"}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, str) and not data.strip().isdigit():
            self.fail("invalid")
        return super().to_internal_value(data)


class AuditVerifyRequest(serializers.Serializer):
    first = SequenceField(required=False, allow_null=True, min_value=1, max_value=MAX_SEQUENCE)
    last = SequenceField(required=False, allow_null=True, min_value=1, max_value=MAX_SEQUENCE)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise ValidationError({"": ['the body must be a JSON object: {"first": 1, "last": 100}']})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise ValidationError({name: ["is not a field of this request: use first and last"] for name in unknown})
        return super().to_internal_value(data)

    def validate(self, data):
        first, last = data.get("first"), data.get("last")
        if first is not None and last is not None and last < first:
            raise ValidationError({"last": [f"must be at least first ({first}), got {last}"]})
        return data


def invalid_body(request, errors) -> Response:
    """400 in the API's error shape: Marquez's code and message, and each problem at its JSON pointer."""
    problems = []
    for name, messages in errors.items() if isinstance(errors, dict) else [("", errors)]:
        field = "" if name in ("", "non_field_errors") else str(name)
        for message in messages if isinstance(messages, list) else [messages]:
            problems.append({"path": f"/{field}" if field else "", "parameter": field, "message": str(message)})
    message = "; ".join(f"{p['parameter']} {p['message']}" if p["parameter"] else p["message"] for p in problems)
    body = {"code": 400, "message": message, "detail": message, "errors": problems}
    request_id = getattr(request, "request_id", None)
    if request_id:
        body["requestId"] = request_id
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


class AuditVerifyView(APIView):
    """Verify the hash chain over a range of records (the auditor page's "Verify integrity" button)."""

    required_permissions = {"POST": [VIEW_AUDIT]}

    def handle_exception(self, exc):
        if isinstance(exc, ValidationError):
            return invalid_body(self.request, exc.detail)
        if isinstance(exc, ParseError):
            return invalid_body(self.request, {"": [str(exc.detail)]})
        return super().handle_exception(exc)

    @extend_schema(
        operation_id="verifyAuditTrail",
        summary="Verify the audit hash chain from record `first` to record `last` (default: all of it)",
        request=AuditVerifyRequest,
        responses={
            200: inline_serializer(
                "AuditVerification",
                {
                    "ok": serializers.BooleanField(),
                    "count": serializers.IntegerField(),
                    "first": serializers.IntegerField(allow_null=True),
                    "last": serializers.IntegerField(allow_null=True),
                    "broken": inline_serializer(
                        "AuditBrokenLink",
                        {"sequence": serializers.IntegerField(), "reason": serializers.CharField()},
                        allow_null=True,
                    ),
                },
            ),
            **errors(
                400,
                401,
                403,
                e400="A bad body: `{code, message, errors: [{path, message}]}`, each problem at its JSON pointer "
                "(`/first`, `/last`). Sequences are whole numbers from 1 to 2^63-1, last at least first.",
                e403="Neither the auditor nor the admin role (or no CSRF token).",
            ),
        },
        tags=["Audit"],
    )
    def post(self, request):
        data = request.data
        if hasattr(data, "dict"):  # a form (QueryDict): one value per field
            data = data.dict()
        body = AuditVerifyRequest(data=data)
        body.is_valid(raise_exception=True)
        first, last = body.validated_data.get("first"), body.validated_data.get("last")
        return Response(audit.verify_range(first=first, last=last, request=request).as_dict())
