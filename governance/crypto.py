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


class KeysNotConfigured(ImproperlyConfigured):
    """No usable key: none configured outside the embedded default, or a key file that is missing, unreadable,
    too open, or holds a malformed key. `manage.py check` (and so migrate and runserver) reports it at startup."""


def key_id(key: bytes | str) -> str:
    """A short, non-secret name for a key: which key encrypted a secret, without revealing the key."""
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()[:12]


def generate_key() -> str:
    return Fernet.generate_key().decode()


def read_key_file(path: Path) -> list[str]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeysNotConfigured(f"the Fernet key file {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeysNotConfigured(
            f"refusing the key file {path}: it is readable by group or others (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}`"
        )
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise KeysNotConfigured(f"cannot read the Fernet key file {path}: {error.__class__.__name__}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def embedded_keys_allowed() -> bool:
    """Without configured keys, may a development key file be generated? On the embedded default (no
    DATABASE_URL) or in DEBUG; production settings refuse."""
    return bool(settings.TRIBUTARY_EMBEDDED or settings.DEBUG)


def development_key_path() -> Path:
    return Path(settings.VAR_DIR) / "fernet.keys"


def _development_key_file() -> Path:
    path = development_key_path()
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
        keys = read_key_file(Path(settings.TRIBUTARY_FERNET_KEY_FILE))
    elif embedded_keys_allowed():
        keys = read_key_file(_development_key_file())
    else:
        raise KeysNotConfigured(
            "connection secrets need an encryption key: set TRIBUTARY_FERNET_KEYS or TRIBUTARY_FERNET_KEY_FILE "
            "(make one with `python manage.py generate_fernet_key`)"
        )
    return validated(keys)


def validated(keys: list[str]) -> list[str]:
    """The keys, if there is at least one and each is a Fernet key; the error names a bad key by its id only."""
    if not keys:
        raise KeysNotConfigured("the Fernet key list is empty")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise KeysNotConfigured(
                f"a Fernet key (id {key_id(key)}) is malformed: a key is 32 url-safe base64-encoded bytes"
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
