"""Grant the roles their connection permissions (governance.roles)."""

from django.db import migrations

from governance.roles import sync_role_permissions


class Migration(migrations.Migration):
    dependencies = [("governance", "0004_connections")]

    operations = [migrations.RunPython(sync_role_permissions, migrations.RunPython.noop)]
