"""Flight writes (one parameterised statement per op) and the restart reload.

The writer calls `write_op(cur, op)` for each op inside its batch transaction,
after upserting the batch's aircraft (flights reference aircraft) and before the
fixes. Nothing here reads on the hot path: only a write that changed no row (its
row count says 0) is looked into, by `resolve_skipped`, which says why and repairs
the one case that would lose a flight (a stale active flight blocking a new one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

import psycopg
from psycopg import sql

from soar.db import sqlfiles
from soar.records import Fix, Source, split_aircraft_id
from soar.tracker.ops import TOW, CreateFlight, UpdateFlight
from soar.tracker.rules import TrackerConfig
from soar.tracker.state import ActiveFlight

# Columns the tracker may write; anything else is a programming error.
INSERT_COLUMNS = frozenset({
    "id", "aircraft_id", "source", "callsign", "started_at", "takeoff_time",
    "takeoff_latitude", "takeoff_longitude", "takeoff_altitude_m",
    "last_fix_at", "last_latitude", "last_longitude", "towed_by_flight_id",
    "towed_by_aircraft_id", "previous_callsign", "launch_method"})
UPDATE_COLUMNS = frozenset({
    "callsign", "landing_time", "landing_latitude", "landing_longitude", "landing_altitude_m",
    "last_fix_at", "last_latitude", "last_longitude", "timed_out_at", "spurious_reason",
    "end_reason", "tow_release_time", "tow_release_altitude_m", "previous_callsign",
    "launch_method"})

CREATE_LATENCY = "flight_tracker.create_flight.latency_ms"
COMPLETE_LATENCY = "flight_tracker.complete_flight.latency_ms"

QUERIES = sqlfiles.queries("queries/tracker.sql")

# Statements by column set, composed once as text: psycopg would otherwise compose
# (quote every identifier of) a sql.Composed again at each execution, in Python, in
# the writer thread, on the hot path.
_cache: dict[tuple, str] = {}


def _insert(columns: tuple[str, ...]) -> str:
    # No conflict target: besides the id (a replay), the one-active-flight-per-aircraft
    # index may conflict if another process left a flight active; skipping the row
    # keeps the batch (and its fixes) instead of failing it. rowcount tells.
    return sql.SQL("INSERT INTO flights ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns))).as_string()


def _insert_tagging(columns: tuple[str, ...]) -> str:
    # The create, and the window's fixes that an earlier batch already stored untagged
    # (their ids reach only the fixes still unwritten when the flight is confirmed):
    # one statement, so every fix of the window carries the id whichever batch it was
    # in, and a replay cut into other batches stores the same rows. The SELECT's rows
    # are the create's (1 stored, 0 skipped), as the plain insert's rowcount.
    return sql.SQL(
        "WITH created AS ({} RETURNING id, aircraft_id), "
        "tagged AS (UPDATE fixes SET flight_id = c.id FROM created c "
        "WHERE fixes.aircraft_id = c.aircraft_id AND fixes.time = ANY(%s::timestamptz[]) "
        "AND fixes.flight_id IS NULL) "
        "SELECT 1 FROM created").format(sql.SQL(_insert(columns))).as_string()


def _update(columns: tuple[str, ...]) -> str:
    return sql.SQL("UPDATE flights SET {}, updated_at = now() WHERE id = %s").format(
        sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns)
    ).as_string()


# A fixed statement (why it joins: see the .sql file).
_TOW = QUERIES["tow"]


def statement(op) -> tuple[str, tuple]:
    """The one statement and its parameters for an op."""
    if isinstance(op, CreateFlight):
        cols = tuple(c for c in op.row)
        if not INSERT_COLUMNS.issuperset(cols):
            raise ValueError(f"unknown flights columns: {set(cols) - INSERT_COLUMNS}")
        values = tuple(op.row[c] for c in cols)
        if op.window:
            key = ("w",) + cols
            if key not in _cache:
                _cache[key] = _insert_tagging(cols)
            return _cache[key], values + ([f.time for f in op.window],)
        key = ("i",) + cols
        if key not in _cache:
            _cache[key] = _insert(cols)
        return _cache[key], values
    if isinstance(op, UpdateFlight):
        if op.kind == TOW:
            return _TOW, (op.flight_id, op.values["towed_by_flight_id"])
        cols = tuple(op.values)
        if not UPDATE_COLUMNS.issuperset(cols):
            raise ValueError(f"unknown flights columns: {set(cols) - UPDATE_COLUMNS}")
        key = ("u",) + cols
        if key not in _cache:
            _cache[key] = _update(cols)
        return _cache[key], tuple(op.values[c] for c in cols) + (op.flight_id,)
    raise TypeError(f"not a flight op: {op!r}")


def write_op(cur: psycopg.Cursor, op) -> int:
    """Execute one op as one statement; returns the rows it touched (0: skipped)."""
    query, params = statement(op)
    cur.execute(query, params, prepare=False)
    return cur.rowcount


# Why a flight write changed no row (`resolve_skipped`).
REPLAY = "replay"             # a create whose flight id is already stored: the same data again
MISSING = "missing"           # an update of a flight that is not stored
TOW_MISSING = "tow_missing"   # a tow link whose tow flight is not stored
CONFLICT = "conflict"         # a create still refused after closing the stale flight (a race)
SUPERSEDED = "superseded"     # not skipped after all: the stale flight was closed, this stored


class Skipped(NamedTuple):
    reason: str
    closed: UUID | None = None    # SUPERSEDED: the stale active flight that was closed


def resolve_skipped(cur: psycopg.Cursor, op) -> Skipped:
    """Why `op` touched no row (write_op returned 0), repairing what can be repaired.

    A create refused by `flights_one_active_per_aircraft` means the aircraft's previous
    flight is still active in the database although the tracker ended it (its end was
    in a batch that never committed): that flight is closed as 'superseded' and this
    one inserted (two statements, in the caller's transaction or savepoint), else the
    new flight would vanish. A create whose id exists is a replay of stored data."""
    if isinstance(op, CreateFlight):
        if cur.execute(QUERIES["flight_exists"], (op.flight_id,), prepare=False).fetchone()[0]:
            return Skipped(REPLAY)
        cur.execute(QUERIES["supersede_active"], {
            "aircraft_id": op.row["aircraft_id"], "started_at": op.row["started_at"]},
            prepare=False)
        closed = cur.fetchone()
        if closed is not None and write_op(cur, op) == 1:
            return Skipped(SUPERSEDED, closed[0])
        return Skipped(CONFLICT)
    if op.kind == TOW and cur.execute(QUERIES["flight_exists"], (op.flight_id,),
                                      prepare=False).fetchone()[0]:
        return Skipped(TOW_MISSING)
    return Skipped(MISSING)


def latency_metric(op) -> str | None:
    """Which latency histogram an op's execution time belongs to."""
    if isinstance(op, CreateFlight):
        return CREATE_LATENCY
    if "landing_time" in op.values or op.values.get("timed_out_at") is not None:
        return COMPLETE_LATENCY
    return None


# -- restart -------------------------------------------------------------------

@dataclass
class Restored:
    flights: list[ActiveFlight] = field(default_factory=list)
    fixes: dict[int, list[Fix]] = field(default_factory=dict)   # aircraft id -> oldest first
    closed: list[UUID] = field(default_factory=list)            # stale, closed at start-up
    reference: datetime | None = None                           # the "now" used


def _flight(row) -> ActiveFlight:
    return ActiveFlight(*row[:6], aircraft_type=row[6], last_fix_at=row[7],
                        last_latitude=row[8], last_longitude=row[9], timed_out_at=row[10],
                        launch_method=row[11], takeoff_altitude_m=row[12])


def _fixes(conn, flights: list[ActiveFlight], per_flight: int) -> dict[int, list[Fix]]:
    if not flights:
        return {}
    rows = conn.execute(QUERIES["last_fixes"], (
        [f.id for f in flights], [f.aircraft_id for f in flights],
        [f.started_at for f in flights], per_flight)).fetchall()
    types = {f.aircraft_id: f.aircraft_type for f in flights}
    out: dict[int, list[Fix]] = {}
    for (aid, t, recv, src, lat, lon, alt, gs, trk, climb, turn, gnd, sig, fid) in rows:
        address_type, address = split_aircraft_id(aid)
        out.setdefault(aid, []).append(Fix(
            time=t, received_at=recv, source=Source(src), address_type=address_type,
            address=address, latitude=lat, longitude=lon, altitude_m=alt,
            ground_speed_kmh=gs, track_deg=trk, climb_rate_ms=climb, turn_rate_degs=turn,
            receiver=None, signal_db=sig, on_ground=gnd, aircraft_type=types[aid], flight_id=fid))
    for fixes in out.values():
        fixes.sort(key=lambda f: f.time)
    return out


def load_active(conn: psycopg.Connection, config: TrackerConfig | None = None, *,
                fixes_per_flight: int = 20, now: datetime | None = None,
                stale_after: timedelta | None = None) -> Restored:
    """Active flights and their last fixes for FlightTracker.restore(), plus flights
    timed out recently enough to resume. Active flights whose last fix is older than
    `stale_after` (default: the resume window) before `now` are closed here, one
    UPDATE for all, with timed_out_at = last fix + timeout.

    `now` defaults to DATA time: the newest fix of the active flights or the newest
    flight start, so a replay restarted days later is judged by its own clock. A live
    ingest may pass the wall clock.
    """
    cfg = config or TrackerConfig()
    stale_after = stale_after or cfg.resume_window
    active = [_flight(r) for r in conn.execute(QUERIES["active_flights"]).fetchall()]
    fixes = _fixes(conn, active, fixes_per_flight)
    if now is None:
        newest = conn.execute(QUERIES["newest_start"]).fetchone()[0]
        candidates = [newest] + [fx[-1].time for fx in fixes.values()]
        candidates = [c for c in candidates if c is not None]
        now = max(candidates) if candidates else None
    result = Restored(reference=now)
    stale = []
    for f in active:
        fx = fixes.get(f.aircraft_id)
        last = fx[-1].time if fx else (f.last_fix_at or f.started_at)
        if now is not None and now - last > stale_after:
            stale.append((f, last, fx[-1] if fx else None))
        else:
            result.flights.append(f)
    if stale:
        conn.execute(QUERIES["close_stale"], (
            cfg.timeout, [f.id for f, _, _ in stale], [t for _, t, _ in stale],
            [x.latitude if x else None for _, _, x in stale],
            [x.longitude if x else None for _, _, x in stale]))
        result.closed = [f.id for f, _, _ in stale]
        for f, _, _ in stale:
            fixes.pop(f.aircraft_id, None)
    if now is not None:
        busy = {f.aircraft_id for f in result.flights}
        resumable = [f for f in (_flight(r) for r in conn.execute(QUERIES["resumable_flights"], {
            "since": now - cfg.resume_window, "oldest": now - timedelta(days=2)}).fetchall())
            if f.aircraft_id not in busy]
        fixes.update(_fixes(conn, resumable, fixes_per_flight))
        result.flights += resumable
    result.fixes = fixes
    return result
