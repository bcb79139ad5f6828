"""API tokens: made by an admin, shown once, stored as a digest, scoped to ingest, read or governance-read, and
expiring after a default lifetime (settings TRIBUTARY_TOKEN_LIFETIME_DAYS, TRIBUTARY_INGEST_TOKEN_LIFETIME_DAYS)
unless made with an explicit expiry."""

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from governance import audit
from governance.mfa import has_device, mfa_required
from governance.models import ApiToken

TOKEN_PREFIX = "trb_"
# last_used_at is a write on the hot path: refresh it at most this often per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


class InvalidToken(Exception):
    """Why a bearer secret authenticates nobody: the message of the 401."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def default_expiry(scope: str, now: datetime | None = None) -> datetime | None:
    """When a token of this scope made now expires, unless it is made with an explicit expiry."""
    days = (
        settings.TRIBUTARY_INGEST_TOKEN_LIFETIME_DAYS
        if scope == ApiToken.Scope.INGEST
        else settings.TRIBUTARY_TOKEN_LIFETIME_DAYS
    )
    return (now or timezone.now()) + timedelta(days=days) if days > 0 else None


@transaction.atomic
def create_token(
    *,
    name: str,
    scope: str,
    namespaces: list[str] | None = None,
    owner=None,
    expires_at: datetime | None = None,
    never_expires: bool = False,
    actor: Any = None,
) -> IssuedToken:
    """A new token and its secret. `actor` is who made it (default: the current request's user).

    Without `expires_at` the token expires after its scope's default lifetime, or never with `never_expires`.
    Who may make which scope is for the caller to decide (governance.token_views: a governance-read token needs
    the GRANT_GOVERNANCE_READ capability; the command line is the installation's own).
    """
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(ApiToken.Scope.values)}")
    if not name.strip():
        raise ValueError("a token needs a name")
    if scope == ApiToken.Scope.GOVERNANCE_READ:
        if owner is None:
            raise ValueError("a governance-read token reads with its owner's rights: give it an owner")
        if mfa_required(owner) and not has_device(owner):
            # It would be refused on every governance read (governance.permissions.token_refusal).
            raise ValueError(
                f"{owner.get_username()} has not enrolled the second factor their role needs: "
                "a governance-read token of theirs would read no governance data"
            )
    if expires_at is not None and never_expires:
        raise ValueError("give an expiry or no expiry, not both")
    if expires_at is None and not never_expires:
        expires_at = default_expiry(scope)
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


def describe_expiry(token: ApiToken) -> str:
    """When the token expires, for people: the time and how far off it is, or that it never does."""
    if token.expires_at is None:
        return "never (until revoked)"
    moment = token.expires_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    left = token.expires_at - timezone.now()
    if left.total_seconds() <= 0:
        return f"{moment} (expired)"
    days = round(left.total_seconds() / 86400)
    return f"{moment} (in {days} days)" if days >= 1 else f"{moment} (within a day)"


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


@functools.cache
def _token_sql() -> str:
    quote = connection.ops.quote_name
    users = get_user_model()._meta
    return (
        f"SELECT t.*, u.{quote(users.get_field('is_active').column)} AS owner_is_active "
        f"FROM {quote(ApiToken._meta.db_table)} t LEFT JOIN {quote(users.db_table)} u "
        f"ON u.{quote(users.pk.column)} = t.{quote(ApiToken._meta.get_field('owner').column)} WHERE t.digest = %s"
    )


def check_secret(secret: str) -> ApiToken:
    """The token with this secret, if it may be used: else InvalidToken says why (unknown, revoked, expired, or
    its owner deactivated: a token acts for its owner, and stops with them)."""
    # A raw query: the same row, without compiling a queryset on every ingestion request. Never cached in the
    # process: a revocation is honoured by every process at once.
    token = next(iter(ApiToken.objects.raw(_token_sql(), [digest(secret)])), None)
    now = timezone.now()
    if token is None:
        raise InvalidToken("the token is unknown")
    if token.revoked_at is not None:
        raise InvalidToken("the token was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        expired = token.expires_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        raise InvalidToken(f"the token expired at {expired}: ask for a new one")
    if token.owner_id is not None and not token.owner_is_active:
        raise InvalidToken("the token's owner is deactivated")
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


def authenticate_secret(secret: str) -> ApiToken | None:
    """The token with this secret if it may be used, else None (see `check_secret` for why not)."""
    try:
        return check_secret(secret)
    except InvalidToken:
        return None
