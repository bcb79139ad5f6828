"""Namespace, the unit per-namespace grants are given on, moves from the lineage app to governance.

Only Django's view of it moves: the table keeps its name (`lineage_namespace`) and its rows. The content type row
is renamed in place, so the permissions (`view_lineage`, `edit_metadata`, `access_namespace`), the role groups that
hold them and every per-namespace grant (django-guardian rows point at the content type and permission ids) stay
exactly as they were; they are now named `governance.<codename>`.
"""

from django.db import migrations, models


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    old = ContentType.objects.filter(app_label="lineage", model="namespace").first()
    if old is None:  # a new database: Django creates the content type when it first needs it
        return
    new = ContentType.objects.filter(app_label="governance", model="namespace").first()
    if new is not None:  # created meanwhile by a permission lookup: keep the one the grants point at
        Permission = apps.get_model("auth", "Permission")
        Permission.objects.filter(content_type=new).delete()
        new.delete()
    old.app_label = "governance"
    old.save(update_fields=["app_label"])


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="governance", model="namespace").update(app_label="lineage")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("governance", "0010_audit_record_namespaces"),
        ("lineage", "0006_run_claims_and_quarantine_scope"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Namespace",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=1024, unique=True)),
                        ("created_at", models.DateTimeField()),
                        ("updated_at", models.DateTimeField()),
                        ("description", models.TextField(blank=True)),
                    ],
                    options={
                        "db_table": "lineage_namespace",
                        "ordering": ["name"],
                        "permissions": [
                            ("view_lineage", "Can read lineage"),
                            ("edit_metadata", "Can edit dataset and job metadata, tags, owners and classifications"),
                            ("access_namespace", "Is within the namespaces the user may act in"),
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
