"""Audit records name the namespaces their target belongs to, so that an auditor narrowed to some namespaces reads
only the records about them (governance.audit.namespaces_of says how a target's namespaces are found).

The column is outside the hashed content: existing records keep their hashes and the chain stays verifiable.
Existing records are filled in from their targets as they are now; on PostgreSQL the append-only trigger is set
aside for this one UPDATE, inside the migration's transaction (nobody else sees the table meanwhile: ALTER TABLE
holds it exclusively until the commit).
"""

from collections import defaultdict

from django.db import migrations, models

TRIGGER = "governance_auditrecord_append_only"


def _names(values) -> set[str]:
    return {str(value) for value in values or [] if value}


def _moved(changes) -> set[str]:
    moved = (changes or {}).get("namespaces") if isinstance(changes, dict) else None
    if not isinstance(moved, dict):
        return set()
    return _names(moved.get("before") if isinstance(moved.get("before"), list) else []) | _names(
        moved.get("after") if isinstance(moved.get("after"), list) else []
    )


def backfill(apps, schema_editor):
    AuditRecord = apps.get_model("governance", "AuditRecord")
    Connection = apps.get_model("governance", "Connection")
    ApiToken = apps.get_model("governance", "ApiToken")
    try:
        holds = dict(apps.get_model("compliance", "LegalHold").objects.values_list("pk", "namespace"))
    except LookupError:
        holds = {}
    connections = {str(pk): _names(served) for pk, served in Connection.objects.values_list("pk", "namespaces")}
    tokens = {str(pk): _names(scope) for pk, scope in ApiToken.objects.values_list("pk", "namespaces")}
    types = ["governance.connection", "governance.apitoken", "dataset", "job", "namespace", "compliance.legalhold"]
    found: dict[tuple[str, ...], list[int]] = defaultdict(list)
    rows = AuditRecord.objects.filter(object_type__in=types).values_list(
        "pk", "object_type", "object_id", "object_name", "changes"
    )
    for pk, kind, object_id, name, changes in rows.iterator(chunk_size=5000):
        names: set[str] = set()
        if kind == "governance.connection":
            names = connections.get(object_id, set()) | _moved(changes)
        elif kind == "governance.apitoken":
            names = tokens.get(object_id, set())
        elif kind == "namespace":
            names = {name} if name else set()
        elif kind == "compliance.legalhold":
            names = _names([holds.get(int(object_id))]) if object_id.isdigit() else set()
        elif object_id.startswith(f"{kind}:") and object_id.endswith(f":{name}"):
            names = {object_id[len(kind) + 1 : len(object_id) - len(name) - 1]}
        if names:
            found[tuple(sorted(names))].append(pk)
    if not found:
        return
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(f"ALTER TABLE governance_auditrecord DISABLE TRIGGER {TRIGGER}")
    for names, pks in found.items():
        for start in range(0, len(pks), 5000):
            AuditRecord.objects.filter(pk__in=pks[start : start + 5000]).update(namespaces=list(names))
    if postgres:
        schema_editor.execute(f"ALTER TABLE governance_auditrecord ENABLE TRIGGER {TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [("governance", "0009_audit_guards_truncate_head_checkpoints")]

    operations = [
        migrations.AddField(
            model_name="auditrecord",
            name="namespaces",
            field=models.JSONField(
                blank=True,
                help_text="The OpenLineage namespaces the target belongs to; empty for records about no namespace.",
                null=True,
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
