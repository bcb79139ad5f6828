"""DRF authentication by bearer token, for the read API."""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from governance.models import ApiToken
from governance.tokens import InvalidToken, bearer_secret, check_secret


class TokenUser(AnonymousUser):
    """The principal behind a token without an owner: authenticated, with only what the token's scope allows."""

    def __init__(self, token: ApiToken):
        self.token = token
        self.username = f"token:{token.prefix}"

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_authenticated(self) -> bool:
        return True

    def __str__(self) -> str:
        return self.username


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        secret = bearer_secret(request.META.get("HTTP_AUTHORIZATION", ""))
        if secret is None:
            return None
        try:
            token = check_secret(secret)
        except InvalidToken as error:
            raise exceptions.AuthenticationFailed(str(error)) from None
        if token.owner is None:
            return (TokenUser(token), token)
        # The owner acts through the token, with only what the token's scope allows and the view accepts
        # (`token_scopes`, governance.permissions).
        token.owner._api_token = token
        return (token.owner, token)

    def authenticate_header(self, request) -> str:
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes the bearer token in the OpenAPI schema (`/api/schema/`)."""

    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `manage.py create_token --scope read` for the lineage reads (`ingest` for "
            "POST /api/v1/lineage; `governance-read`, made by an admin, also for the owner's governance reads).",
        }
