"""Locations: a cache of reverse-geocoding results in the `locations` table, one row
per ~100 m cell (coordinates rounded to 1/1000 degree: lat_e3, lon_e3) and source
('pelias' or 'places').

A cell already in the table costs one indexed SELECT and no HTTP call, so repeated
takeoffs from one airfield (geocoded at the airport's reference point) call Pelias
once. With no Pelias URL, the offline default looks up the nearest GeoNames place
in PostgreSQL (nearest_place(), a KNN probe of the places GiST index): no network.

With a Pelias URL, only a Pelias row is a cache hit. When Pelias fails (after its
client's retries, or at once while its circuit is open), the place comes from the
offline geocoder instead, stored as a 'places' row and marked as a fallback: the
flight is enriched now, never held back or dead-lettered for geocoding alone, and the
cell is asked again later (worker.regeocode), because a fallback never passes for
Pelias' answer. The cache row is committed on its own, so a later failure of the
flight update does not cost another geocoding call on the retry.

No connection is held during a Pelias call: `lookup` (cache or offline place, SQL
only) and `settle` (store the answer or the fallback, SQL only) run on a database
connection; `ask` (the HTTP call) runs on none, so many calls can be in flight over
a few connections. Concurrent asks for one cell in a process share one call (the
others wait for its answer: a burst of flights from one airfield calls Pelias once),
and the latest answers are remembered (ANSWERS_KEPT cells), so a message that missed
the table just before another stored the cell does not call again either.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import NamedTuple

import psycopg

from soar.db import sqlfiles
from soar.errors import first_line
from worker import metrics
from worker.config import WorkerConfig
from worker.pelias import PeliasClient, PeliasError, Place

log = logging.getLogger(__name__)

QUERIES = sqlfiles.queries("queries/worker.sql")
FALLBACK_LOG_EVERY_S = 60.0
ANSWERS_KEPT = 10_000                # Pelias answers remembered in memory (cells)


class Located(NamedTuple):
    id: int              # locations.id
    source: str          # 'pelias' or 'places'
    fallback: bool       # a places row standing in for a failed Pelias call


class Answer(NamedTuple):
    """Pelias' answer for a cell: a place, or the error that makes it a fallback."""
    place: Place | None
    error: PeliasError | None
    how: str             # 'pelias' (this ask called), 'shared' (another's call), 'cache'


def cell(lat: float, lon: float) -> tuple[int, int]:
    """The cache key: coordinates in thousandths of a degree, rounded half up."""
    return math.floor(lat * 1000 + 0.5), math.floor(lon * 1000 + 0.5)


