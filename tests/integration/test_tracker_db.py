"""Flight writes and restart on a real PostgreSQL (fixtures from conftest.py), and
the terrain sources (SRTM tiles generated here, airports from the table)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from helpers.recordings import afr34zg_fixes, winch_fixes
from helpers.simulator import aerotow, after_hole, airliner, copy_fix, merge
from helpers.srtm import write_tile
from soar.records import split_aircraft_id
from soar.reference.terrain import AirportElevations, SrtmTiles, make_terrain
from soar.tracker import FlightTracker, TrackerConfig
from soar.tracker import ops as flight_ops
from soar.tracker.store import load_active, write_op

FIX_COLUMNS = ("time", "received_at", "aircraft_id", "source", "latitude", "longitude",
               "altitude_m", "ground_speed_kmh", "track_deg", "climb_rate_ms", "turn_rate_degs",
               "on_ground", "signal_db", "flight_id")


class CountingCursor:
    """A real cursor that counts the statements sent through it."""

    def __init__(self, cur):
        self.cur, self.statements = cur, 0

    def execute(self, *args, **kw):
        self.statements += 1
        return self.cur.execute(*args, **kw)

    def __getattr__(self, name):
        return getattr(self.cur, name)


def add_aircraft(conn, fixes) -> None:
    """What the lead's writer does first in each batch (flights reference aircraft)."""
    for aid, typ in {f.aircraft_id: f.aircraft_type for f in fixes}.items():
        conn.execute("INSERT INTO aircraft (id, address, address_type, aircraft_type) "
                     "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                     (aid, *reversed(split_aircraft_id(aid)), typ))


def write(conn, ops, fixes=()) -> int:
    """One transaction: the ops, one statement each, then the fixes by COPY."""
    with conn.transaction(), conn.cursor() as raw:
        cur = CountingCursor(raw)
        for op in ops:
            write_op(cur, op)
        assert cur.statements == len(ops)
        if fixes:
            with raw.copy(f"COPY fixes ({', '.join(FIX_COLUMNS)}) FROM STDIN") as cp:
                for f in fixes:
                    cp.write_row((f.time, f.received_at, f.aircraft_id, int(f.source),
                                  f.latitude, f.longitude, f.altitude_m, f.ground_speed_kmh,
                                  f.track_deg, f.climb_rate_ms, f.turn_rate_degs,
                                  f.on_ground, f.signal_db, f.flight_id))
    return cur.statements


def track(fixes, tracker=None):
    tracker = tracker or FlightTracker()
    ops = []
    for f in fixes:
        ops += tracker.process(f)
    return ops, tracker


def messages(conn) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT message FROM pgmq.q_flight_enrichment ORDER BY msg_id").fetchall()
    return [(r[0]["event"], r[0]["flight_id"]) for r in rows]


def flights(conn):
    return conn.execute("SELECT id, takeoff_time, landing_time, timed_out_at, spurious_reason, "
                        "towed_by_flight_id, tow_release_time FROM flights ORDER BY started_at"
                        ).fetchall()


# -- writes ------------------------------------------------------------------------

def test_ops_are_single_statements_and_enqueue_once_per_create_and_end(database, data_dir):
    fixes = winch_fixes(data_dir)
    with database.connect() as admin:
        add_aircraft(admin, fixes)
        admin.commit()
    ops, _ = track(fixes)
    assert [op.kind for op in ops] == [flight_ops.START_TAKEOFF, flight_ops.LAUNCH,
                                       flight_ops.END_LANDING] * 2
    with database.connect("ingest") as conn:       # the least-privilege ingest role
        assert write(conn, ops, fixes) == 6
        rows = flights(conn)
        assert [(r[1], r[2]) for r in rows] == [
            (ops[0].row["takeoff_time"], ops[2].values["landing_time"]),
            (ops[3].row["takeoff_time"], ops[5].values["landing_time"])]
        # The launch method's UPDATE is written by the ingest role and enqueues nothing.
        assert conn.execute("SELECT launch_method FROM flights ORDER BY started_at"
                            ).fetchall() == [("winch",), ("winch",)]
    with database.connect() as admin:
        first, second = str(ops[0].flight_id), str(ops[3].flight_id)
        assert messages(admin) == [("takeoff", first), ("landing", first),
                                   ("takeoff", second), ("landing", second)]
        tagged = admin.execute("SELECT flight_id, count(*) FROM fixes GROUP BY 1").fetchall()
        assert dict(tagged)[ops[0].flight_id] > 20 and dict(tagged)[None] > 10


def test_replaying_the_same_fixes_twice_gives_no_duplicate_flights(conn, data_dir):
    fixes = winch_fixes(data_dir)
    add_aircraft(conn, fixes)
    for _ in range(2):
        ops, _ = track([copy_fix(f) for f in fixes])
        write(conn, ops)
    assert len(flights(conn)) == 2
    assert [e for e, _ in messages(conn)] == ["takeoff", "landing", "takeoff", "landing"]


def test_aerotow_is_written_with_its_foreign_keys(conn):
    tow, glider, peak = aerotow()
    fixes = merge(tow, glider)
    add_aircraft(conn, fixes)
    ops, _ = track(fixes)
    assert [op.kind for op in ops].count(flight_ops.TOW) == 1
    write(conn, ops)
    g = conn.execute("SELECT towed_by_flight_id, towed_by_aircraft_id, tow_release_time, "
                     "tow_release_altitude_m FROM flights WHERE aircraft_id = %s",
                     (glider.fixes[0].aircraft_id,)).fetchone()
    t = conn.execute("SELECT id FROM flights WHERE aircraft_id = %s",
                     (tow.fixes[0].aircraft_id,)).fetchone()
    assert g[0] == t[0] and g[1] == tow.fixes[0].aircraft_id
    assert abs((g[2] - peak).total_seconds()) <= 3 and g[3] > 1200
    methods = dict(conn.execute("SELECT aircraft_id, launch_method FROM flights").fetchall())
    assert methods == {glider.fixes[0].aircraft_id: "aerotow", tow.fixes[0].aircraft_id: "self"}


def test_spurious_flight_is_marked_not_deleted(conn):
    a = airliner(callsign="AFR1")
    a.alt = 100
    a.straight(60, 0.5, 30, track=90, on_ground=True)
    a.straight(2, 0.5, 30, track=90, on_ground=False)
    a.straight(60, 0.5, 30, track=90, on_ground=True)
    add_aircraft(conn, a.fixes)
    ops, _ = track(a.fixes)
    write(conn, ops, a.fixes)
    assert [r[4] for r in flights(conn)] == ["too_short"]


# -- restart -----------------------------------------------------------------------

def test_restart_neither_duplicates_nor_loses_a_flight(conn):
    fixes = afr34zg_fixes()
    add_aircraft(conn, fixes)
    half = len(fixes) // 2                               # in cruise
    ops, _ = track(fixes[:half])
    write(conn, ops, fixes[:half])
    restored = load_active(conn, TrackerConfig())
    assert [f.id for f in restored.flights] == [ops[0].flight_id] and restored.closed == []
    assert len(restored.fixes[fixes[0].aircraft_id]) == 20
    tracker = FlightTracker()
    assert tracker.restore(restored.flights, restored.fixes) == []
    rest, _ = track(fixes[half:], tracker)
    assert [op.kind for op in rest] == [flight_ops.END_LANDING]
    write(conn, rest, fixes[half:])
    rows = flights(conn)
    assert len(rows) == 1 and rows[0][1] is not None and rows[0][2] is not None
    assert [e for e, _ in messages(conn)] == ["takeoff", "landing"]
    ids = conn.execute("SELECT DISTINCT flight_id FROM fixes WHERE flight_id IS NOT NULL").fetchall()
    assert ids == [(ops[0].flight_id,)]


def test_restart_in_the_middle_of_a_landing_run_finishes_it(conn, data_dir):
    fixes = [f for f in winch_fixes(data_dir) if f.address == 0xDDEFF7]
    add_aircraft(conn, fixes)
    cut = next(i for i, f in enumerate(fixes) if f.time.second == 4 and f.time.minute == 50) + 1
    ops, _ = track(fixes[:cut])                          # saw one slow fix at 10:50:04
    write(conn, ops, fixes[:cut])
    restored = load_active(conn)
    tracker = FlightTracker()
    assert tracker.restore(restored.flights, restored.fixes) == []
    rest, _ = track(fixes[cut:], tracker)
    assert [op.kind for op in rest] == [flight_ops.END_LANDING]
    # The replayed fixes count: the same touchdown (10:49:51, before the first slow fix)
    # as a tracker that never stopped.
    whole, _ = track(fixes)
    landed = [op.values["landing_time"] for op in whole if op.kind == flight_ops.END_LANDING]
    assert [rest[0].values["landing_time"]] == landed and landed[0] < fixes[cut - 1].time


def test_stale_active_flights_are_closed_at_startup(conn, data_dir):
    fixes = winch_fixes(data_dir)
    old = [f for f in fixes if f.address == 0xDDEFF7]
    new = [f for f in fixes if f.address == 0xDDAC7C]
    add_aircraft(conn, fixes)
    # Both stop in the air: the process died with two flights active, years apart.
    for part in (old[:20], new[:30]):
        ops, _ = track(part)
        write(conn, ops, part)
    restored = load_active(conn)
    assert restored.reference == new[29].time               # data time, not the wall clock
    old_id = flight_ops.flight_id(old[0].aircraft_id, old[5].time)
    assert restored.closed == [old_id]
    assert [f.aircraft_id for f in restored.flights] == [new[0].aircraft_id]
    row = conn.execute("SELECT timed_out_at, last_fix_at FROM flights WHERE id = %s",
                       (old_id,)).fetchone()
    assert row == (old[19].time + timedelta(hours=1), old[19].time)
    assert messages(conn)[-1] == ("timeout", str(old_id))
    assert load_active(conn).closed == []                   # idempotent


def test_timed_out_flight_resumes_after_a_restart(conn):
    a = after_hole(90, 850 * 1.5 * 0.95)
    add_aircraft(conn, a.fixes)
    hole = next(i for i in range(1, len(a.fixes))
                if (a.fixes[i].time - a.fixes[i - 1].time) > timedelta(hours=1))
    ops, tracker = track(a.fixes[:hole])
    ops += tracker.expire(a.fixes[hole - 1].time + timedelta(minutes=61))
    assert [op.kind for op in ops] == [flight_ops.START_AIRBORNE, flight_ops.END_TIMEOUT]
    write(conn, ops, a.fixes[:hole])
    restored = load_active(conn, now=a.fixes[hole].time)
    assert [f.timed_out_at is not None for f in restored.flights] == [True]
    fresh = FlightTracker()
    assert fresh.restore(restored.flights, restored.fixes) == []
    rest, _ = track(a.fixes[hole:], fresh)
    assert [op.kind for op in rest] == [flight_ops.RESUME]
    write(conn, rest, a.fixes[hole:])
    rows = flights(conn)
    assert len(rows) == 1 and rows[0][3] is None               # active again, same flight
    assert [e for e, _ in messages(conn)] == ["airborne_start", "timeout"]


# -- terrain --------------------------------------------------------------------------

def test_airport_elevations_from_the_airports_table(conn, tmp_path):
    conn.execute("""INSERT INTO airports (id, ident, type, name, latitude_deg, longitude_deg,
                                          elevation_ft)
        VALUES (1, 'DE-0066', 'small_airport', 'Königsdorf', 47.8287, 11.465, 1971),
               (2, 'EDMX', 'closed', 'Closed field', 47.81, 11.465, 5000),
               (3, 'XHEL', 'heliport', 'Rooftop', 47.84, 11.47, 9000),
               (4, 'EDDM', 'large_airport', 'München', 48.3538, 11.7861, 1487)""")
    airports = AirportElevations.from_db(conn, radius_m=3000)
    assert len(airports) == 2
    assert airports(47.8290, 11.470) == pytest.approx(600.8, abs=0.1)   # 380 m away
    assert airports(47.81, 11.465) == pytest.approx(600.8, abs=0.1)     # closed one ignored
    assert airports(47.86, 11.465) is None                              # 3.6 km: too far
    assert airports(48.35, 11.78) == pytest.approx(1487 * 0.3048)
    write_tile(tmp_path / "N47E011.hgt", 1201, lambda r, c: 700)
    terrain = make_terrain(SrtmTiles(tmp_path), airports)
    assert terrain(47.8290, 11.470) == 700                               # SRTM first
    assert terrain(48.35, 11.78) == pytest.approx(1487 * 0.3048)         # no tile: airport
    assert make_terrain() is None
    assert math.isclose(make_terrain(airports=airports)(47.8287, 11.465), 600.8, abs_tol=0.1)
