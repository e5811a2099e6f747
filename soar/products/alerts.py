"""Overdue alerts as users read them: the active ones from the view `overdue_flights`
(the read-only role; registrations and callsigns masked as aircraft_public masks
them), as records for `soar alerts list` and any other tool. The worker raises and
clears them (worker/overdue.py; docs/enrichment.md, "Overdue alerts")."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import psycopg

from soar.db import sqlfiles

QUERIES = sqlfiles.queries("queries/alerts.sql")


class OverdueFlight(NamedTuple):
    alert_id: int
    flight_id: str
    address: str
    address_type: int
    registration: str | None
    callsign: str | None
    aircraft_type: int | None
    model: str | None
    reason: str
    last_heard_at: datetime
    latitude: float
    longitude: float
    altitude_m: float | None
    height_m: float | None
    height_reference: str | None
    ground_speed_kmh: float | None
    track_deg: float | None
    vertical_rate_ms: float | None
    receivers: list[str]
    takeoff_time: datetime | None
    departure_airport: str | None
    raised_at: datetime
    message: str | None
    raise_delivery: str


def active(conn: psycopg.Connection) -> list[OverdueFlight]:
    """The alerts not cleared, the most recently heard first."""
    rows = conn.execute(QUERIES["overdue_flights"]).fetchall()
    return [OverdueFlight(r[0], str(r[1]), *r[2:]) for r in rows]


def as_json(alert: OverdueFlight) -> dict:
    out = alert._asdict()
    for key in ("last_heard_at", "takeoff_time", "raised_at"):
        if out[key] is not None:
            out[key] = out[key].isoformat()
    return out
