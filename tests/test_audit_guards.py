"""The audit trail against someone with database access: TRUNCATE, the chain head, the retention switch, and what a
signed checkpoint still proves when every guard was dropped."""

from datetime import timedelta
from io import StringIO

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance import audit
from governance.models import AuditChainHead, AuditCheckpoint, AuditRecord

from .conftest import requires_postgres

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def some_records(count: int) -> None:
    for n in range(count):
        audit.record("metadata.updated", actor="cli:test", target=("dataset", f"dataset:airflow:t{n}", f"t{n}"))


@pytest.fixture
def keys(tmp_path):
    run("audit_keygen", "--out", str(tmp_path / "audit"))
    return tmp_path / "audit.pem", tmp_path / "audit.pub"


def drop_the_guards() -> None:
    """What the table owner or a superuser can do first (undone with the test's transaction)."""
    sql("DROP TRIGGER governance_auditrecord_no_truncate ON governance_auditrecord")
    sql("DROP TRIGGER governance_auditchainhead_kept ON governance_auditchainhead")
    sql("DROP TRIGGER governance_auditcheckpoint_kept ON governance_auditcheckpoint")


# The guards themselves.


@requires_postgres()
def test_a_raw_truncate_of_the_audit_records_is_refused():
    some_records(3)
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"), transaction.atomic():
        sql("TRUNCATE governance_auditrecord")
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"), transaction.atomic():
        sql("TRUNCATE governance_auditrecord, governance_auditchainhead CASCADE")
    assert AuditRecord.objects.count() == 3


@requires_postgres()
def test_the_chain_head_cannot_be_deleted_truncated_or_moved_back():
    some_records(3)
    with pytest.raises(DatabaseError, match="DELETE of governance_auditchainhead refused"), transaction.atomic():
        sql("DELETE FROM governance_auditchainhead")
    with pytest.raises(DatabaseError, match="TRUNCATE of governance_auditchainhead refused"), transaction.atomic():
        sql("TRUNCATE governance_auditchainhead")
    with pytest.raises(DatabaseError, match="only moves forward: 3 to 1 refused"), transaction.atomic():
        sql("UPDATE governance_auditchainhead SET sequence = 1")
    with pytest.raises(DatabaseError, match="only moves forward: 3 to 3 refused"), transaction.atomic():
        sql("UPDATE governance_auditchainhead SET hash = %s", ["f" * 64])
    assert AuditChainHead.objects.get().sequence == 3
    some_records(1)  # appending still moves it on
    assert AuditChainHead.objects.get().sequence == 4
    assert audit.verify_chain().ok


@requires_postgres()
def test_the_retention_switch_alone_lets_no_delete_through():
    some_records(5)
    sql("SELECT set_config('tributary.audit_retention', 'on', true)")
    # Not the oldest records: a hole in the middle, or the newest.
    with pytest.raises(DatabaseError, match="removes the oldest records only"), transaction.atomic():
        sql("DELETE FROM governance_auditrecord WHERE sequence = 3")
    with pytest.raises(DatabaseError, match="removes the oldest records only"), transaction.atomic():
        sql("DELETE FROM governance_auditrecord WHERE sequence = 5")
    # The oldest, but without the anchor that says so.
    with pytest.raises(DatabaseError, match="no anchor accounting for them"), transaction.atomic():
        sql("DELETE FROM governance_auditrecord WHERE sequence <= 2")
    assert AuditRecord.objects.count() == 5


@requires_postgres()
def test_signed_checkpoints_kept_in_the_database_cannot_be_changed_or_removed(keys):
    some_records(2)
    run("audit_checkpoint", "--key", str(keys[0]))
    assert AuditCheckpoint.objects.get().sequence == 2
    for statement in (
        "UPDATE governance_auditcheckpoint SET sequence = 1",
        "DELETE FROM governance_auditcheckpoint",
        "TRUNCATE governance_auditcheckpoint",
    ):
        with pytest.raises(DatabaseError, match="signed checkpoints are kept for good"), transaction.atomic():
            sql(statement)
    assert AuditCheckpoint.objects.get().sequence == 2


# What is proven once the guards are gone.


