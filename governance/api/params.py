"""Query parameters of every read API: a bad value is a 400 that names the parameter."""

from datetime import datetime

from rest_framework import status
from rest_framework.response import Response

from governance.api.errors import error_body
from governance.times import parse_iso


class BadParameter(ValueError):
    def __init__(self, parameter: str, message: str):
        super().__init__(f"{parameter}: {message}")
        self.parameter, self.message = parameter, message


def integer(params, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name, f"must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise BadParameter(name, f"must be {bounds}, got {value}")
    return value


def choice(params, name: str, choices: tuple[str, ...], default: str) -> str:
    value = params.get(name) or default
    if value not in choices:
        raise BadParameter(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def moment(params, name: str) -> datetime | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    parsed = parse_iso(raw.replace(" ", "+"))  # a bare '+' in a query string arrives as a space
    if parsed is None:
        raise BadParameter(name, f"must be an ISO 8601 date-time, got {raw!r}")
    return parsed


def boolean(params, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise BadParameter(name, f"must be true or false, got {raw!r}")


def bad_parameter(error: BadParameter) -> Response:
    problem = {"parameter": error.parameter, "message": error.message}
    return Response(
        error_body(400, str(error), detail=str(error), errors=[problem]), status=status.HTTP_400_BAD_REQUEST
    )


def not_found(message: str) -> Response:
    return Response(error_body(404, message, detail=message), status=status.HTTP_404_NOT_FOUND)
