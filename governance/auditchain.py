"""The audit trail's hash chain as plain data: canonical form, hashes, link checks, signatures.

Free of Django on purpose (like `contrib.auth.hashers`): the same code checks the chain in the database
(`manage.py audit_verify`) and an exported JSON-lines file on an auditor's laptop (`audit_verify --file`).

An entry is a dict with the keys of `HASHED_FIELDS`; its hash is the SHA-256 of its canonical JSON (sorted keys,
no spaces, UTF-8), which includes `previous_hash`, so changing any entry changes every hash after it.
"""

import base64
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

# The hash of the (imaginary) entry before the first one.
GENESIS_HASH = "0" * 64

HASHED_FIELDS = (
    "sequence",
    "time",
    "actor_id",
    "actor",
    "action",
    "object_type",
    "object_id",
    "object_name",
    "outcome",
    "source_ip",
    "user_agent",
    "request_id",
    "changes",
    "detail",
    "previous_hash",
)

# The action whose detail anchors the chain after retention cut its beginning (see `anchor_of`).
RETENTION_ACTION = "audit.retention"
# The action whose detail carries a signed (sequence, hash) of the chain.
CHECKPOINT_ACTION = "audit.checkpoint"


def format_time(moment: datetime) -> str:
    """UTC with microseconds: what PostgreSQL and SQLite both give back unchanged."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalise_json(value: Any) -> Any:
    """The value as it reads back from a JSON column (string keys, ISO dates), so the hash survives storage."""
    if value is None:
        return None
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str))


def canonical(entry: Mapping[str, Any]) -> bytes:
    return orjson.dumps({name: entry[name] for name in HASHED_FIELDS}, option=orjson.OPT_SORT_KEYS)


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


@dataclass(frozen=True)
class Broken:
    sequence: int
    reason: str

    def __str__(self) -> str:
        return f"record {self.sequence}: {self.reason}"


@dataclass(frozen=True)
class Verification:
    count: int
    first: int | None
    last: int | None
    last_hash: str | None
    broken: Broken | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "broken": {"sequence": self.broken.sequence, "reason": self.broken.reason} if self.broken else None,
        }


def walk(
    entries: Iterable[Mapping[str, Any]],
    *,
    previous: tuple[int, str] | None = None,
) -> Verification:
    """Check an ascending run of entries: each hash matches its content, and links to the one before.

    `previous` is (sequence, hash) of the entry just before the first one, when known (the predecessor in the
    database, a retention anchor, or the genesis (0, GENESIS_HASH)); without it the first entry's link is
    taken on trust, as in an exported range. Stops at the first broken link.
    """
    count, first, last, last_hash = 0, None, None, None
    expected = previous
    for entry in entries:
        sequence = entry["sequence"]
        if first is None:
            first = sequence
        if expected is not None:
            if sequence != expected[0] + 1:
                reason = f"expected record {expected[0] + 1} next, found {sequence}: records are missing"
                return Verification(count, first, last, last_hash, Broken(expected[0] + 1, reason))
            if entry["previous_hash"] != expected[1]:
                reason = (
                    f"previous_hash {entry['previous_hash'][:16]}… does not match the hash of record "
                    f"{expected[0]} ({expected[1][:16]}…)"
                )
                return Verification(count, first, last, last_hash, Broken(sequence, reason))
        computed = entry_hash(entry)
        if computed != entry["hash"]:
            reason = f"content does not match its hash (stored {entry['hash'][:16]}…, computed {computed[:16]}…)"
            return Verification(count, first, last, last_hash, Broken(sequence, reason))
        count, last, last_hash = count + 1, sequence, entry["hash"]
        expected = (sequence, entry["hash"])
    return Verification(count, first, last, last_hash)


def anchor_of(entry: Mapping[str, Any]) -> tuple[int, str] | None:
    """(last cut sequence, its hash) when the entry is a retention anchor that cut something."""
    if entry.get("action") != RETENTION_ACTION:
        return None
    detail = entry.get("detail") or {}
    if not detail.get("count"):
        return None
    return int(detail["last_sequence"]), str(detail["last_hash"])


# Signatures: Ed25519 over a small, unambiguous statement of the chain head.


def checkpoint_message(sequence: int, hash_: str) -> bytes:
    return f"tributary-audit-checkpoint:v1:{sequence}:{hash_}".encode()


def key_id(public_key_raw: bytes) -> str:
    """A short fingerprint of a public key, to tell keys apart in records and messages."""
    return hashlib.sha256(public_key_raw).hexdigest()[:16]


def sign_checkpoint(private_key, sequence: int, hash_: str) -> dict[str, Any]:
    """The detail of a checkpoint record: what was signed, the signature and the key's fingerprint."""
    public_raw = _raw_public_bytes(private_key.public_key())
    signature = private_key.sign(checkpoint_message(sequence, hash_))
    return {
        "sequence": sequence,
        "hash": hash_,
        "signature": base64.b64encode(signature).decode(),
        "key_id": key_id(public_raw),
    }


