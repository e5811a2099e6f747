"""`soar stats`: the statistics views over the last N days, as plain rows.

Everything here reads views that aggregate `flights` (never `fixes`) through
`aircraft_public`, as the read-only role: a registration or callsign the owner
withheld never appears, and months of data cost what N days cost (the views' `day`
is indexed; tests/integration/test_statistics.py checks the plans).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from soar.db import sqlfiles
from soar.units import UTC

QUERIES = sqlfiles.queries("queries/statistics.sql")
SECTIONS = ("daily", "hourly", "durations", "airports", "runways", "aircraft", "tow_planes",
            "enrichment", "failures")


def since(days: int, today: date | None = None) -> date:
    """The first UTC day of the last `days` days (today included)."""
    return (today or datetime.now(UTC).date()) - timedelta(days=max(1, days) - 1)


def report(conn: psycopg.Connection, days: int = 7, top: int = 10,
           today: date | None = None) -> dict:
    """Each section's rows (dicts), for the last `days` UTC days."""
    params = {"since": since(days, today), "top": top}
    out: dict = {"since": params["since"].isoformat(), "days": days}
    with conn.cursor(row_factory=dict_row) as cur:
        for name in SECTIONS:
            rows = cur.execute(QUERIES[name], params).fetchall()
            out[name] = rows[0] if name == "enrichment" else rows
    return out
