"""API tokens: made by an admin, shown once, stored as a digest, scoped to ingest or read."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from . import audit
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
    actor: Any = None,
) -> IssuedToken:
    """A new token and its secret. `actor` is who made it (default: the current request's user)."""
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
    audit.record("token.created", actor=actor, target=token, changes=audit.diff({}, _described(token)))
    return IssuedToken(token=token, secret=secret)


def _described(token: ApiToken) -> dict[str, Any]:
    """What an audit record says about a token: never its secret, nor even its digest."""
    return {
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope,
        "namespaces": token.namespaces,
        "owner": token.owner.get_username() if token.owner else None,
        "expires_at": token.expires_at,
    }


@transaction.atomic
def revoke_token(*, token: ApiToken, actor: Any = None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            "token.revoked",
            actor=actor,
            target=token,
            changes=audit.diff({"revoked_at": None}, {"revoked_at": token.revoked_at}),
        )
    return token


def bearer_secret(authorization: str) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header, or None."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate_secret(secret: str) -> ApiToken | None:
    """The active token with this secret, or None (unknown, revoked or expired)."""
    # A raw query: the same row, without compiling a queryset on every ingestion request. Never cached in the
    # process: a revocation is honoured by every process at once.
    table = connection.ops.quote_name(ApiToken._meta.db_table)
    token = next(iter(ApiToken.objects.raw(f"SELECT * FROM {table} WHERE digest = %s", [digest(secret)])), None)
    if token is None or not token.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None:
        with transaction.atomic():
            # Conditional, so that of two first requests at once only one records the first use.
            if ApiToken.objects.filter(pk=token.pk, last_used_at__isnull=True).update(last_used_at=now):
                audit.record("token.first_use", actor=token, target=token)
        token.last_used_at = now
    elif now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
