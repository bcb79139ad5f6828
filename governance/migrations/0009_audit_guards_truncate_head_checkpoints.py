"""Close what the append-only trigger of 0006 left open, on PostgreSQL:

* TRUNCATE of audit records is refused (TRUNCATE fires no DELETE trigger).
* Retention's DELETE (the transaction-local `tributary.audit_retention` setting on) must remove the oldest
  records only, and an audit.retention anchor appended before it must say exactly which: count, first, last and
  the last one's hash. Nothing else may ride on the setting.
* The chain head only moves forward (a greater sequence) and cannot be deleted or truncated: without it records
  cut from the end would go unseen.
* Signed checkpoints get a table of their own, which retention never cuts and nothing may UPDATE, DELETE or
  TRUNCATE; the checkpoints recorded so far are copied into it.

The table owner (or a superuser) can still drop these triggers: what then proves the trail whole is a signed
checkpoint kept outside the database (`audit_checkpoint --output`, `audit_verify --checkpoint`).
"""

from django.db import migrations, models

GUARDS = """
CREATE TRIGGER governance_auditrecord_no_truncate
    BEFORE TRUNCATE ON governance_auditrecord
    FOR EACH STATEMENT EXECUTE FUNCTION tributary_audit_append_only();

CREATE FUNCTION tributary_audit_retention_accounted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    removed bigint;
    lowest bigint;
    highest bigint;
    highest_hash text;
BEGIN
    SELECT count(*), min(sequence), max(sequence) INTO removed, lowest, highest FROM gone;
    IF removed = 0 THEN
        RETURN NULL;
    END IF;
    SELECT hash INTO highest_hash FROM gone WHERE sequence = highest;
    IF EXISTS (SELECT 1 FROM governance_auditrecord WHERE sequence <= highest) THEN
        RAISE EXCEPTION 'audit retention removes the oldest records only: records before % remain', highest
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM governance_auditrecord
        WHERE action = 'audit.retention' AND sequence > highest
          AND detail->>'count' = removed::text
          AND detail->>'first_sequence' = lowest::text
          AND detail->>'last_sequence' = highest::text
          AND detail->>'last_hash' = highest_hash
    ) THEN
        RAISE EXCEPTION 'audit retention of records % to % has no anchor accounting for them', lowest, highest
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'records are deleted only by manage.py audit_retention';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER governance_auditrecord_retention_accounted
    AFTER DELETE ON governance_auditrecord REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION tributary_audit_retention_accounted();

CREATE FUNCTION tributary_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = OLD.id AND NEW.sequence > OLD.sequence THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit chain head only moves forward: % to % refused', OLD.sequence, NEW.sequence
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER governance_auditchainhead_forward_only
    BEFORE UPDATE ON governance_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION tributary_audit_head_forward();

CREATE FUNCTION tributary_audit_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% of % refused: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER governance_auditchainhead_kept
    BEFORE DELETE OR TRUNCATE ON governance_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION tributary_audit_kept('the chain head marks where the audit trail ends');
CREATE TRIGGER governance_auditcheckpoint_kept
    BEFORE UPDATE OR DELETE OR TRUNCATE ON governance_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION tributary_audit_kept('signed checkpoints are kept for good');
"""

DROP_GUARDS = """
DROP TRIGGER IF EXISTS governance_auditcheckpoint_kept ON governance_auditcheckpoint;
DROP TRIGGER IF EXISTS governance_auditchainhead_kept ON governance_auditchainhead;
DROP FUNCTION IF EXISTS tributary_audit_kept();
DROP TRIGGER IF EXISTS governance_auditchainhead_forward_only ON governance_auditchainhead;
DROP FUNCTION IF EXISTS tributary_audit_head_forward();
DROP TRIGGER IF EXISTS governance_auditrecord_retention_accounted ON governance_auditrecord;
DROP FUNCTION IF EXISTS tributary_audit_retention_accounted();
DROP TRIGGER IF EXISTS governance_auditrecord_no_truncate ON governance_auditrecord;
"""


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL on PostgreSQL, nothing elsewhere (as in 0006)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def copy_checkpoints(apps, schema_editor):
    AuditRecord = apps.get_model("governance", "AuditRecord")
    AuditCheckpoint = apps.get_model("governance", "AuditCheckpoint")
    kept = []
    for sequence, detail in AuditRecord.objects.filter(action="audit.checkpoint").values_list("sequence", "detail"):
        detail = detail or {}
        if {"sequence", "hash", "signature", "key_id"} <= set(detail):
            kept.append(
                AuditCheckpoint(
                    record_sequence=sequence,
                    sequence=int(detail["sequence"]),
                    hash=str(detail["hash"]),
                    signature=str(detail["signature"]),
                    key_id=str(detail["key_id"]),
                )
            )
    AuditCheckpoint.objects.bulk_create(kept, batch_size=1000, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("governance", "0008_governance_read_scope")]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("sequence", models.BigIntegerField(help_text="The record signed.")),
                ("hash", models.CharField(help_text="Its hash, as signed.", max_length=64)),
                ("signature", models.CharField(help_text="Ed25519, base64.", max_length=128)),
                ("key_id", models.CharField(max_length=16)),
                (
                    "record_sequence",
                    models.BigIntegerField(help_text="The audit.checkpoint record that carries it.", unique=True),
                ),
            ],
            options={"ordering": ["sequence"]},
        ),
        migrations.RunPython(copy_checkpoints, migrations.RunPython.noop),
        PostgreSQLOnly(GUARDS, DROP_GUARDS),
    ]
