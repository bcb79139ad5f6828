"""The one permission mechanism: roles give capabilities, namespace grants narrow where they apply.

* A capability is a Django permission given by a role (governance.roles): `user.has_perm(READ_LINEAGE)`.
* Scope: a user (or one of their groups) with `governance.access_namespace` granted on some Namespace objects
  (django-guardian) acts only in those namespaces; without any such grant, everywhere. Admins are never narrowed.
* Tokens: a view accepts the token scopes it declares (`token_scopes`, default none), for safe methods only. The
  lineage reads accept `read` and `governance-read` tokens (LINEAGE_READ_TOKENS); governance reads (audit trail,
  compliance, connection metadata) only `governance-read` tokens, which an admin makes on purpose
  (GOVERNANCE_READ_TOKENS); the rest (tokens, quarantine) a session only. Within that, a token acts for its owner
  (or, without an owner, as a bare lineage reader), within the token's namespaces; an ingest token reads nothing.

The DRF permission class and the page decorator below are the only places that decide; views declare what they
need (`required_permissions = {"GET": [READ_LINEAGE], ...}`, `token_scopes = LINEAGE_READ_TOKENS`), queries
filter with `visible_namespace_ids`.
"""

import functools
import logging
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.contrib.auth.views import redirect_to_login
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connection
from guardian.models import GroupObjectPermission, UserObjectPermission
from rest_framework.exceptions import PermissionDenied as Refused
from rest_framework.permissions import SAFE_METHODS, DjangoObjectPermissions

from governance.mfa import has_device, mfa_required
from governance.models import ApiToken
from governance.roles import (
    ADMIN,
    READ_LINEAGE,
    VIEW_AUDIT,
    VIEW_COMPLIANCE,
    VIEW_CONNECTIONS,
    VIEW_QUARANTINE,
    VIEW_TOKENS,
)

log = logging.getLogger(__name__)
TOKEN_READABLE = {READ_LINEAGE}  # what an ownerless read token may do
READ_SCOPES = frozenset({ApiToken.Scope.READ, ApiToken.Scope.GOVERNANCE_READ})

# What a view declares as its `token_scopes`: the scopes of the tokens it accepts (safe methods only).
LINEAGE_READ_TOKENS = READ_SCOPES
GOVERNANCE_READ_TOKENS = frozenset({ApiToken.Scope.GOVERNANCE_READ})
# How a refusal names what the view holds, by the capability it requires.
GOVERNANCE_DATA = {
    VIEW_AUDIT: "the audit trail",
    VIEW_COMPLIANCE: "compliance data",
    VIEW_CONNECTIONS: "connection metadata",
    VIEW_TOKENS: "the token list",
    VIEW_QUARANTINE: "the quarantine",
}


def token_of(user) -> ApiToken | None:
    return getattr(user, "_api_token", None) or getattr(user, "token", None)


@dataclass(frozen=True)
class Access:
    """What a person's roles and grants give them, read in one query."""

    permissions: frozenset[str]  # "app_label.codename", from the user's own permissions and their groups'
    groups: frozenset[str]  # role (group) names
    namespaces: frozenset[int]  # namespaces granted `governance.access_namespace`, to the user or a group of theirs


@functools.cache
def _access_sql() -> str:
    from governance.models import Namespace

    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    user_groups = connection.ops.quote_name(Group.user_set.through._meta.db_table)
    user_permissions = connection.ops.quote_name(Permission.user_set.through._meta.db_table)
    group_permissions = connection.ops.quote_name(Permission.group_set.through._meta.db_table)
    permission, content_type = table(Permission), table(ContentType)
    # The namespace grant as django-guardian stores it: an object permission `governance.access_namespace` on a
    # Namespace, whose object_pk is text; grants of namespaces that are gone do not count (as in guardian).
    grant = f"""
        SELECT p.id FROM {permission} p JOIN {content_type} ct ON ct.id = p.content_type_id
        WHERE ct.app_label = 'governance' AND ct.model = 'namespace' AND p.codename = 'access_namespace'"""
    existing = f"o.object_pk IN (SELECT CAST(n.id AS VARCHAR(40)) FROM {table(Namespace)} n)"
    return f"""
        WITH ug AS (SELECT group_id FROM {user_groups} WHERE user_id = %(user)s)
        SELECT 'p', ct.app_label, p.codename FROM {permission} p JOIN {content_type} ct ON ct.id = p.content_type_id
        WHERE p.id IN (SELECT permission_id FROM {user_permissions} WHERE user_id = %(user)s
                       UNION SELECT permission_id FROM {group_permissions} WHERE group_id IN (SELECT group_id FROM ug))
        UNION ALL
        SELECT 'g', g.name, '' FROM {table(Group)} g WHERE g.id IN (SELECT group_id FROM ug)
        UNION ALL
        SELECT 'n', o.object_pk, '' FROM {table(UserObjectPermission)} o
        WHERE o.user_id = %(user)s AND o.permission_id IN ({grant}) AND {existing}
        UNION ALL
        SELECT 'n', o.object_pk, '' FROM {table(GroupObjectPermission)} o
        WHERE o.group_id IN (SELECT group_id FROM ug) AND o.permission_id IN ({grant}) AND {existing}"""


