"""Signed checkpoints and offline verification: audit_keygen, audit_checkpoint, audit_export, audit_verify --file."""

import stat
from io import StringIO

import orjson
import pytest
from django.core.management import CommandError, call_command

from governance import audit
from governance.models import AuditRecord

from .audit_cast import tamper

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def some_records(count: int) -> None:
    for n in range(count):
        audit.record("metadata.updated", actor="steward", target=("lineage.dataset", n, f"mart.t{n}"))


@pytest.fixture
def keys(tmp_path):
    run("audit_keygen", "--out", str(tmp_path / "audit"))
    return tmp_path / "audit.pem", tmp_path / "audit.pub"


def test_keygen_writes_a_private_key_only_its_owner_can_read(keys):
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(CommandError, match="not overwriting"):
        run("audit_keygen", "--out", str(private.with_suffix("")))


def test_a_checkpoint_signs_the_chain_head_in_a_record(keys):
    some_records(5)
    out, _ = run("audit_checkpoint", "--key", str(keys[0]))
    head = AuditRecord.objects.get(sequence=5)
    checkpoint = AuditRecord.objects.get(sequence=6)
    assert checkpoint.action == "audit.checkpoint" and checkpoint.actor_label.startswith("cli")
    assert checkpoint.detail["sequence"] == 5 and checkpoint.detail["hash"] == head.hash
    assert f"Signed record 5 ({head.hash})" in out


def test_a_checkpoint_of_an_empty_trail_is_refused(keys):
    with pytest.raises(CommandError, match="nothing to sign"):
        run("audit_checkpoint", "--key", str(keys[0]))


def test_a_signed_export_verifies_offline_and_fails_after_an_edit(keys, tmp_path):
    private, public = keys
    some_records(10)
    run("audit_checkpoint", "--key", str(private))  # record 11 signs record 10
    some_records(3)
    export = tmp_path / "export.jsonl"
    _, err = run("audit_export", "--from", "3", "--to", "8", "--signature", "--output", str(export))
    assert "Extended the range to record 11" in err
    lines = export.read_bytes().splitlines()
    assert [orjson.loads(line)["sequence"] for line in lines] == list(range(3, 12))

    out, _ = run("audit_verify", "--file", str(export), "--public-key", str(public))
    assert out == "9 records verified (records 3–11), signed up to record 10.\n"

    edited = [orjson.loads(line) for line in lines]
    edited[2]["actor"] = "someone-else"
    export.write_bytes(b"\n".join(orjson.dumps(e) for e in edited))
    with pytest.raises(CommandError, match="record 5: content does not match its hash"):
        run("audit_verify", "--file", str(export), "--public-key", str(public))


def test_an_export_of_a_rewritten_trail_fails_against_the_earlier_signature(keys, tmp_path):
    private, public = keys
    some_records(6)
    run("audit_checkpoint", "--key", str(private))
    # Someone with database access rewrites record 4 and recomputes every hash after it, so the database chain
    # is consistent again: only the signature, made before, can tell.
    entries = [audit.entry_of(row) for row in AuditRecord.objects.order_by("sequence").values(*audit._COLUMNS)]
    entries[3]["object_name"] = "rewritten"
    for index in range(3, len(entries)):
        entries[index]["previous_hash"] = entries[index - 1]["hash"]
        entries[index]["hash"] = audit.entry_hash(entries[index])
        tamper(
            "UPDATE governance_auditrecord SET object_name = %s, previous_hash = %s, hash = %s WHERE sequence = %s",
            [entries[index]["object_name"], entries[index]["previous_hash"], entries[index]["hash"], index + 1],
        )
    tamper("UPDATE governance_auditchainhead SET hash = %s", [entries[-1]["hash"]])
    tamper("DELETE FROM governance_auditcheckpoint")  # and the checkpoints kept in the database with it
    assert audit.verify_chain().ok  # the database alone is fooled

    export = tmp_path / "export.jsonl"
    run("audit_export", "--to", "7", "--signature", "--output", str(export))
    with pytest.raises(CommandError, match="differs from the one signed in checkpoint 7"):
        run("audit_verify", "--file", str(export), "--public-key", str(public))


def test_a_signed_export_needs_a_checkpoint(tmp_path):
    some_records(2)
    with pytest.raises(CommandError, match=r"run manage\.py audit_checkpoint first"):
        run("audit_export", "--signature", "--output", str(tmp_path / "x.jsonl"))


def test_an_unsigned_export_verifies_its_chain_and_is_recorded(tmp_path):
    some_records(4)
    export = tmp_path / "export.csv"
    run("audit_export", "--format", "csv", "--output", str(export))
    assert export.read_text().splitlines()[0].startswith("sequence,time,actor_id,actor,action")
    exported = AuditRecord.objects.get(action="audit.exported")
    assert exported.detail["via"] == "cli" and exported.detail["format"] == "csv"
    jsonl = tmp_path / "export.jsonl"
    run("audit_export", "--output", str(jsonl))
    out, _ = run("audit_verify", "--file", str(jsonl))
    assert out.startswith("6 records verified")
