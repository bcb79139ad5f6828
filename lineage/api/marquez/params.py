"""Query parameters of the Marquez reads, checked; a bad one raises BadParameter naming it (answered 400)."""

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime

from django.utils.dateparse import parse_date, parse_datetime

from governance.api.params import BadParameter, integer

DEFAULT_LIMIT = 100  # Marquez's default for every listing but search
MAX_LIMIT = 1000
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
OFFSET_AS_SPACE = re.compile(r"^(.*[Tt][\d:.]+) (\d{2}:?\d{2})$")


def page(params: Mapping, *, default_limit: int = DEFAULT_LIMIT) -> tuple[int, int]:
    """(limit, offset). A limit over MAX_LIMIT is refused rather than cut: a script that pages by `offset += limit`
    would otherwise skip rows without noticing."""
    limit = integer(params, "limit", default=default_limit, maximum=MAX_LIMIT)
    return limit, integer(params, "offset", default=0)


def choice(params: Mapping, name: str, choices: Mapping[str, str], *, default: str | None) -> str | None:
    """One of `choices` (keys matched case-insensitively, as Marquez's enum parameters are)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    value = choices.get(raw.strip().lower())
    if value is None:
        raise BadParameter(name, f"must be one of {', '.join(sorted(set(choices)))}, got {raw!r}")
    return value


def choices(params, name: str, allowed: set[str]) -> list[str]:
    """A repeated parameter (`?x=A&x=B`), each value one of `allowed` (upper case)."""
    values = []
    for raw in params.getlist(name):
        value = raw.strip().upper()
        if value not in allowed:
            raise BadParameter(name, f"must be one of {', '.join(sorted(allowed))}, got {raw!r}")
        values.append(value)
    return values


def moment(params: Mapping, name: str) -> datetime | None:
    """An ISO-8601 time (a time without zone is UTC), or a date meaning its midnight UTC."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    # A `+01:00` offset sent unencoded in a query string arrives as ` 01:00`.
    text = OFFSET_AS_SPACE.sub(r"\1+\2", raw.strip())
    try:
        value = parse_datetime(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if value is None and DAY.match(text):
            value = datetime.combine(parse_date(text), datetime.min.time())
    except ValueError:
        value = None
    if value is None:
        raise BadParameter(name, f"must be an ISO-8601 time such as 2025-09-15T07:47:19Z, got {raw!r}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def day(params: Mapping, name: str) -> date | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = parse_date(raw) if DAY.match(raw) else None
    except ValueError:
        value = None
    if value is None:
        raise BadParameter(name, f"must be a date YYYY-MM-DD, got {raw!r}")
    return value


def text(params: Mapping, name: str, *, required: bool = False) -> str | None:
    value = (params.get(name) or "").strip()
    if not value:
        if required:
            raise BadParameter(name, "is required")
        return None
    return value
