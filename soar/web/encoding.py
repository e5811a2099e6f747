"""JSON as the API writes it: times in ISO 8601 UTC with `Z`, ids as text, and `<`,
`>` and `&` as \\u escapes, so text that came from a feed (a registration `<script>`)
can never be read as markup even by a browser that sniffs a response."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import orjson
from starlette.responses import Response

from soar.units import UTC

# Dates and datetimes through _default (whatever the session's time zone, UTC with `Z`); keys
# that are not text become text, as the standard library's encoder did.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
# dumps_utc: datetimes formatted by orjson (UTC as `Z`); the rest (Decimal) as above.
_UTC_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def _default(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):             # passed through with datetimes
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _escaped(text: bytes) -> bytes:
    return text.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")


def dumps_bytes(value) -> bytes:
    return _escaped(orjson.dumps(value, default=_default, option=_OPTIONS))


def dumps(value) -> str:
    return dumps_bytes(value).decode()


def dumps_utc(value) -> str:
    """dumps() for a value whose datetimes are all at UTC's offset (the caller checks):
    orjson formats them itself, the same text as _default gives, without a call back
    into Python for each (most of the cost of encoding a live position)."""
    return _escaped(orjson.dumps(value, default=_default, option=_UTC_OPTIONS)).decode()


class JSON(Response):
    media_type = "application/json"

    def render(self, content) -> bytes:
        return dumps_bytes(content)
