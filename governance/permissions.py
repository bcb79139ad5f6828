"""The one permission mechanism: roles give capabilities, namespace grants narrow where they apply.

* A capability is a Django permission given by a role (governance.roles): `user.has_perm(READ_LINEAGE)`.
* Scope: a user (or one of their groups) with `lineage.access_namespace` granted on some Namespace objects
  (django-guardian) acts only in those namespaces; without any such grant, everywhere. Admins are never narrowed.
* Tokens: a read token acts for its owner (or as a bare reader) with read capabilities only, within the token's
  namespaces; an ingest token reads nothing.

The DRF permission class and the page decorator below are the only places that decide; views declare what they
need (`required_permissions = {"GET": [READ_LINEAGE], ...}`), queries filter with `visible_namespace_ids`.
"""

import functools
import logging

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from guardian.shortcuts import get_objects_for_user
from rest_framework.permissions import SAFE_METHODS, DjangoObjectPermissions

from .models import ApiToken
from .roles import ADMIN, READ_LINEAGE

log = logging.getLogger(__name__)
TOKEN_READABLE = {READ_LINEAGE}  # what an ownerless read token may do


def token_of(user) -> ApiToken | None:
    return getattr(user, "_api_token", None) or getattr(user, "token", None)


def is_admin(user) -> bool:
    if not user.is_authenticated or token_of(user) is not None:
        return False
    return user.is_superuser or any(group.name == ADMIN for group in user.groups.all())


def has_capability(user, permission: str) -> bool:
    """The role's capability. Through a token: an ingest token has none; a read token has its owner's (the
    permission class lets tokens use safe methods only), or only lineage reading when it has no owner."""
    if not user.is_authenticated:
        return False
    token = token_of(user)
    if token is not None:
        if token.scope != ApiToken.Scope.READ:
            return False
        if token.owner_id is None:
            return permission in TOKEN_READABLE
    return user.has_perm(permission)


def namespace_scope(user) -> set[int] | None:
    """Ids of the namespaces the user is narrowed to, or None when their role applies everywhere."""
    from lineage.models import Namespace

    if not user.is_authenticated:
        return set()
    scope: set[int] | None = None
    acts_as_person = token_of(user) is None or token_of(user).owner_id is not None
    if acts_as_person and not is_admin(user):
        granted = get_objects_for_user(
            user, "lineage.access_namespace", klass=Namespace, accept_global_perms=False, with_superuser=False
        )
        scope = set(granted.values_list("pk", flat=True)) or None
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
        for permission in required:
            if not has_capability(request.user, permission):
                refused(request, permission=permission, reason="role")
                return False
        token = token_of(request.user)
        if token is not None and request.method not in SAFE_METHODS:
            refused(request, permission="-", reason="tokens only read")
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
