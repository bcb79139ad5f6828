"""API tokens: made by an admin, shown once, stored as a digest, scoped to ingest or read."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .models import ApiToken

TOKEN_PREFIX = "trb_"
# last_used_at is a write on the hot path: refresh it at most this often per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_token(
    *,
    name: str,
    scope: str,
    namespaces: list[str] | None = None,
    owner=None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(ApiToken.Scope.values)}")
    if not name.strip():
        raise ValueError("a token needs a name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken.objects.create(
        name=name.strip(),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        digest=digest(secret),
        scope=scope,
        namespaces=sorted(set(namespaces or [])),
        owner=owner,
        expires_at=expires_at,
    )
    return IssuedToken(token=token, secret=secret)


@transaction.atomic
def revoke_token(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def bearer_secret(authorization: str) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header, or None."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate_secret(secret: str) -> ApiToken | None:
    """The active token with this secret, or None (unknown, revoked or expired)."""
    token = ApiToken.objects.filter(digest=digest(secret)).first()
    if token is None or not token.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
