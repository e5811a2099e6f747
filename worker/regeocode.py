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
Given a connection pool (the worker), a round borrows a connection for each SQL step
and holds none during a Pelias call.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple

import psycopg
from psycopg_pool import ConnectionPool

from soar.db import sqlfiles
from soar.errors import first_line
from worker import metrics
from worker.config import WorkerConfig
from worker.geocode import Geocoder
from worker.metrics import Stats
from worker.tasks import Periodic

log = logging.getLogger(__name__)
QUERIES = sqlfiles.queries("queries/worker.sql")
PAGE = 100                      # candidates read per query


class Regeocoded(NamedTuple):
    locations: int              # fallback places replaced by a Pelias place
    flight_ends: int            # flight start/end locations re-pointed
    left: int                   # fallback places still listed
    error: str | None           # why the round stopped early (Pelias failing), else None


def _borrow(source: psycopg.Connection | ConnectionPool) -> AbstractContextManager:
    return source.connection() if isinstance(source, ConnectionPool) else nullcontext(source)


def pending(conn: psycopg.Connection) -> int:
    """Fallback places waiting for Pelias."""
    return conn.execute(QUERIES["fallbacks_pending"]).fetchone()[0]


def regeocode(source: psycopg.Connection | ConnectionPool, geocoder: Geocoder,
              limit: int | None = None, budget_s: float | None = None) -> Regeocoded:
    """Re-geocode up to `limit` fallback places (None: all), oldest first, stopping at
    the first Pelias failure or, with budget_s, once that much time is spent.
    `source` is a connection in autocommit mode or a pool: each place is committed
    on its own."""
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
        with _borrow(source) as conn:
            rows = [r for r in conn.execute(QUERIES["fallback_candidates"], (page,)).fetchall()
                    if r[0] not in seen]
        if not rows:
            break                   # none left (or only those a concurrent flight re-listed)
        for location_id, lat, lon in rows:
            if not more():
                break
            seen.add(location_id)
            with _borrow(source) as conn:
                located = geocoder.lookup(conn, lat, lon)
            # The Pelias call holds no connection.
            answer = None if located is not None else geocoder.ask(lat, lon)
            if answer is not None and answer.error is not None:
                error = first_line(answer.error)
                break
            with _borrow(source) as conn:
                target = located.id if located is not None else \
                    geocoder.settle(conn, lat, lon, answer).id
                ends += conn.execute(QUERIES["repoint_fallback_location"],
                                     (location_id, target)).fetchone()[0]
            done += 1
    with _borrow(source) as conn:
        left = pending(conn)
    metrics.GEOCODE_FALLBACKS_PENDING.set(left)
    return Regeocoded(done, ends, left, error)


class Regeocoder(Periodic):
    """Every regeocode_interval_s, unless the circuit is open (Pelias still failing),
    replace up to regeocode_batch fallback places with Pelias' answer. Its own thread,
    so a slow Pelias never holds up the readers; pooled connections only for SQL."""

    def __init__(self, pool: ConnectionPool, geocoder: Geocoder, config: WorkerConfig,
                 stats: Stats, stop: threading.Event):
        super().__init__("soar-worker-regeocode", config.regeocode_interval_s, stop)
        self.pool, self.geocoder, self.config, self.stats = pool, geocoder, config, stats

    def round(self) -> None:
        if self.geocoder.pelias.breaker.state == "open":
            return
        try:
            result = regeocode(self.pool, self.geocoder, self.config.regeocode_batch,
                               budget_s=self.config.pelias_deadline_s)
        except psycopg.Error as exc:
            log.warning("re-geocoding failed (%s); trying again in %.0f s", first_line(exc, named=True),
                        self.every_s)
            return
        if result.locations:
            self.stats.on_regeocoded(result.locations)
            log.info("re-geocoded %d fallback place(s) with Pelias (%d flight end(s) "
                     "re-pointed), %d left", result.locations, result.flight_ends, result.left)
