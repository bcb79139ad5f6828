from django.core.management.commands import flush
from django.db import DEFAULT_DB_ALIAS, connections, transaction

# The audit tables whose triggers refuse TRUNCATE (governance/migrations/0009_audit_guards_truncate_head_checkpoints).
GUARDED = ("governance_auditrecord", "governance_auditchainhead", "governance_auditcheckpoint")


class Command(flush.Command):
    help = (
        f"{flush.Command.help} On PostgreSQL this includes the audit trail, whose guards refuse TRUNCATE: they are "
        "set aside inside flush's own transaction, which only the tables' owner (or a superuser) may do."
    )

    def handle(self, **options):
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        if connection.vendor != "postgresql":
            return super().handle(**options)
        # Emptying every table is what flush is for (test runs, a demo reset). ALTER TABLE inside the transaction:
        # the guards are off for this TRUNCATE alone, and nobody else sees the tables until they are back on.
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            guarded = [table for table in GUARDED if table in connection.introspection.table_names(cursor)]
            for table in guarded:
                cursor.execute(f"ALTER TABLE {connection.ops.quote_name(table)} DISABLE TRIGGER USER")
            super().handle(**options)
            for table in guarded:
                cursor.execute(f"ALTER TABLE {connection.ops.quote_name(table)} ENABLE TRIGGER USER")
