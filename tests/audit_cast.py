"""The cast of the audit tests, one per role that matters to the audit trail, and helpers to look at records.

Kept out of conftest.py while the RBAC branch defines the project-wide cast; import the fixtures from here.
"""

from types import SimpleNamespace

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from governance.models import AuditRecord

PASSWORD = "correct-horse-battery"


def member(username: str, role: str | None = None, **extra):
    user = get_user_model().objects.create_user(username, password=PASSWORD, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def cast(db, settings):
    """alice audits, ada administers (the admin role, not a superuser), bob views lineage, charlie has no role."""
    # A fast hash for test passwords: the real one costs a second per user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return SimpleNamespace(
        alice=member("alice", "auditor"),
        ada=member("ada", "admin"),
        bob=member("bob", "viewer"),
        charlie=member("charlie"),
    )


def serialised(item: AuditRecord) -> str:
    """Every stored column of a record as one string, to look for what must never be there."""
    row = AuditRecord.objects.filter(pk=item.pk).values().get()
    return orjson.dumps(row, default=str).decode()


def actions() -> list[str]:
    return list(AuditRecord.objects.order_by("sequence").values_list("action", flat=True))


def tamper(sql: str, params=()) -> None:
    """Change audit rows behind the app's back, as someone with database access would."""
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        for table in GUARDED if postgres else ():
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        for table in GUARDED if postgres else ():
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


# The audit tables whose triggers guard them on PostgreSQL; the owner (or a superuser) can set them aside.
GUARDED = ("governance_auditrecord", "governance_auditchainhead", "governance_auditcheckpoint")
