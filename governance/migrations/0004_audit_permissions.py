"""Auditors and admins read the audit trail: the auditor and admin roles get governance.view_auditrecord."""

from django.db import migrations

READERS = ["auditor", "admin"]


def view_permission(apps):
    # Permissions are normally made after all migrations (post_migrate); make this one now to grant it.
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    content_type, _ = ContentType.objects.get_or_create(app_label="governance", model="auditrecord")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="view_auditrecord", defaults={"name": "Can view audit record"}
    )
    return permission


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    permission = view_permission(apps)
    for name in READERS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    permission = view_permission(apps)
    for group in Group.objects.filter(name__in=READERS):
        group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0003_audit_trail"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
