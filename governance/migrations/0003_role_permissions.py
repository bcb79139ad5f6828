"""Grant each role the permissions governance.roles lists for it (those that exist so far)."""

from django.db import migrations

from governance.roles import sync_role_permissions


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_roles"),
        ("lineage", "0003_permissions_and_annotations"),
    ]

    operations = [migrations.RunPython(sync_role_permissions, migrations.RunPython.noop)]