@requires_postgres()
def test_emptying_the_trail_behind_dropped_guards_fails_verification_against_a_signed_checkpoint(keys, tmp_path):
    private, public = keys
    some_records(120)
    saved = tmp_path / "checkpoint-120.json"
    run("audit_checkpoint", "--key", str(private), "--output", str(saved))
    assert orjson.loads(saved.read_bytes())["sequence"] == 120
    assert run("audit_verify", "--checkpoint", str(saved), "--public-key", str(public)).startswith(
        "121 records verified (records 1–121); 2 signed checkpoint(s) hold"
    )

    # A superuser drops the guards and empties everything: records, the head and the checkpoints kept beside them.
    drop_the_guards()
    sql("TRUNCATE governance_auditrecord, governance_auditcheckpoint")
    sql("DELETE FROM governance_auditchainhead")
    assert run("audit_verify") == "0 records verified.\n"  # the database alone cannot tell: nothing is left

    with pytest.raises(
        CommandError, match=r"checkpoint of record 120 .*the chain head is missing: records were removed"
    ):
        run("audit_verify", "--checkpoint", str(saved), "--public-key", str(public))

    # The app goes on appending and a new chain grows from nothing: still not the one that was signed.
    some_records(130)
    with pytest.raises(CommandError, match=r"checkpoint of record 120 .*hash differs from the one signed"):
        run("audit_verify", "--checkpoint", str(saved), "--public-key", str(public))


@requires_postgres()
def test_cutting_the_end_of_the_trail_behind_dropped_guards_fails_against_the_checkpoint_kept_in_the_database(keys):
    private, public = keys
    some_records(10)
    run("audit_checkpoint", "--key", str(private))  # signs 10, is record 11
    sql("ALTER TABLE governance_auditrecord DISABLE TRIGGER USER")
    sql("ALTER TABLE governance_auditchainhead DISABLE TRIGGER USER")
    sql("DELETE FROM governance_auditrecord WHERE sequence > 6")
    last = AuditRecord.objects.get(sequence=6)
    sql("UPDATE governance_auditchainhead SET sequence = 6, hash = %s", [last.hash])
    with pytest.raises(CommandError, match=r"checkpoint of record 10 .*head is at record 6: records were removed"):
        run("audit_verify", "--public-key", str(public))
    assert not audit.verify_chain().ok  # the API's verify reads the same checkpoints


def test_a_checkpoint_file_must_be_signed_by_the_key_given(keys, tmp_path):
    private, public = keys
    some_records(3)
    saved = tmp_path / "checkpoint.json"
    run("audit_checkpoint", "--key", str(private), "--output", str(saved))
    forged = orjson.loads(saved.read_bytes()) | {"hash": "f" * 64}
    saved.write_bytes(orjson.dumps(forged))
    with pytest.raises(CommandError, match=r"checkpoint of record 3 .*signature is invalid"):
        run("audit_verify", "--checkpoint", str(saved), "--public-key", str(public))
    with pytest.raises(CommandError, match="needs --public-key"):
        run("audit_verify", "--checkpoint", str(saved))


def test_records_without_their_chain_head_fail_verification(tmp_path):
    some_records(3)
    if connection.vendor == "postgresql":
        sql("ALTER TABLE governance_auditchainhead DISABLE TRIGGER USER")
    sql("DELETE FROM governance_auditchainhead")
    with pytest.raises(CommandError, match="record 3: the chain head is missing while records exist"):
        run("audit_verify")


def test_an_empty_trail_whose_chain_head_remains_fails_verification():
    some_records(4)
    if connection.vendor == "postgresql":
        sql("ALTER TABLE governance_auditrecord DISABLE TRIGGER USER")
    sql("DELETE FROM governance_auditrecord")
    with pytest.raises(CommandError, match="the trail is empty but the chain head is at record 4"):
        run("audit_verify")


# Retention, the one way records leave, still works under the guards.


def test_retention_cuts_old_records_under_the_guards_and_the_signed_checkpoint_still_holds(keys, tmp_path):
    private, public = keys
    old = timezone.now() - timedelta(days=400)
    audit.bulk_append(
        {"action": "metadata.updated", "actor": "cli:import", "time": old + timedelta(seconds=n)} for n in range(50)
    )
    saved = tmp_path / "checkpoint-50.json"
    run("audit_checkpoint", "--key", str(private), "--output", str(saved))  # signs 50 (old), is record 51
    some_records(3)  # 52–54

    out = run("audit_retention", "--days", "30")
    assert "Deleted 50 records" in out and "(records 1–50)" in out and "anchor: record 55" in out
    assert list(AuditRecord.objects.values_list("sequence", flat=True).order_by("sequence")) == [51, 52, 53, 54, 55]
    anchor = AuditRecord.objects.get(sequence=55)
    assert anchor.detail["count"] == 50 and anchor.detail["last_sequence"] == 50
    # The signed record is gone, but the anchor accounts for it, with the very hash that was signed.
    assert AuditCheckpoint.objects.get().sequence == 50
    assert run("audit_verify", "--checkpoint", str(saved), "--public-key", str(public)).startswith(
        "5 records verified (records 51–55); 2 signed checkpoint(s) hold"
    )
