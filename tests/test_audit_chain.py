"""The hash chain as plain data (governance.auditchain): no database."""

import orjson

from governance import auditchain
from governance.auditchain import GENESIS_HASH, entry_hash, walk


def chain(count: int, start: int = 1, previous: str = GENESIS_HASH) -> list[dict]:
    entries = []
    for sequence in range(start, start + count):
        entry = {
            "sequence": sequence,
            "time": f"2025-01-01T00:00:{sequence % 60:02d}.000000Z",
            "actor_id": None,
            "actor": "alice",
            "action": "metadata.updated",
            "object_type": "lineage.dataset",
            "object_id": str(sequence),
            "object_name": "mart.orders",
            "outcome": "success",
            "source_ip": "10.0.0.1",
            "user_agent": "test",
            "request_id": "",
            "changes": {"description": {"before": "a", "after": "b"}},
            "detail": None,
            "previous_hash": previous,
        }
        entry["hash"] = previous = entry_hash(entry)
        entries.append(entry)
    return entries


def test_the_hash_does_not_depend_on_key_order_at_any_depth():
    entry = chain(1)[0]
    shuffled = dict(reversed(list(entry.items())))
    shuffled["changes"] = {"description": {"after": "b", "before": "a"}}
    assert entry_hash(shuffled) == entry["hash"]


def test_the_hash_covers_every_field_and_the_previous_hash():
    entry = chain(1)[0]
    for name in auditchain.HASHED_FIELDS:
        changed = {**entry, name: "something else"}
        assert entry_hash(changed) != entry["hash"], name


def test_an_intact_chain_verifies_from_the_genesis():
    result = walk(chain(5), previous=(0, GENESIS_HASH))
    assert result.ok and (result.count, result.first, result.last) == (5, 1, 5)


def test_an_edited_entry_breaks_the_chain_at_that_entry():
    entries = chain(5)
    entries[2]["actor"] = "mallory"
    result = walk(entries, previous=(0, GENESIS_HASH))
    assert not result.ok
    assert result.broken.sequence == 3
    assert "content does not match its hash" in result.broken.reason
    assert result.count == 2  # it stopped at the first broken link


def test_an_entry_rewritten_with_a_fresh_hash_breaks_the_next_link():
    entries = chain(5)
    entries[2]["actor"] = "mallory"
    entries[2]["hash"] = entry_hash(entries[2])
    result = walk(entries, previous=(0, GENESIS_HASH))
    assert result.broken.sequence == 4
    assert "does not match the hash of record 3" in result.broken.reason


def test_a_missing_entry_is_reported():
    entries = chain(5)
    del entries[1]
    result = walk(entries, previous=(0, GENESIS_HASH))
    assert result.broken.sequence == 2
    assert "missing" in result.broken.reason


def test_a_range_without_its_predecessor_checks_its_inner_links():
    entries = chain(10)[4:]
    assert walk(entries).ok
    entries[3]["detail"] = {"x": 1}
    assert walk(entries).broken.sequence == 8


def test_normalised_json_survives_a_round_trip_through_a_json_column():
    value = {2: "int key", "when": __import__("datetime").date(2025, 1, 2), "nested": [{"b": 1, "a": 2}]}
    normal = auditchain.normalise_json(value)
    assert normal == orjson.loads(orjson.dumps(normal))
    assert normal["2"] == "int key" and normal["when"] == "2025-01-02"


def signed_export(private_pem: bytes, entries: list[dict]) -> list[bytes]:
    """The entries followed by a checkpoint record that signs the last of them, as exported lines."""
    key = auditchain.load_private_key(private_pem)
    last = entries[-1]
    checkpoint = chain(1, start=last["sequence"] + 1, previous=last["hash"])[0]
    checkpoint.update(
        action=auditchain.CHECKPOINT_ACTION,
        detail=auditchain.sign_checkpoint(key, last["sequence"], last["hash"]),
        changes=None,
    )
    checkpoint["hash"] = entry_hash(checkpoint)
    return [orjson.dumps(e) for e in [*entries, checkpoint]]


def test_a_signed_export_verifies_offline_with_the_public_key():
    private_pem, public_pem = auditchain.generate_key_pair()
    lines = signed_export(private_pem, chain(6))
    result = auditchain.verify_export(lines, public_key=auditchain.load_public_key(public_pem))
    assert result.ok and result.signed_up_to == 6 and result.chain.count == 7


def test_a_signed_export_fails_with_another_key():
    private_pem, _ = auditchain.generate_key_pair()
    _, other_public = auditchain.generate_key_pair()
    lines = signed_export(private_pem, chain(3))
    result = auditchain.verify_export(lines, public_key=auditchain.load_public_key(other_public))
    assert not result.ok and "no checkpoint signed with key" in result.problem


def test_an_export_rewritten_with_fresh_hashes_fails_on_the_signature():
    private_pem, public_pem = auditchain.generate_key_pair()
    entries = chain(6)
    lines = signed_export(private_pem, entries)
    # The forger edits record 2 and recomputes every hash after it, checkpoint record included.
    forged = [orjson.loads(line) for line in lines]
    forged[1]["actor"] = "mallory"
    for index in range(1, len(forged)):
        forged[index]["previous_hash"] = forged[index - 1]["hash"]
        forged[index]["hash"] = entry_hash(forged[index])
    result = auditchain.verify_export(
        [orjson.dumps(e) for e in forged], public_key=auditchain.load_public_key(public_pem)
    )
    assert result.chain.ok  # the chain itself is consistent again ...
    assert not result.ok and "differs from the one signed" in result.problem  # ... but the signature says no


def test_records_after_the_last_checkpoint_are_not_vouched_for():
    private_pem, public_pem = auditchain.generate_key_pair()
    entries = chain(4)
    lines = signed_export(private_pem, entries)
    checkpoint = orjson.loads(lines[-1])
    extra = chain(1, start=checkpoint["sequence"] + 1, previous=checkpoint["hash"])
    result = auditchain.verify_export(
        [*lines, orjson.dumps(extra[0])], public_key=auditchain.load_public_key(public_pem)
    )
    assert not result.ok and "not covered" in result.problem
