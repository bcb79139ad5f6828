"""The governance-read token scope (a wider scope column) and the permission to make such tokens, for admins."""

from django.db import migrations, models

from governance.roles import sync_role_permissions


class Migration(migrations.Migration):
    dependencies = [("governance", "0007_audit_permissions")]

    operations = [
        migrations.AlterModelOptions(
            name="apitoken",
            options={
                "ordering": ["-created_at"],
                "permissions": [
                    ("grant_governance_read", "Can make governance-read tokens, which read governance data")
                ],
            },
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(
                choices=[
                    ("ingest", "Write lineage"),
                    ("read", "Read lineage"),
                    ("governance-read", "Read lineage and governance data (audit, compliance, connections)"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(sync_role_permissions, migrations.RunPython.noop),
    ]
