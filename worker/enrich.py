"""One queue message -> the enrichment of one end of one flight.

takeoff         departure airport + runway (detect_runway) + start location
landing         arrival airport + runway + end location
airborne_start  start location only (first position of the flight)
timeout         end location only (the flight's last position)

`prepare` reads (no flight write, no HTTP: the location only if the cache or the
offline geocoder has it); when it has none, the loop asks Pelias holding no
connection and `settle` stores the answer; `write` is the one UPDATE (through
update_flight_takeoff_enrichment / update_flight_landing_enrichment), run by the
loop inside the transaction that archives the message. Geocoding does not fail a
message while Pelias fails: the place then comes from the offline geocoder, and
`write` lists it for re-geocoding in the same transaction (worker.regeocode).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from soar.db import sqlfiles
from worker.config import WorkerConfig
from worker.geocode import Answer, Geocoder
from worker.messages import Message
from worker.metrics import AIRBORNE_START, DEPARTURE_EVENTS, EVENTS, LANDING, TAKEOFF, TIMEOUT

QUERIES = sqlfiles.queries("queries/worker.sql")


class PermanentError(Exception):
    """Retrying cannot help (malformed message, flight gone, no position at all):
    the message goes to the dead-letter queue at once."""


@dataclass
class Enrichment:
    flight_id: uuid.UUID
    event: str
    airport_id: int | None = None
    airport_ident: str | None = None
    runway: str | None = None
    runway_inferred: bool | None = None
    location_id: int | None = None
    location_fallback: bool = False         # an offline place standing in for Pelias
    track_deg: float | None = None
    method: str | None = None
    point: tuple[float, float] | None = None

    @property
    def needs_pelias(self) -> bool:
        """Its place is neither cached nor offline: Pelias must be asked (then settle)."""
        return self.point is not None and self.location_id is None


@dataclass
class Deferred:
    reason: str


@dataclass
class _Flight:
    aircraft_id: int
    started_at: object
    takeoff_time: object
    takeoff_lat: float | None
    takeoff_lon: float | None
    landing_time: object
    landing_lat: float | None
    landing_lon: float | None
    last_fix_at: object
    last_lat: float | None
    last_lon: float | None
    timed_out_at: object


def parse(msg: Message) -> tuple[uuid.UUID, str]:
    body = msg.body
    try:
        flight_id = uuid.UUID(str(body["flight_id"]))
    except (KeyError, TypeError, ValueError):
        raise PermanentError(f"malformed message: no valid flight_id in {str(body)[:200]}") from None
    event = body.get("event")
    if event not in EVENTS:
        raise PermanentError(f"malformed message: unknown event {str(event)[:50]!r}")
    return flight_id, event


class Enricher:
    def __init__(self, conn: psycopg.Connection | None, geocoder: Geocoder, config: WorkerConfig):
        self.conn = conn            # the loop sets the connection of each step
        self.geocoder = geocoder
        self.config = config
        self.partial: Enrichment | None = None   # what was found before a failure

    # -- reads -------------------------------------------------------------------------

    def _flight(self, flight_id: uuid.UUID) -> _Flight:
        row = self.conn.execute(QUERIES["flight"], (flight_id,)).fetchone()
        if row is None:
            raise PermanentError(f"flight {flight_id} not found (deleted?)")
        return _Flight(*row)

    def _age_s(self, msg: Message) -> float:
        return float(self.conn.execute(QUERIES["age_s"], (msg.enqueued_at,)).fetchone()[0])

    def _fixes_stored_after(self, aircraft_id: int, horizon) -> bool:
        return self.conn.execute(QUERIES["fixes_stored_after"],
                                 (aircraft_id, horizon, horizon)).fetchone()[0]

    def _ready(self, msg: Message, f: _Flight, event_time) -> Deferred | None:
        """The runway needs the fixes up to window_s after the event. They are there
        when a fix at or after event + window is stored, or, for an ended flight, its
        last fix is stored. Otherwise wait (the ingest writer flushes in batches),
        unless the message has waited max_wait_s already: then decide on what is there."""
        horizon = event_time + timedelta(seconds=self.config.window_s)
        ended = f.landing_time is not None or f.timed_out_at is not None
        if ended and f.last_fix_at is not None:
            horizon = min(horizon, f.last_fix_at)
        if self._fixes_stored_after(f.aircraft_id, horizon):
            return None
        if self._age_s(msg) >= self.config.max_wait_s:
            return None
        return Deferred(f"fixes up to {horizon.isoformat()} not stored yet")

    def _fix_near(self, aircraft_id: int, t) -> tuple[float, float] | None:
        w = timedelta(seconds=self.config.window_s)
        row = self.conn.execute(QUERIES["fix_near"], (aircraft_id, t - w, t + w, t)).fetchone()
        return (row[0], row[1]) if row else None

    def _first_fix(self, f: _Flight) -> tuple[float, float] | None:
        row = self.conn.execute(QUERIES["first_fix"],
                                (f.aircraft_id, f.started_at, f.started_at)).fetchone()
        return (row[0], row[1]) if row else None

    def _last_fix(self, f: _Flight) -> tuple[float, float] | None:
        until = f.last_fix_at or f.timed_out_at
        row = self.conn.execute(QUERIES["last_fix"],
                                (f.aircraft_id, f.started_at, until)).fetchone()
        return (row[0], row[1]) if row else None

    def _airport_point(self, airport_id: int) -> tuple[float, float]:
        return self.conn.execute(QUERIES["airport_point"], (airport_id,)).fetchone()

    # -- the work ----------------------------------------------------------------------

    def prepare(self, msg: Message, flight_id: uuid.UUID, event: str) -> Enrichment | Deferred:
        """Everything but the flight write and a Pelias call (`needs_pelias`)."""
        self.partial = None
        f = self._flight(flight_id)
        if event == TAKEOFF and f.takeoff_time is None:
            event = AIRBORNE_START
        if event == LANDING and f.landing_time is None:
            if f.timed_out_at is None:
                raise PermanentError(f"landing message for flight {flight_id}, "
                                     "which has no landing_time")
            event = TIMEOUT
        result = Enrichment(flight_id, event)

        if event in (TAKEOFF, LANDING):
            event_time = f.takeoff_time if event == TAKEOFF else f.landing_time
            deferred = self._ready(msg, f, event_time)
            if deferred:
                return deferred
            det = self.conn.execute(QUERIES["detect_runway"],
                                    (flight_id, event, self.config.window_s)).fetchone()
            (result.airport_id, result.airport_ident, result.runway, result.runway_inferred,
             result.track_deg, result.method) = det
            if result.airport_id is not None:
                point = self._airport_point(result.airport_id)
            elif event == TAKEOFF:
                point = (f.takeoff_lat, f.takeoff_lon) if f.takeoff_lat is not None \
                    else self._fix_near(f.aircraft_id, event_time)
            else:
                point = (f.landing_lat, f.landing_lon) if f.landing_lat is not None \
                    else self._fix_near(f.aircraft_id, event_time) \
                    or ((f.last_lat, f.last_lon) if f.last_lat is not None else None)
            if point is None:
                raise PermanentError(f"no position for the {event} of flight {flight_id}")
        elif event == AIRBORNE_START:
            point = (f.takeoff_lat, f.takeoff_lon) if f.takeoff_lat is not None \
                else self._first_fix(f)
            if point is None:
                if self._age_s(msg) < self.config.max_wait_s:
                    return Deferred("first fix of the flight not stored yet")
                raise PermanentError(f"no position for the start of flight {flight_id}")
        else:   # timeout
            point = (f.last_lat, f.last_lon) if f.last_lat is not None else self._last_fix(f)
            if point is None:
                raise PermanentError(f"no last position for timed-out flight {flight_id}")

        result.point = (float(point[0]), float(point[1]))
        self.partial = result
        located = self.geocoder.lookup(self.conn, *result.point)
        if located is not None:
            result.location_id, result.location_fallback = located.id, located.fallback
        return result

    def settle(self, result: Enrichment, answer: Answer) -> None:
        """The location from Pelias' answer (or the fallback when it failed)."""
        located = self.geocoder.settle(self.conn, *result.point, answer)
        result.location_id, result.location_fallback = located.id, located.fallback

    def write(self, result: Enrichment, status: str = "done", error: str | None = None) -> None:
        """The flight's UPDATE (inside the caller's transaction). A fallback place is
        listed for re-geocoding first, in the same transaction (see note_fallback)."""
        if result.location_fallback and result.location_id is not None:
            self.conn.execute(QUERIES["note_fallback"], (result.location_id,))
        query = ("update_takeoff_enrichment" if result.event in DEPARTURE_EVENTS
                 else "update_landing_enrichment")
        found = self.conn.execute(
            QUERIES[query],
            (result.flight_id, status, result.airport_id, result.runway, result.runway_inferred,
             result.location_id, error)).fetchone()[0]
        if not found and status == "done":
            raise PermanentError(f"flight {result.flight_id} not found (deleted?)")
