"""Namespace moves to governance (governance.0011): datasets and jobs point to it there. The table, its rows and
the foreign keys stay as they are; only Django's view of them changes. Roles are synced again after, so a new
database grants the roles the permissions now named `governance.view_lineage` and `governance.edit_metadata`."""

import django.db.models.deletion
from django.db import migrations, models

from governance.roles import sync_role_permissions


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0011_namespace_moves_to_governance"),
        ("lineage", "0006_run_claims_and_quarantine_scope"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="dataset",
                    name="namespace",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="datasets", to="governance.namespace"
                    ),
                ),
                migrations.AlterField(
                    model_name="job",
                    name="namespace",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="jobs", to="governance.namespace"
                    ),
                ),
                migrations.DeleteModel(name="Namespace"),
            ],
        ),
        migrations.RunPython(sync_role_permissions, migrations.RunPython.noop),
    ]
