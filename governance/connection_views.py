"""Connections over the API (/api/v1/connections) and in the browser (/connections/)."""

import json
import logging

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import audit, connections, crypto, throttling
from governance.api.errors import error_body
from governance.mfa import mfa_required
from governance.models import Connection
from governance.openapi import errors, typed
from governance.permissions import GOVERNANCE_READ_TOKENS, has_capability, require_permission
from governance.roles import ADD_CONNECTIONS, CHANGE_CONNECTIONS, DELETE_CONNECTIONS, USE_CONNECTIONS, VIEW_CONNECTIONS
from governance.times import iso

log = logging.getLogger(__name__)


def connection_json(connection: Connection) -> dict:
    """Metadata only: whether secrets are set, never what they are."""
    username = lambda user: user.get_username() if user else None  # noqa: E731
    return {
        "id": connection.slug,
        "connType": connection.conn_type,
        "host": connection.host,
        "port": connection.port,
        "schema": connection.schema,
        "login": connection.login,
        "hasPassword": connection.has_password,
        "hasExtra": connection.has_extra,
        "description": connection.description,
        "namespaces": connection.namespaces,
        "owner": username(connection.owner),
        "createdAt": iso(connection.created_at),
        "createdBy": username(connection.created_by),
        "updatedAt": iso(connection.updated_at),
        "updatedBy": username(connection.updated_by),
        "keyId": connection.key_id or None,
    }


class ConnectionInput(serializers.Serializer):
    id = serializers.SlugField(max_length=250, required=False)
    connType = serializers.CharField(max_length=50, required=False, source="conn_type")
    host = serializers.CharField(max_length=500, required=False, allow_blank=True)
    port = serializers.IntegerField(min_value=1, max_value=65535, required=False, allow_null=True)
    schema = serializers.CharField(max_length=500, required=False, allow_blank=True)
    login = serializers.CharField(max_length=500, required=False, allow_blank=True)
    password = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False)
    extra = serializers.DictField(required=False, write_only=True)
    description = serializers.CharField(required=False, allow_blank=True)
    namespaces = serializers.ListField(child=serializers.CharField(max_length=1024), required=False)
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), required=False, allow_null=True
    )


def keys_message(error: Exception) -> str:
    """What a user is told; the detail (which may name a file on the server) goes to the log, for operators."""
    log.error("connection encryption keys: %s", error)
    return (
        "connection encryption keys are not configured on the server "
        "(an operator sees why in the log and with `python manage.py check`)"
    )


