"""`soar stats` and the statistics views: exact figures on a handful of known flights,
withheld registrations stay withheld, and on a few hundred thousand flights the plans
of every `--days` query read flights through the day indexes and never touch fixes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from soar.products import statistics
from soar.records import aircraft_id
from soar.units import UTC

SOAR = str(Path(sys.executable).with_name("soar"))


def today():
    # Read when used, not at import: a suite that runs past midnight UTC moved the
    # flights a day away from what `soar stats` counted (seen in CI at 00:06).
    return datetime.now(UTC).date()


def at(days_ago: int, hhmm: str) -> datetime:
    d = today() - timedelta(days=days_ago)
    return datetime(d.year, d.month, d.day, int(hhmm[:2]), int(hhmm[2:]), tzinfo=UTC)


def add_aircraft(c, address: int, registration: str, identified: bool = True,
                 aircraft_type: int = 1) -> int:
    aid = aircraft_id(2, address)
    c.execute("INSERT INTO aircraft (id, address, address_type, registration, identified, "
              "aircraft_type) VALUES (%s, %s, 2, %s, %s, %s)",
              (aid, address, registration, identified, aircraft_type))
    return aid


def add_flight(c, aid: int, takeoff: datetime | None, landing: datetime | None, *,
               dep: str | None = None, arr: str | None = None, rwy: str | None = None,
               lrwy: str | None = None, towed_by: tuple | None = None,
               release_alt: float | None = None, status: str = "done",
               started: datetime | None = None) -> uuid.UUID:
    fid = uuid.uuid4()
    c.execute("""
        INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time, landing_time,
            timed_out_at, departure_airport_id, arrival_airport_id, takeoff_runway,
            landing_runway, towed_by_flight_id, towed_by_aircraft_id, tow_release_time,
            tow_release_altitude_m, takeoff_enrichment, landing_enrichment, enrichment_error)
        VALUES (%s, %s, 1, %s, %s, %s, %s, (SELECT id FROM airports WHERE ident = %s),
            (SELECT id FROM airports WHERE ident = %s), %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (fid, aid, started or takeoff, takeoff, landing,
         None if landing else (takeoff or started) + timedelta(hours=1), dep, arr, rwy, lrwy,
         towed_by[0] if towed_by else None, towed_by[1] if towed_by else None,
         takeoff + timedelta(minutes=6) if release_alt else None, release_alt,
         status, status if landing else None,
         "RunwayError: no fixes" if status == "failed" else None))
    return fid


@pytest.fixture
def known(refdb):
    """Yesterday at Königsdorf (DE-0066): two aerotows by one tow plane, a winch launch,
    one flight first seen airborne; a 3-hour flight at LFPG two days ago; one failed
    enrichment; and a flight 30 days ago that --days 7 must leave out."""
    with refdb.connect() as c:
        glider = add_aircraft(c, 0xDD0001, "D-1234")
        hidden = add_aircraft(c, 0xDD0002, "D-SECRET", identified=False)
        tug = add_aircraft(c, 0xDD0003, "D-EFGH", aircraft_type=2)
        plane = add_aircraft(c, 0xDD0004, "F-ABCD", aircraft_type=8)
        t1 = add_flight(c, tug, at(1, "1000"), at(1, "1012"), dep="DE-0066", arr="DE-0066",
                        rwy="29", lrwy="29")
        t2 = add_flight(c, tug, at(1, "1100"), at(1, "1110"), dep="DE-0066", arr="DE-0066",
                        rwy="29", lrwy="29")
        # Königsdorf lies at 1,971 ft (600.8 m): releases 500 m and 700 m above it.
        add_flight(c, glider, at(1, "1000"), at(1, "1050"), dep="DE-0066", arr="DE-0066",
                   rwy="29", lrwy="29", towed_by=(t1, tug), release_alt=1100.8)
        add_flight(c, hidden, at(1, "1100"), at(1, "1320"), dep="DE-0066", arr="DE-0066",
                   rwy="29", lrwy="11", towed_by=(t2, tug), release_alt=1300.8)
        add_flight(c, glider, at(1, "1400"), at(1, "1405"), dep="DE-0066", arr="DE-0066",
                   rwy="29", lrwy="29")
        add_flight(c, glider, None, None, started=at(1, "1600"))     # first seen airborne
        add_flight(c, plane, at(2, "0900"), at(2, "1200"), dep="LFPG", arr="LFPG", rwy="26R",
                   lrwy="27L", status="failed")
        add_flight(c, plane, at(30, "0900"), at(30, "1000"), dep="LFPG", arr="LFPG")
    return refdb


