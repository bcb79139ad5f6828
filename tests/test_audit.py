"""The audit trail's service: records, the chain, tamper evidence, append-only storage, retention, transactions."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from governance import audit
from governance.auditchain import GENESIS_HASH, entry_hash
from governance.models import ApiToken, AuditChainHead, AuditRecord
from governance.tokens import create_token, revoke_token

from .audit_cast import cast, tamper  # noqa: F401
from .conftest import requires_postgres

pytestmark = pytest.mark.django_db


def verify(*args) -> str:
    out = StringIO()
    call_command("audit_verify", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def some_records(count: int) -> list[AuditRecord]:
    return [
        audit.record("metadata.updated", actor="cli:test", target=("lineage.dataset", n, f"mart.t{n}"))
        for n in range(count)
    ]


def test_each_record_is_chained_to_the_one_before():
    first, second, third = some_records(3)
    assert [first.sequence, second.sequence, third.sequence] == [1, 2, 3]
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.hash and third.previous_hash == second.hash
    stored = audit.entry_of(AuditRecord.objects.filter(pk=second.pk).values(*audit._COLUMNS).get())
    assert entry_hash(stored) == second.hash  # the hash is the hash of what was stored
    assert AuditChainHead.objects.get().sequence == 3


def test_a_record_says_who_what_and_from_where(rf: RequestFactory, cast):  # noqa: F811
    request = rf.post("/x", HTTP_USER_AGENT="Mozilla/5.0 test", REMOTE_ADDR="192.0.2.7")
    request.user = cast.alice
    request.request_id = "req-123"
    item = audit.record(
        "metadata.updated",
        request=request,
        target=("lineage.dataset", 42, "mart.orders"),
        changes=audit.diff({"description": "old"}, {"description": "new"}),
    )
    assert (item.actor_id, item.actor_label) == (cast.alice.pk, "alice")
    assert (item.object_type, item.object_id, item.object_name) == ("lineage.dataset", "42", "mart.orders")
    assert (item.source_ip, item.user_agent, item.request_id) == ("192.0.2.7", "Mozilla/5.0 test", "req-123")
    assert item.changes == {"description": {"before": "old", "after": "new"}}
    assert item.outcome == "success"


def test_without_a_request_or_actor_the_system_is_the_actor():
    assert audit.record("audit.verified").actor_label == "system"


def test_an_unknown_action_is_refused_so_names_stay_in_one_table():
    with pytest.raises(ValueError, match=r"add it to governance\.audit\.ACTIONS"):
        audit.record("token.made")
    assert not AuditRecord.objects.exists()


def test_diff_keeps_changed_fields_and_never_a_secret_value():
    changes = audit.diff(
        {"host": "db1", "port": 5432, "password": "hunter2", "extra": '{"key": "k1"}'},
        {"host": "db2", "port": 5432, "password": "swordfish", "extra": '{"key": "k2"}'},
        secret_fields={"extra"},
    )
    assert changes == {"host": {"before": "db1", "after": "db2"}, "password": "changed", "extra": "changed"}


def test_secret_keys_are_scrubbed_even_when_passed_straight_to_record():
    item = audit.record(
        "connection.updated",
        changes={"password": {"before": "hunter2", "after": "swordfish"}},
        detail={"nested": {"api_key": "sk-live-123"}},
    )
    assert item.changes == {"password": "changed"}
    assert item.detail == {"nested": {"api_key": "[redacted]"}}
    text = str(AuditRecord.objects.filter(pk=item.pk).values().get())
    assert "hunter2" not in text and "swordfish" not in text and "sk-live-123" not in text


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),  # no trusted proxy: the header is ignored
        ("10.0.0.2", "198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", ["10.0.0.0/8"], "198.51.100.1"),  # forged left part
        ("203.0.113.9", "198.51.100.1", ["10.0.0.0/8"], "203.0.113.9"),  # not from the proxy
        ("::ffff:10.0.0.2", "2001:db8::1", ["10.0.0.2"], "2001:db8::1"),
    ],
)
def test_the_source_ip_believes_forwarded_for_only_from_trusted_proxies(settings, remote, forwarded, trusted, expected):
    settings.TRIBUTARY_TRUSTED_PROXIES = trusted
    assert audit.client_ip(remote, forwarded) == expected


# Transactions: the record and the change it describes stand or fall together.


def test_a_record_rolls_back_with_its_change():
    with pytest.raises(RuntimeError), transaction.atomic():
        create_token(name="doomed", scope="read")
        assert AuditRecord.objects.filter(action="token.created").exists()
        raise RuntimeError("the rest of the change failed")
    assert not ApiToken.objects.exists()
    assert not AuditRecord.objects.exists()
    # No gap either: the next record is number 1.
    assert audit.record("audit.verified").sequence == 1
    assert verify().startswith("1 records verified")


def test_a_change_fails_when_its_record_cannot_be_written(monkeypatch):
    token = create_token(name="kept", scope="read").token

    def broken_append(head, contents):
        raise DatabaseError("disk full")

    monkeypatch.setattr(audit, "_append", broken_append)
    with pytest.raises(DatabaseError):
        revoke_token(token=token)
    token.refresh_from_db()
    assert token.revoked_at is None  # the revocation was not kept without its record
    assert list(AuditRecord.objects.values_list("action", flat=True)) == ["token.created"]


# Verification and tamper evidence.


def test_audit_verify_counts_an_intact_chain():
    some_records(12)
    assert verify() == "12 records verified (records 1–12).\n"
    assert verify("--from", "3", "--to", "7") == "5 records verified (records 3–7).\n"
    assert verify("--batch-size", "5").startswith("12 records verified")


def test_an_empty_trail_verifies():
    assert verify().startswith("0 records verified")


def test_editing_a_record_behind_the_apps_back_is_found_at_that_record():
    some_records(6)
    tamper("UPDATE governance_auditrecord SET actor_label = 'someone-else' WHERE sequence = 4")
    with pytest.raises(CommandError, match=r"record 4: content does not match its hash"):
        verify()
    assert verify("--to", "3").startswith("3 records verified")  # the range before it is intact


def test_a_record_rewritten_with_a_recomputed_hash_breaks_the_next_link():
    records = some_records(6)
    entry = audit.entry_of(AuditRecord.objects.filter(sequence=4).values(*audit._COLUMNS).get())
    entry["object_name"] = "innocent"
    tamper(
        "UPDATE governance_auditrecord SET object_name = %s, hash = %s WHERE sequence = 4",
        ["innocent", entry_hash(entry)],
    )
    with pytest.raises(CommandError, match=r"record 5: previous_hash .* does not match the hash of record 4"):
        verify()
    assert records[4].previous_hash == records[3].hash


def test_rewriting_the_last_record_is_caught_by_the_chain_head():
    some_records(3)
    entry = audit.entry_of(AuditRecord.objects.filter(sequence=3).values(*audit._COLUMNS).get())
    entry["actor"] = "nobody"
    tamper(
        "UPDATE governance_auditrecord SET actor_label = 'nobody', hash = %s WHERE sequence = 3", [entry_hash(entry)]
    )
    with pytest.raises(CommandError, match="record 3: its hash differs from the one the chain head holds"):
        verify()


def test_deleted_records_are_found_in_the_middle_at_the_start_and_at_the_end():
    some_records(6)
    tamper("DELETE FROM governance_auditrecord WHERE sequence = 6")
    with pytest.raises(CommandError, match="records were removed from the end"):
        verify()
    tamper("DELETE FROM governance_auditrecord WHERE sequence = 3")
    with pytest.raises(CommandError, match="record 3: expected record 3 next, found 4"):
        verify()
    tamper("DELETE FROM governance_auditrecord WHERE sequence = 1")
    with pytest.raises(CommandError, match="record 2: the records before it are missing"):
        verify()


@requires_postgres()
def test_the_database_refuses_to_update_or_delete_a_record():
    item = audit.record("audit.verified")
    with pytest.raises(DatabaseError, match="append-only: UPDATE refused"), transaction.atomic():
        AuditRecord.objects.filter(pk=item.pk).update(actor_label="mallory")
    with pytest.raises(DatabaseError, match="append-only: UPDATE refused"), transaction.atomic():
        item.outcome = "failure"
        item.save()
    with pytest.raises(DatabaseError, match="append-only: DELETE refused"), transaction.atomic():
        item.delete()
    with pytest.raises(DatabaseError, match="append-only: DELETE refused"), transaction.atomic():
        AuditRecord.objects.all().delete()
    assert AuditRecord.objects.get().actor_label == "system"


@requires_postgres()
def test_the_retention_setting_lets_deletes_through_but_never_updates():
    item = audit.record("audit.verified")
    with pytest.raises(DatabaseError, match="UPDATE refused"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL tributary.audit_retention = 'on'")
        AuditRecord.objects.filter(pk=item.pk).update(actor_label="mallory")
    assert AuditRecord.objects.filter(pk=item.pk).exists()


def test_the_admin_cannot_add_change_or_delete_records(admin_client):
    item = audit.record("audit.verified")
    assert admin_client.get("/admin/governance/auditrecord/").status_code == 200
    assert admin_client.get(f"/admin/governance/auditrecord/{item.pk}/change/").status_code == 200  # view only
    assert admin_client.get("/admin/governance/auditrecord/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/governance/auditrecord/{item.pk}/change/", {"actor_label": "x"}).status_code == 403
    )
    assert admin_client.post(f"/admin/governance/auditrecord/{item.pk}/delete/", {"post": "yes"}).status_code == 403
    item.refresh_from_db()
    assert item.actor_label == "system"


# Retention.


def records_then_cutoff(old: int, new: int):
    """`old` records, a cutoff time, then `new` records."""
    some_records(old)
    cutoff = AuditRecord.objects.order_by("-sequence").first().time + timedelta(microseconds=1)
    kept = some_records(new)
    if kept and kept[0].time < cutoff:  # same microsecond on a fast machine: nudge the cutoff back
        cutoff = kept[0].time
    return cutoff


def test_retention_cuts_old_records_and_anchors_the_chain():
    cutoff = records_then_cutoff(5, 3)
    last_cut = AuditRecord.objects.get(sequence=5)
    cut = audit.audit_retention_cut(before=cutoff, dry_run=False, actor="cli:ops")
    assert (cut.count, cut.first_sequence, cut.last_sequence, cut.last_hash) == (5, 1, 5, last_cut.hash)
    assert list(AuditRecord.objects.order_by("sequence").values_list("sequence", flat=True)) == [6, 7, 8, 9]
    anchor = AuditRecord.objects.get(sequence=9)
    assert anchor.action == "audit.retention" and anchor.actor_label == "cli:ops"
    assert anchor.detail["count"] == 5 and anchor.detail["last_sequence"] == 5
    assert anchor.detail["last_hash"] == last_cut.hash
    assert verify() == "4 records verified (records 6–9).\n"
    assert verify("--from", "1").startswith("4 records verified")


def test_a_second_retention_can_cut_the_first_anchor():
    cutoff = records_then_cutoff(3, 0)
    audit.audit_retention_cut(before=cutoff, dry_run=False)  # anchor at 4
    cutoff = records_then_cutoff(2, 2)  # 5, 6 old; 7, 8 kept
    cut = audit.audit_retention_cut(before=cutoff, dry_run=False)
    assert (cut.first_sequence, cut.last_sequence) == (4, 6)
    assert verify() == "3 records verified (records 7–9).\n"


def test_a_forged_anchor_does_not_verify():
    cutoff = records_then_cutoff(4, 2)
    audit.audit_retention_cut(before=cutoff, dry_run=False)
    tamper(
        "UPDATE governance_auditrecord SET detail = %s WHERE action = 'audit.retention'",
        ['{"count": 4, "first_sequence": 1, "last_sequence": 4, "last_hash": "' + "f" * 64 + '"}'],
    )
    with pytest.raises(CommandError, match="record 5"):
        verify()


def test_a_dry_run_changes_and_records_nothing():
    cutoff = records_then_cutoff(3, 1)
    cut = audit.audit_retention_cut(before=cutoff, dry_run=True)
    assert (cut.count, cut.first_sequence, cut.last_sequence) == (3, 1, 3)
    assert AuditRecord.objects.count() == 4


def test_the_retention_command_keeps_recent_records_and_says_what_it_did(settings):
    some_records(3)
    out = StringIO()
    call_command("audit_retention", "--dry-run", stdout=out)
    assert out.getvalue().startswith("Would delete 0 records older than")
    call_command("audit_retention", "--days", "30", stdout=out)
    assert "Deleted 0 records" in out.getvalue() and "anchor: record 4" in out.getvalue()
    assert AuditRecord.objects.count() == 4 and settings.TRIBUTARY_AUDIT_RETENTION_DAYS == 3650
    assert verify().startswith("4 records verified")


@requires_postgres()
def test_retention_passes_the_trigger_and_leaves_it_armed():
    cutoff = records_then_cutoff(2, 1)
    with transaction.atomic():
        audit.audit_retention_cut(before=cutoff, dry_run=False)
        # Later in the same transaction, the setting is off again.
        with pytest.raises(DatabaseError, match="DELETE refused"), transaction.atomic():
            AuditRecord.objects.filter(sequence=3).delete()
    assert AuditRecord.objects.count() == 2


def test_the_switch_for_the_benchmark_turns_recording_off(settings):
    settings.TRIBUTARY_AUDIT_ENABLED = False
    assert audit.record("audit.verified") is None
    create_token(name="unaudited", scope="read")
    assert not AuditRecord.objects.exists()


def test_every_action_is_documented_in_docs_audit_md():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "audit.md").read_text()
    assert [name for name in audit.ACTIONS if f"`{name}`" not in text] == []
