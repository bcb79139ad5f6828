"""The OpenLineage consumer endpoints: POST /api/v1/lineage and /api/v1/lineage/batch.

HTTP concerns live here (token, content type, size, gzip); what happens to an event is `lineage.ingest.services`.
"""

import time
import zlib

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from governance import audit
from governance.api.errors import error_body
from governance.models import ApiToken, AuditRecord
from governance.observability import EVENTS_REJECTED, INGEST_LATENCY
from governance.tokens import InvalidToken, bearer_secret, check_secret, digest
from lineage.api import openapi
from lineage.ingest import services

JSON_TYPES = ("application/json", "text/json")


class IngestError(Exception):
    def __init__(self, status: int, message: str, reason: str, token: ApiToken | None = None):
        super().__init__(message)
        self.status, self.message, self.reason, self.token = status, message, reason, token


def record_refusal(request: HttpRequest, token: ApiToken, reason: str, **detail) -> None:
    """A token refused (403) is a permission refusal like any other: it goes into the audit trail. Only refusals
    pay this; accepted events record nothing."""
    audit.record(
        "access.denied",
        actor=token,
        request=request,
        outcome=AuditRecord.Outcome.DENIED,
        detail={"method": request.method, "path": request.path[:500], "reason": reason[:500], **detail},
    )


def error_response(status: int, message: str, path: str = "") -> JsonResponse:
    response = JsonResponse(error_body(status, message, errors=[{"path": path, "message": message}]), status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="tributary"'
    return response


def _summary(errors: list[dict]) -> str:
    """One line for `message`: the first problem, and how many more."""
    if not errors:
        return "the event was refused"
    first = errors[0]
    line = f"{first.get('path') or '/'}: {first.get('message', '')}"
    return line if len(errors) == 1 else f"{line} (and {len(errors) - 1} more)"


def _authenticate(request: HttpRequest) -> ApiToken:
    secret = bearer_secret(request.META.get("HTTP_AUTHORIZATION", ""))
    if secret is None:
        raise IngestError(401, "an ingest token is required: Authorization: Bearer <token>", "unauthenticated")
    try:
        token = check_secret(secret)
    except InvalidToken as error:
        raise IngestError(401, str(error), "unauthenticated") from None
    if token.scope != ApiToken.Scope.INGEST:
        raise IngestError(403, f"a {token.scope} token may not write lineage", "scope", token)
    return token


def _body(request: HttpRequest, limit: int) -> bytes:
    """`_read_body`, once per request: the body, or the same refusal again."""
    if not hasattr(request, "_ingest_body"):
        try:
            request._ingest_body = _read_body(request, limit)
        except IngestError as error:
            request._ingest_body = error
    if isinstance(request._ingest_body, IngestError):
        raise request._ingest_body
    return request._ingest_body


def _read_body(request: HttpRequest, limit: int) -> bytes:
    """The decoded request body, refusing wrong types, oversize bodies and broken gzip."""
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise IngestError(415, f"expected Content-Type: application/json, got {content_type or 'none'!r}", "type")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise IngestError(413, f"body of {length} bytes is over the limit of {limit} bytes", "too_large")
    data = request.read(limit + 1)
    if len(data) > limit:
        raise IngestError(413, f"body is over the limit of {limit} bytes", "too_large")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "x-gzip"):
        raise IngestError(415, f"unsupported Content-Encoding {encoding!r}: send gzip or nothing", "encoding")
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        decoded = decompressor.decompress(data, limit + 1)
        if not decompressor.eof and len(decoded) <= limit:
            raise zlib.error("truncated stream")
    except zlib.error as error:
        raise IngestError(400, f"body is not valid gzip: {error}", "bad_gzip") from None
    if len(decoded) > limit:
        raise IngestError(413, f"decompressed body is over the limit of {limit} bytes", "too_large")
    return decoded


