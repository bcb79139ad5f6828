"""Grant auditors and admins the compliance report permission (governance.roles)."""

from django.db import migrations

from governance.roles import sync_role_permissions


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0002_seed_rules"),
        ("governance", "0005_connection_permissions"),
    ]

    operations = [migrations.RunPython(sync_role_permissions, migrations.RunPython.noop)]
