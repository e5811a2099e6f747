"""The whole system on real recordings: raw messages -> ingest (parser, tracker,
binary COPY) -> pgmq -> worker (runway SQL, offline geocoding) -> `flights list`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime, timezone

from helpers.pipeline import replay
from soar.products.flights import fetch
from soar.reference import samples
from soar_worker.config import WorkerConfig
from soar_worker.loop import run_workers


def drain(db) -> None:
    stats = run_workers(db.url("worker"), WorkerConfig(), threads=2, drain=True)
    assert stats.dead == 0


def near(iso: str, expected: datetime, seconds: float = 60) -> bool:
    t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return abs((t - expected).total_seconds()) <= seconds


def test_afr34zg_from_raw_mode_s_frames(refdb):
    """Done-when of the worker issue: departure LFPG on a runway matching the takeoff
    heading (west, 26R), arrival LFBO on 14/32, with locations; taxiing is no flight."""
    stats = replay(refdb, samples.path("full_flight_short.jsonl"), "modes")
    assert stats.flights["start_takeoff"] == 1 and stats.flights["end_landing"] == 1
    drain(refdb)
    [f] = fetch(refdb.url("readonly"))
    assert f["aircraft_address"] == "393322" and f["callsign"] == "AFR34ZG"
    assert near(f["takeoff_time"], datetime(2024, 7, 6, 6, 59, 21, tzinfo=timezone.utc))
    assert near(f["landing_time"], datetime(2024, 7, 6, 7, 58, 42, tzinfo=timezone.utc))
    assert (f["departure_airport"], f["takeoff_runway"], f["takeoff_runway_inferred"]) == \
        ("LFPG", "26R", False)
    assert f["arrival_airport"] == "LFBO" and f["landing_runway"] in ("14L", "14R", "32L", "32R")
    assert f["start_location"].startswith("Roissy") and f["end_location"].startswith("Blagnac")
    assert f["end_reason"] == "landing" and f["spurious_reason"] is None
    # The same through the command line, as a user runs it.
    out = subprocess.run([sys.executable, "-m", "soar", "--database-url", refdb.url("readonly"),
                          "flights", "list", "--json", "--since", "2024-07-06"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    [line] = out.stdout.splitlines()
    row = json.loads(line)
    assert {"id", "aircraft_address", "takeoff_time", "landing_time", "timed_out_at",
            "departure_airport", "arrival_airport", "takeoff_runway", "landing_runway",
            "start_location", "end_location", "towed_by_aircraft_address"} <= row.keys()
    assert row["takeoff_time"].endswith("Z") and row["departure_airport"] == "LFPG"
    assert 3500 <= row["duration_s"] <= 3600


def test_replaying_twice_creates_no_duplicate_flight(refdb):
    path = samples.path("full_flight_short.jsonl")
    replay(refdb, path, "modes")
    replay(refdb, path, "modes")
    with refdb.connect() as c:
        assert c.execute("SELECT count(*) FROM flights").fetchone()[0] == 1
        assert c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0] == 2


def _aprs_lines(rows: list[dict]) -> list[str]:
    """Decoded fixes written back as the OGN APRS lines they came from (FLARM
    beacons: minutes with !W! extra precision, knots, feet, fpm, rot)."""
    out = []
    for r in rows:
        t = datetime.strptime(r["timestamp_utc"], "%Y-%m-%d %H:%M:%S")
        lat, lon = float(r["latitude"]), float(r["longitude"])
        lat_min = round((lat - int(lat)) * 60, 3)
        lon_min = round((lon - int(lon)) * 60, 3)
        la, lo = f"{lat_min:06.3f}", f"{lon_min:06.3f}"
        kt = round(float(r["ground_speed_kmh"]) / 1.852)
        ft = round(float(r["altitude_m"]) / 0.3048)
        fpm = round(float(r["climb_rate_ms"]) / 0.00508)
        rot = float(r["turn_rate_degs"]) / 1.5
        raw = (f"FLR{r['address']}>APRS,qAS,{r['receiver']}:/{t:%H%M%S}h"
               f"{int(lat):02d}{la[:5]}N/{int(lon):03d}{lo[:5]}E'"
               f"{round(float(r['track_deg'])) % 360:03d}"
               f"/{kt:03d}/A={ft:06d} !W{la[5]}{lo[5]}! id06{r['address']} {fpm:+04d}fpm {rot:+.1f}rot")
        out.append(f"{t:%Y-%m-%d %H:%M:%S}.000000: {raw}")
    return out


def test_koenigsdorf_winch_launches_through_the_whole_path(refdb, data_dir, tmp_path):
    """The two broken-rope winch launches, as APRS: one flight each, one takeoff and one
    landing, departure Königsdorf (DE-0066) with a runway inferred from the track."""
    with open(data_dir / "ogn" / "winch_launches_koenigsdorf.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    path = tmp_path / "winch.txt"
    path.write_text("\n".join(_aprs_lines(rows)) + "\n")
    stats = replay(refdb, path, "aprs")
    assert stats.fixes_written == len(rows) == 46 + 69
    drain(refdb)
    flights = fetch(refdb.url("readonly"))
    assert sorted(f["aircraft_address"] for f in flights) == ["DDAC7C", "DDEFF7"]
    for f in flights:
        assert f["takeoff_time"] and f["landing_time"] and f["spurious_reason"] is None
        assert f["departure_airport"] == f["arrival_airport"] == "DE-0066"
        assert f["takeoff_runway"] and f["takeoff_runway_inferred"] is True
        assert f["start_location"].startswith("Konigsdorf")


def test_oneminute_capture_creates_no_flight_for_a_standing_aircraft(refdb):
    """Measured on this capture (2020-05-30 11:05 UTC, a Saturday): about 3,300
    aircraft, of which about 2,200 are already airborne (flights without takeoff),
    a few dozen take off and a handful land within the minute."""
    stats = replay(refdb, samples.path("oneminute.txt"), "aprs")
    with refdb.connect() as c:
        standing_in_flight = c.execute("""
            SELECT count(DISTINCT f.aircraft_id) FROM fixes f
            WHERE f.aircraft_id IN (
                SELECT aircraft_id FROM fixes GROUP BY aircraft_id
                HAVING max(ground_speed_kmh) < 5 AND max(altitude_m) - min(altitude_m) < 10
                   AND count(*) >= 3)
              AND f.flight_id IS NOT NULL""").fetchone()[0]
        flights, airborne = c.execute(
            "SELECT count(*), count(*) FILTER (WHERE takeoff_time IS NULL) FROM flights").fetchone()
        aircraft = c.execute("SELECT count(DISTINCT aircraft_id) FROM fixes").fetchone()[0]
    assert standing_in_flight == 0
    assert 1500 <= airborne <= 2600 and flights - airborne <= 100
    assert flights < aircraft
    assert stats.flights["start_takeoff"] >= 10


def test_restart_in_mid_flight_continues_the_same_flight(refdb, tmp_path):
    """Ingest stopped over France and started again: the flight is reloaded from the
    database and lands as one flight, not two."""
    lines = samples.path("full_flight_short.jsonl").read_text().splitlines()
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("\n".join(lines[:30000]) + "\n")      # about half way, airborne
    second.write_text("\n".join(lines[30000:]) + "\n")
    s1 = replay(refdb, first, "modes")
    assert s1.flights["start_takeoff"] == 1 and "end_landing" not in s1.flights
    s2 = replay(refdb, second, "modes")
    assert "start_takeoff" not in s2.flights and "start_airborne" not in s2.flights
    assert s2.flights["end_landing"] == 1
    with refdb.connect() as c:
        rows = c.execute("SELECT takeoff_time IS NOT NULL, landing_time IS NOT NULL, "
                         "end_reason FROM flights").fetchall()
    assert rows == [(True, True, "landing")]
