"""governance.permissions.access_of reads a person's permissions, roles and namespace grants in one query; its
decisions must be the ones Django's ModelBackend and django-guardian make from the same rows."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from guardian.shortcuts import assign_perm, get_objects_for_user

from governance.models import Namespace
from governance.permissions import access_of, has_capability, is_admin, namespace_scope
from governance.roles import ADMIN, READ_LINEAGE, ROLES, VIEW_AUDIT

from .conftest import make_user

pytestmark = pytest.mark.django_db


def namespace(name: str) -> Namespace:
    return Namespace.objects.create(name=name, created_at="2020-01-01T00:00Z", updated_at="2020-01-01T00:00Z")


@pytest.fixture
def people(db):
    """Every role; grants to the user, to a group of theirs, to another object type and to a removed namespace."""
    finance, sales, gone = namespace("finance"), namespace("sales"), namespace("gone")
    users = [make_user(role, role) for role in ROLES]
    users.append(make_user("nobody", None))

    narrowed = make_user("narrowed", "viewer")
    assign_perm("governance.access_namespace", narrowed, finance)
    team = Group.objects.create(name="sales-team")
    team.permissions.add(Permission.objects.get(codename="view_auditrecord"))
    team.user_set.add(narrowed)
    assign_perm("governance.access_namespace", team, sales)
    users.append(narrowed)

    own = make_user("own-permission", None)
    own.user_permissions.add(Permission.objects.get(codename="view_lineage"))
    users.append(own)

    stale = make_user("stale", "viewer")
    assign_perm("governance.access_namespace", stale, gone)
    gone.delete()
    users.append(stale)

    users.append(get_user_model().objects.create_superuser("root", password="Root-password-1"))
    inactive = make_user("inactive", "steward")
    inactive.is_active = False
    inactive.save()
    users.append(inactive)
    return users


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)


def test_permissions_are_modelbackends(people):
    for user in people:
        expected = ModelBackend().get_all_permissions(fresh(user))
        if user.is_active and not user.is_superuser:
            assert set(access_of(fresh(user)).permissions) == expected, user
        for permission in (READ_LINEAGE, VIEW_AUDIT, "governance.edit_metadata"):
            assert has_capability(fresh(user), permission) == fresh(user).has_perm(permission), (user, permission)


def test_namespace_grants_are_guardians(people):
    for user in people:
        granted = get_objects_for_user(
            fresh(user), "governance.access_namespace", klass=Namespace, accept_global_perms=False, with_superuser=False
        )
        assert set(access_of(fresh(user)).namespaces) == set(granted.values_list("pk", flat=True)), user
    narrowed = next(user for user in people if user.username == "narrowed")
    assert {n.name for n in Namespace.objects.filter(pk__in=namespace_scope(fresh(narrowed)))} == {"finance", "sales"}
    stale = next(user for user in people if user.username == "stale")
    assert namespace_scope(fresh(stale)) is None  # a grant of a removed namespace narrows nothing, as in guardian


def test_roles_and_admin(people):
    for user in people:
        groups = set(fresh(user).groups.values_list("name", flat=True))
        assert set(access_of(fresh(user)).groups) == groups
        assert is_admin(fresh(user)) == (user.is_superuser or ADMIN in groups)


def test_read_once_per_user_object_and_again_for_the_next_request(people, django_assert_num_queries):
    narrowed = fresh(next(user for user in people if user.username == "narrowed"))
    with django_assert_num_queries(1):
        for _ in range(3):
            has_capability(narrowed, READ_LINEAGE)
            has_capability(narrowed, VIEW_AUDIT)
            namespace_scope(narrowed)
    # A grant withdrawn applies to the next request, which loads its user afresh.
    Group.objects.get(name="sales-team").user_set.remove(narrowed)
    narrowed = fresh(narrowed)
    assert not has_capability(narrowed, VIEW_AUDIT)
    assert {n.name for n in Namespace.objects.filter(pk__in=namespace_scope(narrowed))} == {"finance"}
