"""Times as every API reads and writes them: ISO 8601, in UTC, written with `Z`. Plain functions, no database."""

from datetime import UTC, datetime
from typing import Any


def iso(moment: datetime | str | None) -> str | None:
    """A time as the APIs write it; None stays None, and a string is one already written so (by SQL)."""
    if moment is None or isinstance(moment, str):
        return moment
    if moment.tzinfo is None:  # SQLite's raw cursor gives the stored UTC time without its zone
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value: Any) -> datetime | None:
    """An ISO 8601 time in UTC, or None when `value` is not one; a naive time is taken as UTC (as Marquez does)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
