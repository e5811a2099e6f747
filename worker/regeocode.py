"""Re-geocoding: fallback places are replaced by Pelias' answer once Pelias answers.

While Pelias fails, flights get the nearest offline place (worker.geocode), a
'places' row listed in `geocode_fallbacks` by the transaction that writes the flight.
Here, for each listed place: the Pelias row of its cell (from the cache, else one
Pelias call, stored as a NEW location row: no location is ever updated), then one
call of repoint_fallback_location, which takes the place off the list and re-points
its flights' start/end locations, atomically. The rule: a flight end never keeps a
fallback place unlisted, so stopping anywhere (Pelias failing again, a crash, a
limit) loses nothing; the next round, from the worker or `soar queue regeocode`,
carries on. Rounds are idempotent and may run in several processes at once.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import psycopg

from soar.db import sqlfiles
from soar.errors import first_line
from worker import metrics
from worker.geocode import Geocoder
from worker.pelias import PeliasError

QUERIES = sqlfiles.queries("queries/worker.sql")
PAGE = 100                      # candidates read per query


class Regeocoded(NamedTuple):
    locations: int              # fallback places replaced by a Pelias place
    flight_ends: int            # flight start/end locations re-pointed
    left: int                   # fallback places still listed
    error: str | None           # why the round stopped early (Pelias failing), else None


def pending(conn: psycopg.Connection) -> int:
    """Fallback places waiting for Pelias."""
    return conn.execute(QUERIES["fallbacks_pending"]).fetchone()[0]


def regeocode(conn: psycopg.Connection, geocoder: Geocoder, limit: int | None = None,
              budget_s: float | None = None) -> Regeocoded:
    """Re-geocode up to `limit` fallback places (None: all), oldest first, stopping at
    the first Pelias failure or, with budget_s, once that much time is spent (the
    worker's rounds must not hold its messages up behind a slow Pelias). `conn` is
    in autocommit mode: each place is committed on its own."""
    if geocoder.pelias is None:
        raise ValueError("re-geocoding needs a Pelias URL")
    done = ends = 0
    error = None
    seen: set[int] = set()
    until = None if budget_s is None else time.monotonic() + budget_s

    def more() -> bool:
        return ((limit is None or done < limit)
                and (until is None or time.monotonic() < until))

    while error is None and more():
        page = PAGE if limit is None else min(PAGE, limit - done)
        rows = [r for r in conn.execute(QUERIES["fallback_candidates"], (page,)).fetchall()
                if r[0] not in seen]
        if not rows:
            break                   # none left (or only those a concurrent flight re-listed)
        for location_id, lat, lon in rows:
            if not more():
                break
            seen.add(location_id)
            try:
                target = geocoder.pelias_location(conn, lat, lon)
            except PeliasError as exc:
                error = first_line(exc)
                break
            ends += conn.execute(QUERIES["repoint_fallback_location"],
                                 (location_id, target)).fetchone()[0]
            done += 1
            metrics.GEOCODE_REGEOCODED.inc()
    left = pending(conn)
    metrics.GEOCODE_FALLBACKS_PENDING.set(left)
    return Regeocoded(done, ends, left, error)
