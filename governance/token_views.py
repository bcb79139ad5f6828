"""Managing API tokens: the JSON API (/api/v1/tokens) and the page (/tokens/), for developers and admins.

Developers see and revoke the tokens they own; admins all tokens. A developer narrowed to some namespaces can only
make tokens narrowed to (some of) those namespaces. Governance-read tokens, and tokens for someone else, are made
by admins (GRANT_GOVERNANCE_READ; an admin's session). The secret is in the answer to the creation, and nowhere
else; the expiry is in that answer and in every listing.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as PageDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.models import ApiToken
from governance.openapi import errors, typed
from governance.permissions import has_capability, is_admin, namespace_scope, require_permission
from governance.roles import ADD_TOKENS, GRANT_GOVERNANCE_READ, REVOKE_TOKENS, VIEW_TOKENS
from governance.times import iso
from governance.tokens import create_token, describe_expiry, revoke_token


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
        "expires": describe_expiry(token),
        "revokedAt": iso(token.revoked_at),
        "active": token.is_active,
    }


def tokens_for(user):
    tokens = ApiToken.objects.select_related("owner")
    return tokens if is_admin(user) else tokens.filter(owner=user)


def allowed_namespaces(user, namespaces: list[str]) -> list[str]:
    """The namespaces a new token may have: a narrowed developer must stay within their namespaces."""
    from governance.models import Namespace

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


def scopes_for(user) -> list[tuple[str, str]]:
    """The scopes `user` may make tokens of: governance-read only with the capability to grant it."""
    return [
        (value, label)
        for value, label in ApiToken.Scope.choices
        if value != ApiToken.Scope.GOVERNANCE_READ or has_capability(user, GRANT_GOVERNANCE_READ)
    ]


def issue(user, *, name: str, scope: str, namespaces: list[str], expires_in_days=None, expires_at=None, owner=""):
    """A token made by `user` (a session: tokens make no tokens), for themselves or, by an admin, for `owner`.

    Without an expiry the token gets its scope's default lifetime; over the API a token always expires."""
    if scope not in dict(scopes_for(user)):
        raise PermissionDenied(
            "only an admin makes governance-read tokens: they read governance data without a second factor"
        )
    holder = user
    if owner and owner != user.get_username():
        if not is_admin(user):
            raise PermissionDenied("only an admin makes tokens for someone else")
        holder = get_user_model().objects.filter(username=owner, is_active=True).first()
        if holder is None:
            raise ValidationError({"owner": [f"no active user named {owner!r}"]})
    if expires_in_days:
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    try:
        return create_token(
            name=name,
            scope=scope,
            namespaces=allowed_namespaces(user, namespaces),
            owner=holder,
            expires_at=expires_at,
        )
    except ValueError as error:
        raise ValidationError({"scope": [str(error)]}) from None


class TokenInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=ApiToken.Scope.values)
    namespaces = serializers.ListField(child=serializers.CharField(max_length=1024), required=False, default=list)
    expiresInDays = serializers.IntegerField(min_value=1, max_value=3650, required=False)
    expiresAt = serializers.DateTimeField(required=False)
    owner = serializers.CharField(
        max_length=150, required=False, allow_blank=True, default="", help_text="Admins only: who it is for."
    )

    def validate_expiresAt(self, value):
        if value <= timezone.now():
            raise serializers.ValidationError("must be in the future")
        if value > timezone.now() + timedelta(days=3650):
            raise serializers.ValidationError("must be within ten years")
        return value

    def validate(self, data):
        if "expiresInDays" in data and "expiresAt" in data:
            raise serializers.ValidationError({"expiresAt": ["give expiresInDays or expiresAt, not both"]})
        return data


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
            expires_at=values.get("expiresAt"),
            owner=values["owner"],
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
                "owner": request.POST.get("owner", "").strip(),
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
                    owner=form.validated_data["owner"],
                )
            except (PermissionDenied, ValidationError) as error:
                messages.error(request, " ".join(_messages(error.detail)))
        else:
            for field, errors in form.errors.items():
                messages.error(request, f"{field}: {' '.join(errors)}")
    return render(
        request,
        "governance/tokens.html",
        {
            "tokens": tokens_for(request.user),
            "issued": issued,
            "scopes": scopes_for(request.user) if request.user.has_perm(ADD_TOKENS) else [],
            "lifetimes": {
                "default": settings.TRIBUTARY_TOKEN_LIFETIME_DAYS,
                "ingest": settings.TRIBUTARY_INGEST_TOKEN_LIFETIME_DAYS,
            },
            "can_add": request.user.has_perm(ADD_TOKENS),
            "can_revoke": request.user.has_perm(REVOKE_TOKENS),
            "can_choose_owner": is_admin(request.user),
        },
    )


def _messages(detail) -> list[str]:
    if isinstance(detail, dict):
        return [f"{key}: {text}" for key, value in detail.items() for text in _messages(value)]
    if isinstance(detail, list):
        return [text for item in detail for text in _messages(item)]
    return [str(detail)]


@require_POST
@require_permission(REVOKE_TOKENS)
def revoke_page(request, pk: int):
    token = get_object_or_404(tokens_for(request.user), pk=pk)
    revoke_token(token=token)
    messages.info(request, f"Token {token.name!r} ({token.prefix}…) revoked.")
    return redirect("tokens")
