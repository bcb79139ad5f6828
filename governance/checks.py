"""System checks run by `manage.py check`, and so before migrate, runserver and the other commands that check.

A bad key setup is refused at startup rather than found out when someone first saves a connection.
"""

import ipaddress
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from governance import crypto

HINT = (
    "set TRIBUTARY_FERNET_KEYS (comma-separated, newest first) or TRIBUTARY_FERNET_KEY_FILE (one key a line, "
    "mode 0600); `python manage.py generate_fernet_key` makes a key"
)


def fernet_keys(app_configs=None, **kwargs) -> list:
    """Connection encryption keys: configured keys must be usable; without any, only the embedded default may go
    on, on a development key (a warning)."""
    if settings.TRIBUTARY_FERNET_KEYS or settings.TRIBUTARY_FERNET_KEY_FILE:
        try:
            crypto.configured_keys()
        except crypto.KeysNotConfigured as error:
            return [Error(f"connection encryption keys: {error}", hint=HINT, id="governance.E001")]
        return []
    if not crypto.embedded_keys_allowed():
        return [
            Error(
                "no connection encryption key is configured, and these are production settings (DATABASE_URL "
                "is set, DEBUG is off): connections could not be stored or read",
                hint=HINT,
                id="governance.E002",
            )
        ]
    path: Path = crypto.development_key_path()
    if path.exists():  # made by an earlier run; a check never creates it
        try:
            crypto.validated(crypto.read_key_file(path))
        except crypto.KeysNotConfigured as error:
            return [Error(f"connection encryption keys: {error}", hint=HINT, id="governance.E001")]
    return [
        Warning(
            f"connection secrets are encrypted with a development key ({path}, generated on first use): fine for "
            "the embedded default, not for real credentials",
            hint=HINT,
            id="governance.W001",
        )
    ]


@register(Tags.security)
def address_lists(app_configs=None, **kwargs) -> list:
    """The address lists that decide who is believed (trusted proxies) and who may scrape /metrics must parse: a
    typo would otherwise quietly shut a scraper out, or be skipped."""
    errors = []
    for name in ("TRIBUTARY_TRUSTED_PROXIES", "TRIBUTARY_METRICS_ALLOWED_IPS"):
        for entry in getattr(settings, name, ()):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                errors.append(
                    Error(
                        f"{name}: {entry!r} is not an IP address or network",
                        hint="a comma-separated list such as 127.0.0.1,::1,10.0.0.0/8",
                        id="governance.E010",
                    )
                )
    return errors