def stats_json(db, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env["SOAR_DATABASE_URL"] = db.url()
    env["SOAR_READONLY_DATABASE_URL"] = db.url("readonly")
    out = subprocess.run([SOAR, "stats", "--json", *args], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_stats_of_a_known_week(known):
    r = stats_json(known, "--days", "7")
    assert r["since"] == (today() - timedelta(days=6)).isoformat()
    days = {(d["day"], d["source"]): d for d in r["daily"]}
    y = days[((today() - timedelta(days=1)).isoformat(), "ogn")]
    assert (y["flights"], y["with_takeoff"], y["landed"], y["towed"]) == (6, 5, 5, 2)
    # 12 + 10 + 50 + 140 + 5 minutes.
    assert float(y["flight_hours"]) == pytest.approx(217 / 60, abs=0.05)
    assert sum(d["flights"] for d in r["daily"]) == 7           # the 30-day-old one is out
    hours = {h["hour"]: h["flights"] for h in r["hourly"]}
    assert hours == {9: 1, 10: 2, 11: 2, 14: 1, 16: 1}
    assert {d["bucket"]: d["flights"] for d in r["durations"]} == {
        "< 15 min": 3, "30-60 min": 1, "2-4 h": 2}
    airports = {a["ident"]: (a["takeoffs"], a["landings"]) for a in r["airports"]}
    assert airports == {"DE-0066": (5, 5), "LFPG": (1, 1)}
    assert r["airports"][0]["ident"] == "DE-0066"
    runways = {(w["ident"], w["runway"]): (w["takeoffs"], w["landings"]) for w in r["runways"]}
    assert runways == {("DE-0066", "29"): (5, 4), ("DE-0066", "11"): (0, 1),
                       ("LFPG", "26R"): (1, 0), ("LFPG", "27L"): (0, 1)}
    regs = {a["address"]: a["registration"] for a in r["aircraft"]}
    assert regs["DD0001"] == "D-1234" and regs["DD0002"] is None    # withheld stays withheld
    assert r["aircraft"][0]["address"] == "DD0004"                  # 3 h, the most
    assert [(t["address"], t["tows"], t["releases_found"], float(t["mean_release_height_m"]))
            for t in r["tow_planes"]] == [("DD0003", 2, 2, 600.0)]
    e = r["enrichment"]
    assert (e["flights"], e["takeoffs"], e["takeoff_runway"], e["landings"], e["landing_runway"],
            e["failed"]) == (7, 6, 6, 6, 6, 1)
    assert r["failures"] == [{"reason": "RunwayError", "flights": 1,
                              "latest": r["failures"][0]["latest"]}]
    assert "D-SECRET" not in json.dumps(r)
    # The whole month brings the old flight back.
    month = stats_json(known, "--days", "31")
    assert sum(d["flights"] for d in month["daily"]) == 8


def test_stats_as_tables(known):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env["SOAR_DATABASE_URL"] = known.url()
    out = subprocess.run([SOAR, "stats", "--days", "3"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for title in ("flights per day", "busiest runways", "tows per tow plane",
                  "enrichment coverage", "takeoff runway 6/6 (100 %)"):
        assert title in out.stdout
    assert "D-SECRET" not in out.stdout


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.fixture(scope="module")
def months(pg_cluster, db_template):
    """300,000 flights over 300 days (and a few fixes), analysed."""
    from helpers.database import _janitor
    name = f"soar_stats_{uuid.uuid4().hex[:8]}"
    with _janitor(pg_cluster, name, template_dbname=db_template):
        with psycopg.connect(pg_cluster.url(name)) as c:
            # No enrichment messages for generated flights (the queue triggers stay off).
            c.execute("SET session_replication_role = replica")
            c.execute("INSERT INTO airports (id, ident, type, name, latitude_deg, longitude_deg) "
                      "VALUES (1, 'XX01', 'small_airport', 'Test field', 47, 11)")
            c.execute("""INSERT INTO aircraft (id, address, address_type)
                         SELECT (2::bigint << 24) | a, a, 2 FROM generate_series(1, 3000) a""")
            c.execute("""
                INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time,
                    landing_time, timed_out_at, departure_airport_id, arrival_airport_id,
                    takeoff_runway, landing_runway, takeoff_enrichment, landing_enrichment)
                SELECT gen_random_uuid(), (2::bigint << 24) | (1 + i % 3000), 1, t, t,
                       t + (i % 300) * interval '1 minute', NULL, 1, 1, '29', '29', 'done', 'done'
                  FROM generate_series(1, 300000) i,
                       LATERAL (SELECT now() - (i % 300) * interval '1 day'
                                       - (i % 17) * interval '1 hour' AS t) s""")
            c.execute("""INSERT INTO fixes (time, received_at, aircraft_id, source, latitude,
                                            longitude)
                         SELECT now() - i * interval '1 hour', now(), (2::bigint << 24) | 1, 1,
                                47, 11 FROM generate_series(1, 1000) i""")
            c.commit()
            c.autocommit = True
            c.execute("ANALYZE")
        yield name


def test_every_stats_query_reads_days_of_flights_by_index_and_never_fixes(pg_cluster, months,
                                                                         capsys):
    since = statistics.since(7)
    with psycopg.connect(pg_cluster.url(months, user="soar_readonly")) as c:
        for name in statistics.SECTIONS:
            query = statistics.QUERIES[name]
            params = {"since": since, "top": 10}
            plan = c.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchone()[0][0]["Plan"]
            nodes = list(_nodes(plan))
            relations = {n.get("Relation Name") for n in nodes} - {None}
            assert not any(r == "fixes" or r.startswith("_hyper_") for r in relations), name
            scans = [(n["Node Type"], n.get("Index Name")) for n in nodes
                     if n.get("Relation Name") == "flights"]
            assert scans, name
            assert all(kind != "Seq Scan" for kind, _ in scans), (name, scans)
            analysed = c.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query,
                                 params).fetchone()[0][0]
            with capsys.disabled():
                print(f"\n{name}: {analysed['Execution Time']:.1f} ms, flights via "
                      f"{sorted({i or k for k, i in scans})}")


def test_the_plan_check_fails_on_a_query_that_scans(pg_cluster, months):
    # The guard above can fail: the same check on a query without a day filter.
    with psycopg.connect(pg_cluster.url(months, user="soar_readonly")) as c:
        plan = c.execute("EXPLAIN (FORMAT JSON) SELECT sum(flights) FROM flights_daily"
                         ).fetchone()[0][0]["Plan"]
    assert any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "flights"
               for n in _nodes(plan))
