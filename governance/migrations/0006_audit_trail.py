"""The audit trail: hash-chained records, the chain head, and on PostgreSQL the trigger that makes them append-only.

The trigger refuses every UPDATE and every DELETE of audit records. The one exception is the retention command
(governance.audit.audit_retention_cut), which deletes a prefix of the chain after turning on the
transaction-local setting `tributary.audit_retention`; nothing can UPDATE a record. SQLite (the embedded
default, a laptop or a demo) has no such trigger; the hash chain still shows any edit there.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

APPEND_ONLY = """
CREATE FUNCTION tributary_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(current_setting('tributary.audit_retention', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit records are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'records are deleted only by manage.py audit_retention';
END;
$$;
CREATE TRIGGER governance_auditrecord_append_only
    BEFORE UPDATE OR DELETE ON governance_auditrecord
    FOR EACH STATEMENT EXECUTE FUNCTION tributary_audit_append_only();
"""

DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS governance_auditrecord_append_only ON governance_auditrecord;
DROP FUNCTION IF EXISTS tributary_audit_append_only();
"""


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL on PostgreSQL, nothing elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0005_connection_permissions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("sequence", models.BigIntegerField(default=0)),
                ("hash", models.CharField(max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name="AuditRecord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "sequence",
                    models.BigIntegerField(help_text="Position in the chain: 1, 2, 3 … without gaps.", unique=True),
                ),
                ("time", models.DateTimeField(db_index=True)),
                (
                    "actor_label",
                    models.CharField(db_index=True, help_text="Username, token:<prefix>, or system.", max_length=150),
                ),
                ("action", models.CharField(db_index=True, max_length=64)),
                ("object_type", models.CharField(blank=True, max_length=100)),
                ("object_id", models.CharField(blank=True, max_length=255)),
                ("object_name", models.CharField(blank=True, max_length=255)),
                (
                    "outcome",
                    models.CharField(
                        choices=[("success", "Success"), ("failure", "Failure"), ("denied", "Denied")],
                        default="success",
                        max_length=10,
                    ),
                ),
                ("source_ip", models.CharField(blank=True, max_length=64)),
                ("user_agent", models.CharField(blank=True, max_length=512)),
                ("request_id", models.CharField(blank=True, max_length=64)),
                (
                    "changes",
                    models.JSONField(blank=True, help_text="Changed fields: {field: {before, after}}.", null=True),
                ),
                ("detail", models.JSONField(blank=True, null=True)),
                ("previous_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-sequence"],
                "indexes": [models.Index(fields=["object_type", "object_id"], name="audit_object")],
            },
        ),
        # Per statement, not per row: the check costs nothing per row, and a refused statement is refused whole.
        PostgreSQLOnly(APPEND_ONLY, DROP_APPEND_ONLY),
    ]
