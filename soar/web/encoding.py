"""JSON as the API writes it: times in ISO 8601 UTC with `Z`, ids as text, and `<`,
`>` and `&` as \\u escapes, so text that came from a feed (a registration `<script>`)
can never be read as markup even by a browser that sniffs a response."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal

from starlette.responses import Response

from soar.units import UTC


def _default(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def dumps(value) -> str:
    return json.dumps(value, default=_default, separators=(",", ":")).translate(_ESCAPES)


class JSON(Response):
    media_type = "application/json"

    def render(self, content) -> bytes:
        return dumps(content).encode("utf-8")
