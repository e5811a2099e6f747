"""`soar backfill flights`: rebuild a range's flights from the stored fixes with the
same tracker code as ingest, replace the flights that differ, re-point the fixes.

Rules:
- **Same code, same answer.** The fixes of [since - lookback, until + lookahead) go
  through a FlightTracker built as ingest builds it (airport elevations, SRTM when
  configured), in time order, with the same timeout sweeps by data time. Flights ids
  are uuid5(aircraft, start), so a flight found again has its old id.
- **Only the range's flights change**: those started in [since, until) (for the given
  aircraft). Flights the rebuild finds identical are not touched (their enrichment
  stays); changed ones are deleted and written again by the tracker's own statements
  (store.write_op: the INSERT and UPDATE triggers queue their enrichment, as live);
  flights no longer found are deleted; all of an aircraft's flights in the range are
  written again together, in order (at most one active at a time), and a glider
  whose tow flight is rewritten is rewritten too (the delete cleared its link). All
  of that is one transaction on `flights` only.
- **Fixes are re-pointed in chunks** of `chunk` rows, one short transaction each, and
  only rows whose flight id changes are written: the hypertable is never locked for
  long, and a re-run after an interruption continues (the flights are then already
  identical, so only the remaining fixes are written).
- What is compared: the columns that say what happened (`COMPARED`), not the last
  known position, a progress marker (see `PROGRESS`).
- Fixes the live path left untagged (the fixes of a takeoff's confirmation window
  whose batch was already written when the takeoff was confirmed) are tagged here.
- Fixes carry no callsign: a rewritten flight keeps the callsign of the stored
  flight with its id, and callsign changes (ADS-B) cannot split flights here.
- Memory: every fix of the window is held (~300 bytes each); give a smaller range or
  `--aircraft` for very busy days.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from soar.db import sqlfiles
from soar.records import Fix, Source, split_aircraft_id
from soar.reference import terrain
from soar.tracker import CreateFlight, FlightTracker, TrackerConfig, store

QUERIES = sqlfiles.queries("queries/backfill.sql")
# The flights columns the tracker writes that say what happened, compared to decide
# what changed. Not the callsigns (fixes carry none: a rewritten flight keeps the
# stored callsign and previous callsign) nor the last known position
# (last_fix_at, last_latitude, last_longitude): that is a progress marker, the fix the
# row was last written with (e.g. the one that confirmed the start), which moves by a
# fix or two with the order copies of a second arrived in; the events do not.
PROGRESS = frozenset({"last_fix_at", "last_latitude", "last_longitude"})
CALLSIGNS = frozenset({"callsign", "previous_callsign"})
COMPARED = sorted((store.INSERT_COLUMNS | store.UPDATE_COLUMNS) - CALLSIGNS - PROGRESS)
EXPIRE_EVERY_S = 60.0      # as the pipeline sweeps timeouts (PipelineConfig.expire_every_s)


@dataclass
class Result:
    fixes_read: int = 0
    flights_found: int = 0        # rebuilt flights started in the range
    unchanged: int = 0
    rewritten: int = 0            # deleted and written again (changed, or a new one)
    deleted: int = 0              # stored flights the rebuild no longer finds
    fixes_repointed: int = 0


def _tracker(conn: psycopg.Connection, config: TrackerConfig) -> FlightTracker:
    airports = terrain.AirportElevations.from_db(conn)
    srtm_dir = os.environ.get("SOAR_SRTM_DIR")
    ground = terrain.make_terrain(terrain.SrtmTiles(srtm_dir) if srtm_dir else None,
                                  airports if len(airports) else None)
    return FlightTracker(config, terrain=ground)


def _fix(row) -> tuple[Fix, UUID | None]:
    (aid, t, recv, src, lat, lon, alt, gs, trk, climb, turn, gnd, sig, stored, atype) = row
    address_type, address = split_aircraft_id(aid)
    return Fix(time=t, received_at=recv, source=Source(src), address_type=address_type,
               address=address, latitude=lat, longitude=lon, altitude_m=alt,
               ground_speed_kmh=gs, track_deg=trk, climb_rate_ms=climb, turn_rate_degs=turn,
               receiver=None, signal_db=sig, on_ground=gnd, aircraft_type=atype), stored


def rebuild(conn: psycopg.Connection, since: datetime, until: datetime, *,
            aircraft: list[int] | None = None, config: TrackerConfig | None = None,
            lookback: timedelta = timedelta(hours=1), lookahead: timedelta | None = None,
            dry_run: bool = False, chunk: int = 5000,
            progress: Callable[[str, int], None] | None = None) -> Result:
    cfg = config or TrackerConfig()
    lookahead = lookahead or cfg.resume_window
    result = Result()
    tracker = _tracker(conn, cfg)
    params = {"start": since - lookback, "end": until + lookahead, "aircraft": aircraft}
    fixes: list[tuple[Fix, UUID | None]] = []
    ops: list = []
    last_expire = None
    with conn.transaction(), conn.cursor(name="soar_backfill_fixes") as cur:
        cur.itersize = 10_000
        for row in cur.execute(QUERIES["range_fixes"], params):
            fix, stored = _fix(row)
            fixes.append((fix, stored))
            ops += tracker.process(fix)
            if last_expire is None:
                last_expire = fix.time
            elif (fix.time - last_expire).total_seconds() >= EXPIRE_EVERY_S:
                last_expire = fix.time
                ops += tracker.expire(fix.time)
            if progress and len(fixes) % 10_000 == 0:
                progress("fixes", 10_000)
    result.fixes_read = len(fixes)

    # The rebuilt flights of the range: final rows, and the ops that write each.
    creates = {op.flight_id: op.row for op in ops if isinstance(op, CreateFlight)}
    mine = {fid for fid, row in creates.items() if since <= row["started_at"] < until
            and (aircraft is None or row["aircraft_id"] in aircraft)}
    rows: dict[UUID, dict] = {}
    by_flight: dict[UUID, list] = {}
    for op in ops:
        if op.flight_id not in mine:
            continue
        by_flight.setdefault(op.flight_id, []).append(op)
        if isinstance(op, CreateFlight):
            rows[op.flight_id] = dict(op.row)
        else:
            rows[op.flight_id].update(op.values)
    result.flights_found = len(mine)

    with conn.cursor(row_factory=dict_row) as cur:
        stored = {r["id"]: r for r in cur.execute(QUERIES["range_flights"], {
            "since": since, "until": until, "aircraft": aircraft}).fetchall()}
    conn.rollback()
    changed = {fid for fid in mine if fid not in stored or not same_flight(rows[fid], stored[fid])}
    gone = set(stored) - mine
    # An aircraft's flights are written again together, in the tracker's order: a
    # flight written alone could be active at its INSERT beside a later one that is
    # (one active flight per aircraft).
    touched = {rows[f]["aircraft_id"] for f in changed} | {stored[f]["aircraft_id"] for f in gone}
    changed |= {fid for fid in mine if rows[fid]["aircraft_id"] in touched}
    # A glider whose tow flight is deleted loses its link: write it again too.
    while True:
        linked = {fid for fid in mine - changed
                  if rows[fid].get("towed_by_flight_id") in (changed | gone)}
        if not linked:
            break
        changed |= linked
    result.unchanged = len(mine) - len(changed)
    result.rewritten, result.deleted = len(changed), len(gone)
    if not dry_run and (changed or gone):
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(QUERIES["delete_flights"], (list(changed | gone),))
            for op in ops:
                if op.flight_id in changed:
                    if isinstance(op, CreateFlight) and op.flight_id in stored:
                        for column in CALLSIGNS:
                            op.row[column] = stored[op.flight_id][column]
                    store.write_op(cur, op)

    # Fixes: the rebuilt flight of the range, else none if their stored flight was one
    # of the range's (deleted or moved), else untouched.
    range_ids = mine | set(stored)
    todo = []
    for fix, was in fixes:
        want = fix.flight_id if fix.flight_id in mine else (None if was in range_ids else was)
        if want != was:
            todo.append((fix.aircraft_id, fix.time, want))
    if not dry_run:
        for i in range(0, len(todo), chunk):
            part = todo[i:i + chunk]
            with conn.transaction():
                cur = conn.execute(QUERIES["repoint_fixes"], (
                    [p[0] for p in part], [p[1] for p in part], [p[2] for p in part]))
                result.fixes_repointed += cur.rowcount
            if progress:
                progress("repoint", len(part))
    else:
        result.fixes_repointed = len(todo)
    return result


def _same(a, b) -> bool:
    # Altitudes are `real` in the table: compare at its precision, not float64's.
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    return a == b


def same_flight(rebuilt: dict, stored: dict) -> bool:
    """Would the stored row be the rebuilt one (the columns the tracker writes)?"""
    return all(_same(rebuilt.get(c), stored.get(c)) for c in COMPARED)