def checkpoint_is_valid(public_key, detail: Mapping[str, Any]) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        signature = base64.b64decode(detail["signature"], validate=True)
        public_key.verify(signature, checkpoint_message(int(detail["sequence"]), str(detail["hash"])))
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class FileVerification:
    chain: Verification
    signed_up_to: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.problem is None


def verify_export(lines: Iterable[bytes | str], *, public_key=None) -> FileVerification:
    """Verify an exported JSON-lines range offline; with a public key, its checkpoints must vouch for it.

    A checkpoint record signs the record just before it (both are written under the chain lock), and through
    the chain everything before that in the file. With a public key, every record in the file other than
    checkpoint records themselves must be covered by a checkpoint of that key with a valid signature.
    The file is read once, keeping only the previous record's hash: memory stays flat however big it is.
    """
    own_key_id = key_id(_raw_public_bytes(public_key)) if public_key is not None else None
    state: dict[str, Any] = {"previous": None, "signed_up_to": None, "last_plain": None, "problem": None}

    def entries() -> Iterator[dict[str, Any]]:
        for line in lines:
            if not line.strip():
                continue
            entry = orjson.loads(line)
            if entry.get("action") == CHECKPOINT_ACTION:
                _check_checkpoint(entry, state, own_key_id, public_key)
            else:
                state["last_plain"] = entry["sequence"]
            state["previous"] = (entry["sequence"], entry.get("hash"))
            yield entry

    chain = walk(entries())
    if not chain.ok or public_key is None:
        return FileVerification(chain)
    if state["problem"]:
        return FileVerification(chain, problem=state["problem"])
    signed_up_to = state["signed_up_to"]
    if signed_up_to is None:
        return FileVerification(chain, problem=f"no checkpoint signed with key {own_key_id} covers the file")
    if state["last_plain"] is not None and state["last_plain"] > signed_up_to:
        problem = f"records after {signed_up_to} are not covered by a checkpoint signed with key {own_key_id}"
        return FileVerification(chain, signed_up_to=signed_up_to, problem=problem)
    return FileVerification(chain, signed_up_to=signed_up_to)


def _check_checkpoint(entry: Mapping[str, Any], state: dict[str, Any], own_key_id, public_key) -> None:
    detail = entry.get("detail") or {}
    if public_key is None or state["problem"] or detail.get("key_id") != own_key_id:
        return  # another key's checkpoint (before a key rotation): not ours to judge
    if not checkpoint_is_valid(public_key, detail):
        state["problem"] = f"record {entry['sequence']}: the checkpoint's signature is invalid"
        return
    previous = state["previous"]
    if previous is None or previous[0] != detail.get("sequence"):
        return  # the record it signs is not in the file (the export starts at the checkpoint)
    if previous[1] != detail.get("hash"):
        state["problem"] = (
            f"record {previous[0]}: its hash differs from the one signed in checkpoint {entry['sequence']}"
        )
        return
    state["signed_up_to"] = previous[0]


def _raw_public_bytes(public_key) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def generate_key_pair() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return private_pem, public_pem


def load_private_key(pem: bytes):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def load_public_key(pem: bytes):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
