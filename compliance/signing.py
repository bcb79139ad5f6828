"""Ed25519 signatures of compliance reports, verifiable offline with the public key.

The private key comes from TRIBUTARY_REPORT_SIGNING_KEY_FILE (PEM, 0600). On the embedded default a development
key is generated into the var folder; production settings without a key refuse to sign.
"""

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _key_path() -> Path:
    if settings.TRIBUTARY_REPORT_SIGNING_KEY_FILE:
        return Path(settings.TRIBUTARY_REPORT_SIGNING_KEY_FILE)
    if settings.TRIBUTARY_EMBEDDED or settings.DEBUG:
        path = Path(settings.VAR_DIR) / "report_signing_key.pem"
        if not path.exists():
            write_private_key(path, Ed25519PrivateKey.generate())
        return path
    raise ImproperlyConfigured(
        "signing compliance reports needs TRIBUTARY_REPORT_SIGNING_KEY_FILE (make one with "
        "`python manage.py report_signing_key --generate PATH`)"
    )


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def private_key() -> Ed25519PrivateKey:
    path = _key_path()
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ImproperlyConfigured(f"refusing the signing key {path}: readable by group or others; chmod 600 it")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{path} is not an Ed25519 private key")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(content: bytes) -> dict[str, str]:
    """The detached signature of a report's exact bytes."""
    key = private_key()
    digest = hashlib.sha256(content).hexdigest()
    return {
        "algorithm": "Ed25519",
        "sha256": digest,
        "signature": base64.b64encode(key.sign(digest.encode())).decode(),
        "keyId": key_id(key.public_key()),
        "publicKey": public_pem(key.public_key()),
    }


class Verification:
    def __init__(self, ok: bool, message: str):
        self.ok, self.message = ok, message


def verify(content: bytes, signature: dict, *, public_key_pem: str | None = None) -> Verification:
    """Check a report against its detached signature, with a trusted public key when given."""
    digest = hashlib.sha256(content).hexdigest()
    if digest != signature.get("sha256"):
        return Verification(False, "the file was changed: its SHA-256 does not match the signed one")
    pem = public_key_pem or signature.get("publicKey", "")
    try:
        public = serialization.load_pem_public_key(pem.encode())
        public.verify(base64.b64decode(signature["signature"]), digest.encode())
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return Verification(False, "the signature does not verify with this public key")
    trusted = (
        "with the public key given"
        if public_key_pem
        else (f"with the key embedded in the signature (id {signature.get('keyId')}); compare it with the server's key")
    )
    return Verification(True, f"the file is intact and signed {trusted}")


def signature_file(signature: dict, *, report_id: int, filename: str, generated_at: str) -> bytes:
    return json.dumps(
        {"report": filename, "reportId": report_id, "generatedAt": generated_at, **signature}, indent=2
    ).encode()
