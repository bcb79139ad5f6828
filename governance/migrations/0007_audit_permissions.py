"""Auditors and admins read the audit trail (governance.roles)."""

from django.db import migrations

from governance.roles import sync_role_permissions


class Migration(migrations.Migration):
    dependencies = [("governance", "0006_audit_trail")]

    operations = [migrations.RunPython(sync_role_permissions, migrations.RunPython.noop)]