class IngestView(APIView):
    # Authentication, parsing and content negotiation are done here, lean, for the hot path.
    authentication_classes = ()
    permission_classes = ()
    parser_classes = ()
    endpoint = "lineage"

    def dispatch(self, request, *args, **kwargs):
        # POST is answered as a plain Django view: DRF's request wrapping, negotiation and permission checks do
        # nothing here (the token is the authentication) but cost a quarter of a millisecond per event.
        if request.method == "POST":
            self.request = request
            return self.ingest(request)
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self.ingest(request._request)

    def accept_directly(self, request: HttpRequest) -> JsonResponse | None:
        """The answer when the event can be taken in one round trip to the database, else None."""
        return None

    def ingest(self, request: HttpRequest) -> JsonResponse:
        started = time.perf_counter()
        try:
            response = self.accept_directly(request)
            if response is None:
                token = _authenticate(request)
                response = self.handle_body(request, token)
        except IngestError as error:
            EVENTS_REJECTED.labels(reason=error.reason).inc()
            if error.status == 403 and error.token is not None:
                record_refusal(request, error.token, error.message)
            response = error_response(error.status, error.message)
        INGEST_LATENCY.labels(endpoint=self.endpoint).observe(time.perf_counter() - started)
        return response


class LineageIngestView(IngestView):
    @extend_schema(**openapi.POST_EVENT)
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def accept_directly(self, request: HttpRequest) -> JsonResponse | None:
        # A valid event sent with a token in good standing (nearly every request) is stored by one statement
        # that also checks the token (services.ingest_event_as). Anything else, including every refusal, takes
        # the usual way below: the token first (401/403), then the body.
        if connection.vendor != "postgresql":
            return None
        secret = bearer_secret(request.META.get("HTTP_AUTHORIZATION", ""))
        if secret is None:
            return None
        try:
            data = _body(request, settings.TRIBUTARY_MAX_EVENT_BYTES)
            event = services.decode_json(data)
        except (IngestError, services.PayloadError):
            return None
        result = services.ingest_event_as(
            event=event, body=data.decode("utf-8", errors="replace"), token_digest=digest(secret), source="api"
        )
        if result is None:
            return None
        return self.answer(result)

    def handle_body(self, request: HttpRequest, token: ApiToken) -> JsonResponse:
        data = _body(request, settings.TRIBUTARY_MAX_EVENT_BYTES)
        text = data.decode("utf-8", errors="replace")
        try:
            event = services.decode_json(data)
        except services.PayloadError as error:
            services.quarantine_unreadable(text=text, message=str(error), token=token, source="api")
            return error_response(400, str(error))
        result = services.ingest_event(event=event, body=text, token=token, source="api")
        if result.outcome == services.REFUSED:
            body = error_body(400, _summary(result.errors), errors=result.errors, quarantineId=result.quarantine_id)
            return JsonResponse(body, status=400)
        if result.outcome == services.FORBIDDEN:
            record_refusal(request, token, result.reason)
            return JsonResponse(error_body(403, _summary(result.errors), errors=result.errors), status=403)
        return self.answer(result)

    @staticmethod
    def answer(result: services.IngestResult) -> JsonResponse:
        status = 201 if result.outcome == services.ACCEPTED else 200
        return JsonResponse({"status": result.outcome, "warnings": result.warnings}, status=status)


class LineageBatchIngestView(IngestView):
    endpoint = "batch"

    @extend_schema(**openapi.POST_BATCH)
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_body(self, request: HttpRequest, token: ApiToken) -> JsonResponse:
        data = _body(request, settings.TRIBUTARY_MAX_BATCH_BYTES)
        try:
            events = services.decode_json(data)
        except services.PayloadError as error:
            return error_response(400, str(error))
        if not isinstance(events, list):
            return error_response(400, "a batch must be a JSON array of events")
        results = services.ingest_batch(events=events, token=token)
        forbidden = [index for index, result in enumerate(results) if result.outcome == services.FORBIDDEN]
        if forbidden:
            reasons = sorted({results[index].reason for index in forbidden})
            record_refusal(request, token, "; ".join(reasons), events=len(forbidden), indexes=forbidden[:100])
        failed = [
            {"index": index, "reason": result.reason, "retriable": False}
            for index, result in enumerate(results)
            if not result.stored
        ]
        successful = len(results) - len(failed)
        return JsonResponse(
            {
                "status": "success" if not failed else "partial_success",
                "summary": {
                    "received": len(results),
                    "successful": successful,
                    "failed": len(failed),
                    "retriable": 0,
                    "non_retriable": len(failed),
                },
                "failed_events": failed,
                "warnings": [
                    {"index": index, **warning} for index, result in enumerate(results) for warning in result.warnings
                ],
            },
            status=200,
        )