class Pace:
    """At most `rate` passes a second (0: no limit): each caller takes the next free
    moment, at most a second's worth of them ahead of now (a burst that short passes
    at once), and waits for it outside the lock."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        self.interval_s = 1.0 / rate if rate > 0 else 0.0
        self.credit_s = 1.0
        self._clock = clock
        self._lock = threading.Lock()
        self._next = -math.inf

    def delay(self) -> float:
        """Takes a moment; seconds to wait for it."""
        if not self.interval_s:
            return 0.0
        with self._lock:
            now = self._clock()
            moment = max(self._next, now - self.credit_s)
            self._next = moment + self.interval_s
        return max(0.0, moment - now)

    def wait(self, stop: threading.Event) -> None:
        """Waits for a moment, or until `stop` (then the caller goes on at once)."""
        delay = self.delay()
        if delay > 0:
            stop.wait(delay)


class Geocoder:
    def __init__(self, pelias: PeliasClient | None = None,
                 places_max_distance_m: float = WorkerConfig.places_max_distance_m,
                 clock: Callable[[], float] | None = None, fallback_max_per_s: float = 0.0):
        self.pelias = pelias
        self.places_max_distance_m = places_max_distance_m
        # Offline settles while Pelias fails, paced (WorkerConfig.fallback_max_per_s).
        self.fallback_pace = Pace(fallback_max_per_s)
        self._lock = threading.Lock()
        self.fallbacks = 0                  # lookups answered by the fallback (this process)
        self._logged_at: float | None = None
        self._clock = clock or time.monotonic
        self._inflight: dict[tuple[int, int], Future] = {}      # cell -> the call asking it
        self._answers: OrderedDict[tuple[int, int], Place] = OrderedDict()

    @property
    def source(self) -> str:
        return "pelias" if self.pelias else "places"

    def cached(self, conn: psycopg.Connection, lat: float, lon: float, source: str) -> int | None:
        """The cell's row from `source`."""
        row = conn.execute(QUERIES["cached_location"], (*cell(lat, lon), source)).fetchone()
        return row[0] if row else None

    def _offline(self, conn: psycopg.Connection, lat: float, lon: float) -> Place:
        row = conn.execute(QUERIES["nearest_place"], (lat, lon, self.places_max_distance_m)).fetchone()
        if not row:
            return Place(None, None, None, None)
        name, admin1, cc = row
        label = ", ".join(p for p in (name, admin1, cc) if p)
        return Place(name, admin1, cc.strip() if cc else None, label or None)

    def _store(self, conn: psycopg.Connection, lat: float, lon: float, place: Place,
               source: str) -> int:
        lat_e3, lon_e3 = cell(lat, lon)
        row = conn.execute(
            QUERIES["insert_location"],
            (lat_e3, lon_e3, lat, lon, place.city, place.region, place.country_code, place.label,
             source)).fetchone()
        if row:
            return row[0]
        # Another worker stored this cell meanwhile: use its row.
        return self.cached(conn, lat, lon, source)

    def pelias_location(self, conn: psycopg.Connection, lat: float, lon: float) -> int:
        """The cell's Pelias row, calling Pelias on a miss. PeliasError propagates."""
        hit = self.cached(conn, lat, lon, "pelias")
        if hit is not None:
            metrics.GEOCODE_LOOKUPS.labels("cache").inc()
            return hit
        answer = self.ask(lat, lon)
        if answer.error is not None:
            raise answer.error
        metrics.GEOCODE_LOOKUPS.labels(answer.how).inc()
        return self._store(conn, lat, lon, answer.place, "pelias")

    def places_location(self, conn: psycopg.Connection, lat: float, lon: float) -> int:
        """The cell's offline row, looking the nearest place up on a miss."""
        hit = self.cached(conn, lat, lon, "places")
        if hit is not None:
            return hit
        return self._store(conn, lat, lon, self._offline(conn, lat, lon), "places")

    def lookup(self, conn: psycopg.Connection, lat: float, lon: float) -> Located | None:
        """The location row for this point's cell without calling Pelias (SQL only):
        offline, the cell's row or the nearest place; with Pelias, its cached row (or
        an answer remembered in memory, stored now). None: Pelias must be asked."""
        if self.pelias is None:
            # Offline: any row of the cell, a Pelias one (from an earlier setup) first.
            hit = conn.execute(QUERIES["cached_location_any"], cell(lat, lon)).fetchone()
            if hit is not None:
                metrics.GEOCODE_LOOKUPS.labels("cache").inc()
                return Located(hit[0], hit[1], False)
            metrics.GEOCODE_LOOKUPS.labels("places").inc()
            return Located(self.places_location(conn, lat, lon), "places", False)
        hit = self.cached(conn, lat, lon, "pelias")
        if hit is None:
            with self._lock:
                place = self._answers.get(cell(lat, lon))
            if place is None:
                return None
            hit = self._store(conn, lat, lon, place, "pelias")
        metrics.GEOCODE_LOOKUPS.labels("cache").inc()
        return Located(hit, "pelias", False)

    def ask(self, lat: float, lon: float) -> Answer:
        """Pelias' answer for this point's cell, or the error (no database: call it
        holding no connection). Concurrent asks for one cell share one call."""
        key = cell(lat, lon)
        with self._lock:
            place = self._answers.get(key)
            if place is not None:
                self._answers.move_to_end(key)
                return Answer(place, None, "cache")
            call = self._inflight.get(key)
            leader = call is None
            if leader:
                call = self._inflight[key] = Future()
        if not leader:
            try:
                return Answer(call.result(), None, "shared")
            except PeliasError as exc:
                return Answer(None, exc, "shared")
        place = None
        try:
            place = self.pelias.reverse(lat, lon)
        except BaseException as exc:
            # Those waiting get the same outcome; an unexpected error fails their
            # messages too (retried), as it fails this one.
            call.set_exception(exc)
            if not isinstance(exc, PeliasError):
                raise
            return Answer(None, exc, "pelias")
        else:
            call.set_result(place)
            return Answer(place, None, "pelias")
        finally:
            with self._lock:
                if place is not None:
                    self._answers[key] = place
                    if len(self._answers) > ANSWERS_KEPT:
                        self._answers.popitem(last=False)
                del self._inflight[key]

    def settle(self, conn: psycopg.Connection, lat: float, lon: float, answer: Answer) -> Located:
        """The location row for Pelias' answer (stored), or, when it failed, the
        offline place standing in for it (a fallback). SQL only."""
        if answer.error is None:
            metrics.GEOCODE_LOOKUPS.labels(answer.how).inc()
            return Located(self._store(conn, lat, lon, answer.place, "pelias"), "pelias", False)
        self._note_fallback(answer.error)
        metrics.GEOCODE_LOOKUPS.labels("fallback").inc()
        return Located(self.places_location(conn, lat, lon), "places", True)

    def locate(self, conn: psycopg.Connection, lat: float, lon: float,
               before_call: Callable[[], None] | None = None) -> Located:
        """The location row for this point's cell, geocoding on a miss, all on `conn`
        (autocommit), which stays held during a Pelias call: the worker's loop uses
        lookup/ask/settle instead. `before_call` runs before a Pelias call (it may
        raise to give up)."""
        hit = self.lookup(conn, lat, lon)
        if hit is not None:
            return hit
        if before_call is not None and self.pelias.breaker.state != "open":
            before_call()
        return self.settle(conn, lat, lon, self.ask(lat, lon))

    def _note_fallback(self, exc: PeliasError) -> None:
        now = self._clock()
        with self._lock:
            self.fallbacks += 1
            quiet = self._logged_at is not None and now - self._logged_at < FALLBACK_LOG_EVERY_S
            if not quiet:
                self._logged_at = now
            count = self.fallbacks
        if not quiet:
            # Once a minute during an outage, not once per flight.
            log.warning("%s: offline places used instead (%d fallback(s) so far); they are "
                        "re-geocoded with Pelias when it answers again", first_line(exc), count)


def make_geocoder(config: WorkerConfig) -> Geocoder:
    """Pelias (config.pelias_url) with the offline fallback, or offline only."""
    pelias = PeliasClient.from_config(config) if config.pelias_url else None
    return Geocoder(pelias, config.places_max_distance_m,
                    fallback_max_per_s=config.fallback_max_per_s)
