"""Flights as people read them: the list behind `soar flights list` and the demo,
from sql/queries/flights_list.sql, as JSON-ready dicts. Aircraft are read through the
aircraft_public view (revision 0006), so a registration or callsign the device
database says not to show is never shown, whichever login reads."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from soar import db
from soar.db import sqlfiles
from soar.errors import SoarError
from soar.units import UTC

FLIGHTS_LIST = sqlfiles.read("queries/flights_list.sql")


def _iso(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def parse_address(text: str | None) -> int | None:
    """A 24-bit aircraft address given in hex (DDEFF7), or None."""
    if text is None:
        return None
    try:
        value = int(text, 16)
    except ValueError:
        raise SoarError(f"--aircraft {text!r}: give the 24-bit address in hex, e.g. DDEFF7") from None
    if not 0 <= value < 1 << 24:
        raise SoarError(f"--aircraft {text!r}: an address has at most 6 hex digits")
    return value


def fetch(url: str, since: datetime | None = None, address: int | None = None,
          limit: int = 10_000) -> list[dict]:
    """Flights started at or after `since` (all by default), newest last, as JSON-ready
    dicts: the keys of sql/queries/flights_list.sql, times in ISO 8601 UTC."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    with db.connect(url, row_factory=dict_row) as conn:
        try:
            rows = conn.execute(FLIGHTS_LIST, {"since": since, "address": address,
                                               "limit": limit}).fetchall()
        except psycopg.errors.UndefinedTable as exc:
            raise SoarError(f"the database lacks {exc.diag.message_primary or 'a table'}: "
                            "run `soar db upgrade`") from None
    for r in rows:
        r["id"] = str(r["id"])
        r["duration_s"] = None if r["duration_s"] is None else round(float(r["duration_s"]))
        for k, v in r.items():
            r[k] = _iso(v)
    return rows