def access_of(user) -> Access:
    """The user's permissions, roles and namespace grants: one query, once per user object (that is, per
    request), never kept across requests, so a change of role or grant applies to the next request.

    Also primes the caches of Django's ModelBackend and our RoleBackend with what it read, so `user.has_perm`
    asks nothing more; a superuser's permissions are left to Django (all of them).
    """
    cached = getattr(user, "_tributary_access", None)
    if cached is not None:
        return cached
    permissions, groups, namespaces = set(), set(), set()
    with connection.cursor() as cursor:
        cursor.execute(_access_sql(), {"user": user.pk})
        for kind, first, second in cursor.fetchall():
            if kind == "p":
                permissions.add(f"{first}.{second}")
            elif kind == "g":
                groups.add(first)
            else:
                namespaces.add(int(first))
    access = Access(frozenset(permissions), frozenset(groups), frozenset(namespaces))
    user._tributary_access = access
    if user.is_active and not user.is_superuser:
        user._perm_cache = set(access.permissions)  # django.contrib.auth.backends.ModelBackend
    user._is_admin_role = ADMIN in access.groups  # governance.backends.RoleBackend
    return access


def is_admin(user) -> bool:
    if not user.is_authenticated or token_of(user) is not None:
        return False
    return user.is_superuser or ADMIN in access_of(user).groups


def has_capability(user, permission: str) -> bool:
    """The role's capability. Through a token: an ingest token has none; a read or governance-read token has its
    owner's (the permission class lets tokens use only the views that accept their scope, with safe methods), or
    only lineage reading when it has no owner."""
    if not user.is_authenticated:
        return False
    token = token_of(user)
    if token is not None:
        if token.scope not in READ_SCOPES:
            return False
        if token.owner_id is None:
            return permission in TOKEN_READABLE
    if not user.is_superuser:
        access_of(user)  # ModelBackend and RoleBackend then answer from what it read
    return user.has_perm(permission)


def namespace_scope(user) -> set[int] | None:
    """Ids of the namespaces the user is narrowed to, or None when their role applies everywhere."""
    from governance.models import Namespace

    if not user.is_authenticated:
        return set()
    scope: set[int] | None = None
    acts_as_person = token_of(user) is None or token_of(user).owner_id is not None
    if acts_as_person and not is_admin(user):
        scope = set(access_of(user).namespaces) or None
    token = token_of(user)
    if token is not None and token.namespaces:
        allowed = set(Namespace.objects.filter(name__in=token.namespaces).values_list("pk", flat=True))
        scope = allowed if scope is None else scope & allowed
    return scope


def visible_namespace_ids(user) -> set[int] | None:
    """Namespaces whose lineage the user may read: None for all, else a set of ids (maybe empty)."""
    if not has_capability(user, READ_LINEAGE):
        return set()
    return namespace_scope(user)


def can(user, permission: str, namespace=None) -> bool:
    """May `user` do `permission`, in `namespace` (a Namespace, or None for a namespace-free action)?"""
    if not has_capability(user, permission):
        return False
    if namespace is None:
        return True
    scope = namespace_scope(user)
    return scope is None or namespace.pk in scope


def token_refusal(token: ApiToken, view, method: str, required: list[str]) -> str | None:
    """Why this token may not be used for this request (a 403's message), or None when its scope is accepted."""
    accepted = getattr(view, "token_scopes", frozenset())
    data = next((GOVERNANCE_DATA[p] for p in required if p in GOVERNANCE_DATA), "this endpoint")
    if method not in SAFE_METHODS:
        return f"tokens only read: {method} needs a session"
    if token.scope not in accepted:
        if token.scope == ApiToken.Scope.INGEST:
            return "ingest tokens write lineage and read nothing"
        if not accepted:
            return f"{data} needs a session with a second factor; no token reads it"
        if token.scope == ApiToken.Scope.READ:
            return f"read tokens read lineage; {data} needs a session with a second factor or a governance-read token"
        return f"a {token.scope} token may not read {data}"
    # On governance data the scope stands in for the session's second factor; it does not excuse an owner who
    # never enrolled one.
    governance_data = ApiToken.Scope.READ not in accepted
    if governance_data and token.owner_id and mfa_required(token.owner) and not has_device(token.owner):
        return f"the token's owner has not enrolled the second factor their role needs, so it may not read {data}"
    return None


def refused(request, *, permission: str, reason: str) -> None:
    """Why a request is refused, for the logs. The audit record is written where the 403 is answered (the API's
    exception handler, Django's handler403), once per refusal."""
    log.debug("access refused", extra={"permission": permission, "reason": reason, "path": request.path})


class RolePermission(DjangoObjectPermissions):
    """DRF permission from the view's `required_permissions` (per HTTP method), then the object's namespace.

    DjangoObjectPermissions does not check a view permission on GET; this class checks whatever the view
    declares, GET included, and refuses a method the view declares nothing for.
    """

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        required = getattr(view, "required_permissions", {}).get(request.method)
        if required is None and request.method == "HEAD":
            required = getattr(view, "required_permissions", {}).get("GET")
        if required is None:
            refused(request, permission="-", reason=f"{request.method} is not allowed here")
            return False
        token = token_of(request.user)
        if token is not None:
            reason = token_refusal(token, view, request.method, required)
            if reason is not None:
                refused(request, permission="-", reason=reason)
                raise Refused(reason)
        for permission in required:
            if not has_capability(request.user, permission):
                refused(request, permission=permission, reason="role")
                return False
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        namespace = getattr(obj, "namespace", obj)
        scope = namespace_scope(request.user)
        if scope is not None and namespace.pk not in scope:
            refused(request, permission="-", reason="namespace")
            return False
        return True


def require_permission(permission: str):
    """The same rule for server-rendered pages: login first, then the role's capability (403 otherwise)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_capability(request.user, permission):
                refused(request, permission=permission, reason="role")
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator
