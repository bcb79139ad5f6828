"""The quarantine over the API: operators list refused events and replay them after a fix."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import params
from governance.api.errors import error_body
from governance.openapi import errors, typed
from governance.permissions import namespace_scope
from governance.roles import REPLAY_QUARANTINE, VIEW_QUARANTINE
from governance.times import iso
from lineage.ingest import services
from lineage.models import QuarantinedEvent


def item_json(item: QuarantinedEvent, *, body: bool = False) -> dict:
    answer = {
        "id": item.pk,
        "receivedAt": iso(item.received_at),
        "source": item.source,
        "status": item.status,
        "reason": item.reason,
        "errors": item.errors,
        "token": item.token.prefix if item.token else None,
        "replayedAt": iso(item.replayed_at),
    }
    if body:
        answer["body"] = item.body
    return answer


class QuarantineMixin:
    def check_permissions(self, request):
        super().check_permissions(request)
        # A refused event may name no readable namespace: only people with every namespace see the quarantine.
        if namespace_scope(request.user) is not None:
            raise PermissionDenied("The quarantine is for people who act in every namespace.")


class QuarantineListView(QuarantineMixin, APIView):
    required_permissions = {"GET": [VIEW_QUARANTINE]}

    @extend_schema(
        operation_id="listQuarantine",
        summary="Refused events kept for inspection and replay",
        parameters=[
            OpenApiParameter("status", str, enum=QuarantinedEvent.Status.values),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: typed("QuarantineList"), **errors(400, 401, 403)},
        tags=["Quarantine"],
    )
    def get(self, request):
        query = request.query_params
        status = params.choice(query, "status", tuple(QuarantinedEvent.Status.values), "pending")
        limit = params.integer(query, "limit", 100, minimum=1, maximum=1000)
        offset = params.integer(query, "offset", 0)
        items = QuarantinedEvent.objects.filter(status=status).select_related("token").order_by("-received_at")
        return Response({"events": [item_json(i) for i in items[offset : offset + limit]], "totalCount": items.count()})

    def handle_exception(self, exc):
        from governance.api.params import BadParameter

        if isinstance(exc, BadParameter):
            return params.bad_parameter(exc)
        return super().handle_exception(exc)


class QuarantineDetailView(QuarantineMixin, APIView):
    required_permissions = {"GET": [VIEW_QUARANTINE]}

    @extend_schema(
        operation_id="getQuarantinedEvent",
        responses={200: typed("QuarantinedEventDetail", "The event with its raw `body`."), **errors(401, 403, 404)},
        tags=["Quarantine"],
    )
    def get(self, request, pk: int):
        return Response(
            item_json(get_object_or_404(QuarantinedEvent.objects.select_related("token"), pk=pk), body=True)
        )


class QuarantineReplayView(QuarantineMixin, APIView):
    required_permissions = {"POST": [REPLAY_QUARANTINE]}

    @extend_schema(
        operation_id="replayQuarantinedEvent",
        summary="Send a quarantined event through ingestion again",
        request=None,
        responses={
            200: typed("ReplayedEvent", "Stored this time."),
            422: typed("ReplayedEvent", "Refused again: `outcome` and the item's `errors` say why."),
            **errors(401, 403, 404, 409, e409="The event is not pending (already replayed or discarded)."),
        },
        tags=["Quarantine"],
    )
    def post(self, request, pk: int):
        item = get_object_or_404(QuarantinedEvent, pk=pk)
        if item.status != QuarantinedEvent.Status.PENDING:
            message = f"event #{item.pk} is {item.status}, not pending"
            return Response(error_body(409, message, request, detail=message), status=409)
        result = services.replay_quarantined(item=item, actor=request.user)
        item.refresh_from_db()
        return Response(
            {**item_json(item), "outcome": result.outcome, "warnings": result.warnings},
            status=200 if result.stored else 422,
        )
