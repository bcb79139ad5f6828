"""Namespace moved from the lineage app to governance: a database made before the move keeps every role's
permissions and every per-namespace grant, now named `governance.*`."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

BEFORE = [("governance", "0010_audit_record_namespaces"), ("lineage", "0006_run_claims_and_quarantine_scope")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    # The state of the apps migrated back, and of the others (guardian, auth) as they are.
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in {app for app, _ in targets}]
    return executor.loader.project_state(targets + others).apps


@pytest.mark.django_db(transaction=True)
def test_a_grant_made_before_namespace_moved_still_narrows_the_user_after():
    old = _migrate(BEFORE)
    ContentType = old.get_model("contenttypes", "ContentType")
    Permission = old.get_model("auth", "Permission")
    Group = old.get_model("auth", "Group")
    User = old.get_model("auth", "User")
    UserObjectPermission = old.get_model("guardian", "UserObjectPermission")
    Namespace = old.get_model("lineage", "Namespace")

    content_type, _ = ContentType.objects.get_or_create(app_label="lineage", model="namespace")
    access, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="access_namespace", defaults={"name": "Is within the namespaces"}
    )
    read, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="view_lineage", defaults={"name": "Can read lineage"}
    )
    viewers, _ = Group.objects.get_or_create(name="viewer")
    viewers.permissions.add(read)
    now = timezone.now()
    finance = Namespace.objects.create(name="finance", created_at=now, updated_at=now)
    Namespace.objects.create(name="sales", created_at=now, updated_at=now)
    alice = User.objects.create(username="alice-before-the-move")
    alice.groups.add(viewers)
    UserObjectPermission.objects.create(
        user=alice, permission=access, content_type=content_type, object_pk=str(finance.pk)
    )

    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    _migrate(leaves)

    from governance.models import Namespace as MovedNamespace

    user = get_user_model().objects.get(username="alice-before-the-move")
    assert user.has_perm("governance.view_lineage")
    granted = get_objects_for_user(
        user, "governance.access_namespace", klass=MovedNamespace, accept_global_perms=False, with_superuser=False
    )
    assert [namespace.name for namespace in granted] == ["finance"]