class ConnectionAPIMixin:
    def handle_exception(self, exc):
        if isinstance(exc, crypto.KeysNotConfigured):
            return Response({"detail": keys_message(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        if isinstance(exc, crypto.SecretError):
            # Misconfigured keys: say which connection and what to do, never a traceback.
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        if isinstance(exc, connections.ConnectionRefused):
            # Answered here rather than by DRF's exception handler (for the `reauthenticate` flag), so the refusal
            # is recorded here too, unless the service already recorded it (a reveal's own record).
            if not exc.recorded:
                audit.record_denied(request=self.request, reason=exc.reason)
            return Response(
                error_body(403, exc.reason, self.request, detail=exc.reason, reauthenticate=exc.code == "reauth"),
                status=403,
            )
        return super().handle_exception(exc)

    def get_connection(self, request, slug: str) -> Connection:
        connection = connections.visible_connections(request.user).filter(slug=slug).first()
        if connection is None:
            raise Http404(f"no connection {slug!r}")
        return connection


class ConnectionListView(ConnectionAPIMixin, APIView):
    required_permissions = {"GET": [VIEW_CONNECTIONS], "POST": [ADD_CONNECTIONS]}
    token_scopes = GOVERNANCE_READ_TOKENS  # metadata only: the secrets are revealed by POST, to a session

    @extend_schema(
        operation_id="listConnections",
        summary="Connections you may see (metadata, never secrets)",
        responses={200: typed("ConnectionList"), **errors(401, 403, 503)},
        tags=["Connections"],
    )
    def get(self, request):
        items = [connection_json(c) for c in connections.visible_connections(request.user)]
        return Response({"connections": items, "totalCount": len(items)})

    @extend_schema(
        operation_id="createConnection",
        request=ConnectionInput,
        responses={201: typed("Connection", "The connection's metadata."), **errors(400, 401, 403, 503)},
        tags=["Connections"],
    )
    def post(self, request):
        data = ConnectionInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        slug = values.pop("id", None)
        if not slug:
            raise serializers.ValidationError({"id": ["required"]})
        if Connection.objects.filter(slug=slug).exists():
            raise serializers.ValidationError({"id": [f"a connection {slug!r} exists already"]})
        connection = connections.connection_create(slug=slug, values=values, user=request.user)
        return Response(connection_json(connection), status=status.HTTP_201_CREATED)


class ConnectionDetailView(ConnectionAPIMixin, APIView):
    required_permissions = {"GET": [VIEW_CONNECTIONS], "PATCH": [CHANGE_CONNECTIONS], "DELETE": [DELETE_CONNECTIONS]}
    token_scopes = GOVERNANCE_READ_TOKENS

    @extend_schema(
        operation_id="getConnection",
        responses={200: typed("Connection"), **errors(401, 403, 404)},
        tags=["Connections"],
    )
    def get(self, request, slug: str):
        return Response(connection_json(self.get_connection(request, slug)))

    @extend_schema(
        operation_id="updateConnection",
        request=ConnectionInput,
        responses={200: typed("Connection"), **errors(400, 401, 403, 404, 503)},
        tags=["Connections"],
    )
    def patch(self, request, slug: str):
        connection = self.get_connection(request, slug)
        if not connections.can_change(request.user, connection, CHANGE_CONNECTIONS):
            self.permission_denied(request, message="You may not change connections of these namespaces.")
        data = ConnectionInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("id", None)
        return Response(
            connection_json(
                connections.connection_update(connection=connection, values=values, user=request.user, request=request)
            )
        )

    @extend_schema(
        operation_id="deleteConnection", responses={204: None, **errors(401, 403, 404)}, tags=["Connections"]
    )
    def delete(self, request, slug: str):
        connection = self.get_connection(request, slug)
        if not connections.can_change(request.user, connection, DELETE_CONNECTIONS):
            self.permission_denied(request, message="You may not delete connections of these namespaces.")
        connections.connection_delete(connection=connection, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@method_decorator(never_cache, name="dispatch")  # the answer holds secrets: no browser or proxy may keep it
class ConnectionRevealView(ConnectionAPIMixin, APIView):
    required_permissions = {"POST": [VIEW_CONNECTIONS]}  # the use check, with its audit record, is in the service

    @extend_schema(
        operation_id="revealConnection",
        summary="The connection's password and extra; needs re-authentication within 5 minutes",
        request=None,
        responses={
            200: typed("ConnectionSecrets", "{password, extra}"),
            **errors(401, 403, 404, 503, e403="Not allowed, or `reauthenticate: true`."),
        },
        tags=["Connections"],
    )
    def post(self, request, slug: str):
        connection = connections.visible_connections(request.user).filter(slug=slug).first()
        if connection is None:
            connections.record_unseen_reveal(slug=slug, user=request.user, request=request)
            raise Http404(f"no connection {slug!r}")
        return Response(connections.connection_reveal(connection=connection, user=request.user, request=request))


class ConnectionTestView(ConnectionAPIMixin, APIView):
    required_permissions = {"POST": [USE_CONNECTIONS]}

    @extend_schema(
        operation_id="testConnection",
        summary="Really connect (PostgreSQL) and report",
        request=None,
        responses={
            200: typed("ConnectionTest", "{ok, message}; secrets scrubbed from the message"),
            **errors(401, 403, 404, 503),
        },
        tags=["Connections"],
    )
    def post(self, request, slug: str):
        result = connections.connection_test(
            connection=self.get_connection(request, slug), user=request.user, request=request
        )
        return Response({"ok": result.ok, "message": result.message})


class ReauthInput(serializers.Serializer):
    password = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    code = serializers.CharField(
        required=False, allow_blank=True, help_text="A current second-factor code; needed too if your role uses one."
    )


class ReauthView(APIView):
    required_permissions = {"POST": [VIEW_CONNECTIONS]}

    @extend_schema(
        operation_id="reauthenticate",
        summary="Confirm your password (and a second-factor code, if your role uses one)",
        request=ReauthInput,
        responses={
            200: typed("Reauthenticated"),
            **errors(
                400,
                401,
                403,
                e400="That did not match.",
                e403="A token: tokens only read, and re-authentication needs a session.",
            ),
        },
        tags=["Connections"],
    )
    def post(self, request):
        data = ReauthInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = connections.reauthenticate(
            request, password=data.validated_data.get("password", ""), code=data.validated_data.get("code", "")
        )
        if result.locked:
            seconds = str(throttling.cool_off_minutes() * 60)
            return Response(
                error_body(429, result.problem, request, detail=result.problem, locked=True),
                status=429,
                headers={"Retry-After": seconds},
            )
        if not result.ok:
            return Response(error_body(400, result.problem, request, detail=result.problem), status=400)
        return Response({"reauthenticated": True})


# --- Pages ---------------------------------------------------------------------------------------------------


class JSONObjectField(forms.JSONField):
    """JSON typed in a text box; nothing typed shows as an empty box (Django's JSONField shows `null`)."""

    def prepare_value(self, value):
        return "" if value is None else super().prepare_value(value)


class ConnectionForm(forms.ModelForm):
    namespaces_text = forms.CharField(
        required=False, label="Namespaces", help_text="OpenLineage namespaces it serves, comma-separated."
    )
    password = forms.CharField(
        required=False,
        label="Database password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the current password.",
    )
    extra = JSONObjectField(
        required=False,
        label="Extra (JSON)",
        help_text='A JSON object, such as {"sslmode": "require"}; leave empty to keep the current extra.',
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    class Meta:
        model = Connection
        fields = ["slug", "conn_type", "host", "port", "schema", "login", "description"]
        labels = {
            "slug": "Connection id",
            "conn_type": "Type",
            "schema": "Database / schema",
            "login": "Database login (user name)",
        }
        widgets = {
            "conn_type": forms.Select(choices=Connection.Type.choices),
            "description": forms.Textarea(attrs={"rows": 2}),
        }

    field_order = ["slug", "conn_type", "host", "port", "schema", "login", "description", "namespaces_text"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:  # nothing to keep yet
            self.fields["password"].help_text = "Leave empty for none."
            self.fields["extra"].help_text = 'A JSON object, such as {"sslmode": "require"}; leave empty for none.'

    def values(self) -> dict:
        values = {k: v for k, v in self.cleaned_data.items() if k in connections.PUBLIC_FIELDS}
        values["namespaces"] = [n.strip() for n in self.cleaned_data["namespaces_text"].split(",") if n.strip()]
        if self.cleaned_data.get("password"):
            values["password"] = self.cleaned_data["password"]
        if self.cleaned_data.get("extra"):
            values["extra"] = self.cleaned_data["extra"]
        return values


def reauth_context(request) -> dict:
    """What a page's re-authentication fields need: whether they are needed at all (a recent re-authentication
    holds), whether the code is asked for, and whether the throttle holds (then no form is offered, only when
    to come back)."""
    fresh = connections.recently_reauthenticated(request)
    locked = not fresh and throttling.reauth_locked(request, username=request.user.get_username())
    return {
        "fresh": fresh,
        "needs_code": mfa_required(request.user),
        "reauth_locked": locked,
        "cool_off_minutes": throttling.cool_off_minutes(),
    }


def _page_connection(request, slug: str) -> Connection:
    connection = connections.visible_connections(request.user).filter(slug=slug).first()
    if connection is None:
        raise Http404
    return connection


@require_permission(VIEW_CONNECTIONS)
def connection_list_page(request):
    return render(
        request,
        "governance/connections.html",
        {
            "connections": connections.visible_connections(request.user),
            "can_add": has_capability(request.user, ADD_CONNECTIONS),
        },
    )


@require_permission(ADD_CONNECTIONS)
def connection_new_page(request):
    form = ConnectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            connection = connections.connection_create(
                slug=form.cleaned_data["slug"], values=form.values(), user=request.user
            )
        except connections.ConnectionRefused as refused:
            audit.record_denied(request=request, reason=refused.reason)
            form.add_error(None, refused.reason)
            return render(request, "governance/connection_form.html", {"form": form, "creating": True}, status=403)
        except crypto.KeysNotConfigured as error:
            form.add_error(None, keys_message(error))
            return render(request, "governance/connection_form.html", {"form": form, "creating": True}, status=503)
        messages.info(request, f"Connection {connection.slug} created.")
        return redirect("connection-page", slug=connection.slug)
    return render(request, "governance/connection_form.html", {"form": form, "creating": True})


@require_permission(VIEW_CONNECTIONS)
def connection_page(request, slug: str):
    connection = _page_connection(request, slug)
    return render(
        request,
        "governance/connection.html",
        {
            "connection": connection,
            "may_use": connections.may_use(request.user, connection),
            "may_change": connections.can_change(request.user, connection, CHANGE_CONNECTIONS),
            "may_delete": connections.can_change(request.user, connection, DELETE_CONNECTIONS),
            **reauth_context(request),
        },
    )


@require_permission(CHANGE_CONNECTIONS)
def connection_edit_page(request, slug: str):
    connection = _page_connection(request, slug)
    if not connections.can_change(request.user, connection, CHANGE_CONNECTIONS):
        raise PermissionDenied("you may not change connections of these namespaces")  # handler403 records it
    form = ConnectionForm(
        request.POST or None, instance=connection, initial={"namespaces_text": ", ".join(connection.namespaces)}
    )
    form.fields["slug"].disabled = True
    context = {"form": form, "connection": connection, "needs_code": mfa_required(request.user)}
    status = 200
    if request.method == "POST" and form.is_valid():
        # The edit form's own `password` is the connection's; the person's own go in reauth_password and reauth_code.
        typed = request.POST.get("reauth_password", ""), request.POST.get("reauth_code", "")
        result = connections.reauthenticate(request, password=typed[0], code=typed[1]) if any(typed) else None
        try:
            if result is not None and not result.ok:
                form.add_error(None, result.sentence)
                status = 429 if result.locked else 400
            else:
                connections.connection_update(
                    connection=connection, values=form.values(), user=request.user, request=request
                )
                messages.info(request, f"Connection {connection.slug} saved.")
                return redirect("connection-page", slug=connection.slug)
        except connections.ConnectionRefused as refused:
            if not refused.recorded:
                audit.record_denied(request=request, reason=refused.reason)
            form.add_error(None, refused.reason)
            status = 403
        except (crypto.KeysNotConfigured, crypto.SecretError) as error:
            form.add_error(None, keys_message(error) if isinstance(error, crypto.KeysNotConfigured) else str(error))
            status = 503
    context.update(reauth_context(request))
    return render(request, "governance/connection_form.html", context, status=status)


@require_POST
@require_permission(DELETE_CONNECTIONS)
def connection_delete_page(request, slug: str):
    connection = _page_connection(request, slug)
    if not connections.can_change(request.user, connection, DELETE_CONNECTIONS):
        raise PermissionDenied("you may not delete connections of these namespaces")  # handler403 records it
    connections.connection_delete(connection=connection, user=request.user)
    messages.info(request, f"Connection {slug} deleted.")
    return redirect("connections")


@require_POST
@require_permission(USE_CONNECTIONS)
@never_cache  # a reveal's page holds secrets: no browser or proxy may keep it
def connection_use_page(request, slug: str, action: str):
    """The test and reveal buttons. Reveal asks for the password or a code first when needed."""
    connection = connections.visible_connections(request.user).filter(slug=slug).first()
    if connection is None:
        if action == "reveal":
            connections.record_unseen_reveal(slug=slug, user=request.user, request=request)
        raise Http404
    status = 200
    context = {
        "connection": connection,
        "may_use": connections.may_use(request.user, connection),
        "may_change": connections.can_change(request.user, connection, CHANGE_CONNECTIONS),
        "may_delete": connections.can_change(request.user, connection, DELETE_CONNECTIONS),
    }
    result = None
    try:
        if action == "test":
            context["test"] = connections.connection_test(connection=connection, user=request.user, request=request)
        else:
            typed = request.POST.get("password", ""), request.POST.get("code", "")
            result = connections.reauthenticate(request, password=typed[0], code=typed[1]) if any(typed) else None
            if result is not None and not result.ok:
                messages.error(request, result.sentence)
                status = 429 if result.locked else status
            context["secrets"] = connections.connection_reveal(
                connection=connection, user=request.user, request=request
            )
            extra = context["secrets"].get("extra")
            context["extra_json"] = json.dumps(extra, indent=2, sort_keys=True) if extra else ""
    except connections.ConnectionRefused as refused:
        # After a failed re-authentication its message says it all; "re-authenticate first" would repeat it.
        if not (refused.code == "reauth" and result is not None):
            context["refused"] = refused
        if not refused.recorded:
            audit.record_denied(request=request, reason=refused.reason)
        if refused.code != "reauth":
            status = 403
    except crypto.SecretError as error:
        context["secret_error"] = str(error)
    except crypto.KeysNotConfigured as error:
        context["secret_error"] = keys_message(error)
        status = 503
    context.update(reauth_context(request))
    return render(request, "governance/connection.html", context, status=status)
