"""Managing API tokens: the JSON API (/api/v1/tokens) and the page (/tokens/), for developers and admins.

Developers see and revoke the tokens they own; admins all tokens. A developer narrowed to some namespaces can only
make tokens narrowed to (some of) those namespaces. The secret is in the answer to the creation, and nowhere else.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied as PageDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import ApiToken
from .openapi import errors, typed
from .permissions import is_admin, namespace_scope, require_permission
from .roles import ADD_TOKENS, REVOKE_TOKENS, VIEW_TOKENS
from .tokens import create_token, revoke_token


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def token_json(token: ApiToken) -> dict:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope,
        "namespaces": token.namespaces,
        "owner": token.owner.get_username() if token.owner else None,
        "createdAt": iso(token.created_at),
        "lastUsedAt": iso(token.last_used_at),
        "expiresAt": iso(token.expires_at),
        "revokedAt": iso(token.revoked_at),
        "active": token.is_active,
    }


def tokens_for(user):
    tokens = ApiToken.objects.select_related("owner")
    return tokens if is_admin(user) else tokens.filter(owner=user)


def allowed_namespaces(user, namespaces: list[str]) -> list[str]:
    """The namespaces a new token may have: a narrowed developer must stay within their namespaces."""
    from lineage.models import Namespace

    scope = namespace_scope(user)
    if scope is None:
        return namespaces
    mine = set(Namespace.objects.filter(pk__in=scope).values_list("name", flat=True))
    if not namespaces:
        raise PermissionDenied(f"you may only make tokens limited to your namespaces: {', '.join(sorted(mine))}")
    outside = sorted(set(namespaces) - mine)
    if outside:
        raise PermissionDenied(f"not your namespaces: {', '.join(outside)}")
    return namespaces


def issue(user, *, name: str, scope: str, namespaces: list[str], expires_in_days: int | None):
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    return create_token(
        name=name, scope=scope, namespaces=allowed_namespaces(user, namespaces), owner=user, expires_at=expires_at
    )


class TokenInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=ApiToken.Scope.values)
    namespaces = serializers.ListField(child=serializers.CharField(max_length=1024), required=False, default=list)
    expiresInDays = serializers.IntegerField(min_value=1, max_value=3650, required=False)


class TokenListView(APIView):
    required_permissions = {"GET": [VIEW_TOKENS], "POST": [ADD_TOKENS]}

    @extend_schema(
        operation_id="listTokens",
        summary="API tokens you may manage (admins: all)",
        responses={200: typed("TokenList"), **errors(401, 403)},
        tags=["Tokens"],
    )
    def get(self, request):
        return Response({"tokens": [token_json(t) for t in tokens_for(request.user)]})

    @extend_schema(
        operation_id="createToken",
        summary="Make a token; the secret is in this answer only",
        request=TokenInput,
        responses={201: typed("NewToken", "The token, with its secret `token` (shown once)."), **errors(400, 401, 403)},
        tags=["Tokens"],
    )
    def post(self, request):
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        issued = issue(
            request.user,
            name=values["name"],
            scope=values["scope"],
            namespaces=values["namespaces"],
            expires_in_days=values.get("expiresInDays"),
        )
        return Response({**token_json(issued.token), "token": issued.secret}, status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    required_permissions = {"GET": [VIEW_TOKENS], "DELETE": [REVOKE_TOKENS]}

    @extend_schema(operation_id="getToken", responses={200: typed("Token"), **errors(401, 403, 404)}, tags=["Tokens"])
    def get(self, request, pk: int):
        return Response(token_json(get_object_or_404(tokens_for(request.user), pk=pk)))

    @extend_schema(
        operation_id="revokeToken",
        summary="Revoke a token (it stops working at once)",
        responses={204: None, **errors(401, 403, 404)},
        tags=["Tokens"],
    )
    def delete(self, request, pk: int):
        revoke_token(token=get_object_or_404(tokens_for(request.user), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


@require_permission(VIEW_TOKENS)
def tokens_page(request):
    issued = None
    if request.method == "POST":
        if not request.user.has_perm(ADD_TOKENS):
            raise PageDenied  # handler403 renders the page and records the refusal
        form = TokenInput(
            data={
                "name": request.POST.get("name", ""),
                "scope": request.POST.get("scope", ""),
                "namespaces": [n.strip() for n in request.POST.get("namespaces", "").split(",") if n.strip()],
                **({"expiresInDays": request.POST["expires"]} if request.POST.get("expires") else {}),
            }
        )
        if form.is_valid():
            try:
                issued = issue(
                    request.user,
                    name=form.validated_data["name"],
                    scope=form.validated_data["scope"],
                    namespaces=form.validated_data["namespaces"],
                    expires_in_days=form.validated_data.get("expiresInDays"),
                )
            except PermissionDenied as error:
                messages.error(request, str(error.detail))
        else:
            for field, errors in form.errors.items():
                messages.error(request, f"{field}: {' '.join(errors)}")
    return render(
        request,
        "governance/tokens.html",
        {
            "tokens": tokens_for(request.user),
            "issued": issued,
            "scopes": ApiToken.Scope.choices,
            "can_add": request.user.has_perm(ADD_TOKENS),
            "can_revoke": request.user.has_perm(REVOKE_TOKENS),
        },
    )


@require_POST
@require_permission(REVOKE_TOKENS)
def revoke_page(request, pk: int):
    token = get_object_or_404(tokens_for(request.user), pk=pk)
    revoke_token(token=token)
    messages.info(request, f"Token {token.name!r} ({token.prefix}…) revoked.")
    return redirect("tokens")
