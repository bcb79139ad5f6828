"""Encryption of connection secrets with Fernet keys (cryptography's MultiFernet), newest key first.

Keys come from TRIBUTARY_FERNET_KEYS (comma-separated) or TRIBUTARY_FERNET_KEY_FILE (one per line), newest
first. A key file readable by group or others is refused (the seed's 0600 rule). With neither, the embedded
default generates a development key file (and says so); production settings refuse.
"""

import hashlib
import logging
import os
import stat
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)


class SecretError(Exception):
    """A secret that cannot be decrypted with the configured keys."""


def key_id(key: bytes | str) -> str:
    """A short, non-secret name for a key: which key encrypted a secret, without revealing the key."""
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()[:12]


def generate_key() -> str:
    return Fernet.generate_key().decode()


def _read_key_file(path: Path) -> list[str]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ImproperlyConfigured(f"TRIBUTARY_FERNET_KEY_FILE {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ImproperlyConfigured(
            f"refusing the key file {path}: it is readable by group or others (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}`"
        )
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def _development_key_file() -> Path:
    path = Path(settings.VAR_DIR) / "fernet.keys"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_key() + "\n")
        log.warning(
            "no TRIBUTARY_FERNET_KEYS or TRIBUTARY_FERNET_KEY_FILE: generated a development key in %s. "
            "Set your own keys before storing real credentials.",
            path,
        )
    return path


def configured_keys() -> list[str]:
    """The keys, newest first; raises ImproperlyConfigured when there are none outside the embedded default."""
    if settings.TRIBUTARY_FERNET_KEYS:
        keys = list(settings.TRIBUTARY_FERNET_KEYS)
    elif settings.TRIBUTARY_FERNET_KEY_FILE:
        keys = _read_key_file(Path(settings.TRIBUTARY_FERNET_KEY_FILE))
    elif settings.TRIBUTARY_EMBEDDED or settings.DEBUG:
        keys = _read_key_file(_development_key_file())
    else:
        raise ImproperlyConfigured(
            "connection secrets need an encryption key: set TRIBUTARY_FERNET_KEYS or TRIBUTARY_FERNET_KEY_FILE "
            "(make one with `python manage.py generate_fernet_key`)"
        )
    if not keys:
        raise ImproperlyConfigured("the Fernet key list is empty")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"a Fernet key (id {key_id(key)}) is malformed: 32 url-safe base64 bytes"
            ) from None
    return keys


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def current_key_id() -> str:
    return key_id(configured_keys()[0])


def encrypt(plaintext: str) -> tuple[str, str]:
    """(token, id of the key used): always the newest key."""
    keys = configured_keys()
    return _fernet(tuple(keys)).encrypt(plaintext.encode()).decode(), key_id(keys[0])


def decrypt(token: str, *, what: str) -> str:
    try:
        return _fernet(tuple(configured_keys())).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretError(
            f"cannot decrypt {what}: none of the configured keys fits (was a key removed before "
            "`manage.py rotate_fernet_keys` re-encrypted everything with the newest one?)"
        ) from None


def rotate(token: str, *, what: str) -> tuple[str, str]:
    """Re-encrypt with the newest key; (new token, its key id)."""
    keys = configured_keys()
    try:
        return _fernet(tuple(keys)).rotate(token.encode()).decode(), key_id(keys[0])
    except InvalidToken:
        raise SecretError(f"cannot re-encrypt {what}: none of the configured keys fits") from None
