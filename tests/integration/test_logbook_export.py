"""The airfield logbook, the flight export and the flight picture on real flights: the
AFR34ZG Mode-S recording (LFPG -> LFBO) replayed through the real pipeline, the two
Königsdorf winch launches (DE-0066), the worker draining the queue so the airports and
runways are its own; everything read back as the read-only role, as a user does. The
replay is done once for the module (`flown_db`): tests that only read share it, a
test that changes it works on a copy of its own (`flown_copy`)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest
from aerofiles.igc import Reader

from helpers import refdata
from helpers.database import new_database
from helpers.pipeline import replay
from soar.products import export, logbook, plot
from soar.records import aircraft_id
from soar.reference import samples
from soar_worker.config import WorkerConfig
from soar_worker.loop import run_workers

SOAR = [sys.executable, "-m", "soar"]
AFR_DAY = date(2024, 7, 6)
WINCH_DAYS = {"DDEFF7": date(2016, 7, 2), "DDAC7C": date(2019, 4, 13)}


def drain(db) -> None:
    stats = run_workers(db.url("worker"), WorkerConfig(max_wait_s=2.0), threads=1, drain=True)
    assert stats.dead == 0


def cli(db, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*SOAR, "--database-url", db.url("readonly"), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def reference(pg_cluster, db_template):
    """One clone of the reference data for the module's tests that only read it (the
    bad-input commands): no flights, so no flight id a prefix could match."""
    template = refdata.reference_template(pg_cluster, db_template)
    with new_database(pg_cluster, template, prefix="soar_logbook_ref") as db:
        yield db


@pytest.fixture(scope="module")
def flown_db(pg_cluster, db_template, data_dir):
    """AFR34ZG through the pipeline (raw Mode-S), the winch launches as stored flights,
    the worker's enrichment done: replayed once for the module, for the tests that only
    read it. Returns (database, {name: flight id})."""
    template = refdata.reference_template(pg_cluster, db_template)
    with new_database(pg_cluster, template, prefix="soar_logbook_flown") as db:
        stats = replay(db, samples.path("full_flight_short.jsonl"), "modes")
        assert stats.flights["start_takeoff"] == 1 and stats.flights["end_landing"] == 1
        with db.connect() as c:
            ids = {a: refdata.add_winch_flight(c, data_dir, a) for a in WINCH_DAYS}
            [afr] = c.execute("SELECT id FROM flights WHERE callsign = 'AFR34ZG'").fetchone()
            # The launch-method decision is the tracker's (another change); one set by hand
            # here shows the column goes through.
            c.execute("UPDATE flights SET launch_method = 'winch' WHERE id = %s",
                      (ids["DDAC7C"],))
        drain(db)
        yield db, {"afr": afr, **ids}


@pytest.fixture
def flown(flown_db):
    """The module's replayed flights, to read only: {name: flight id}."""
    return flown_db[1]


@pytest.fixture
def db(flown_db):
    """The database holding `flown`'s flights, shared by the module: to read only
    (a test that changes it takes `flown_copy`)."""
    return flown_db[0]


@pytest.fixture
def flown_copy(pg_cluster, flown_db):
    """A copy of the module's replayed database of this test's own, for a test that
    changes it: (database, {name: flight id})."""
    db, ids = flown_db
    with new_database(pg_cluster, db.name, prefix="soar_logbook_copy") as copy:
        yield copy, ids


def test_logbook_of_koenigsdorf_lists_both_winch_launches(db, flown):
    _, rows = logbook.fetch(db.url("readonly"), "de-0066", WINCH_DAYS["DDAC7C"])
    [r] = rows
    assert (r["airfield"], r["movement"], r["flight_id"]) == ("DE-0066", "local", str(flown["DDAC7C"]))
    assert r["aircraft_address"] == "DDAC7C" and r["aircraft_type"] == "glider"
    assert r["launch_method"] == "winch" and r["tow_plane"] is None
    assert r["takeoff_runway"] and r["takeoff_runway_inferred"] is True
    assert r["other_end"] == r["departure"] == r["arrival"] == "DE-0066"
    assert r["takeoff"].date() == r["date"] == WINCH_DAYS["DDAC7C"]
    assert 0 < r["duration_s"] < 600 and r["duration"].startswith("0:0")
    # Both days, oldest first.
    _, both = logbook.fetch(db.url("readonly"), "DE-0066", date(2016, 7, 2), date(2019, 4, 13))
    assert [x["aircraft_address"] for x in both] == ["DDEFF7", "DDAC7C"]
    # A day with no flight there, and a day of the other airfield's flight.
    assert logbook.fetch(db.url("readonly"), "DE-0066", date(2019, 4, 14))[1] == []
    assert logbook.fetch(db.url("readonly"), "DE-0066", AFR_DAY)[1] == []


def test_logbook_of_an_airliner_departure_and_arrival(db, flown):
    _, [dep] = logbook.fetch(db.url("readonly"), "LFPG", AFR_DAY)
    assert (dep["movement"], dep["other_end"], dep["takeoff_runway"]) == ("departure", "LFBO", "26R")
    assert dep["callsign"] == "AFR34ZG" and dep["aircraft_address"] == "393322"
    # The tracker's decision for a powered aircraft climbing on its own.
    assert dep["launch_method"] == "self" and dep["end_reason"] == "landing"
    # By IATA code: the same airfield; the arrival row at the other end.
    field, [arr] = logbook.fetch(db.url("readonly"), "TLS", AFR_DAY)
    assert field.ident == "LFBO"
    assert (arr["movement"], arr["other_end"], arr["flight_id"]) == ("arrival", "LFPG", dep["flight_id"])
    assert arr["landing_runway"] in ("14L", "14R", "32L", "32R")
    assert 3500 <= arr["duration_s"] <= 3600


def test_logbook_days_in_a_time_zone(db, flown):
    """Took off 06:59 UTC: 08:59 in Paris on the same day; in Honolulu (UTC-10) it is
    20:59 the evening before."""
    tz = logbook.zone("Europe/Paris")
    _, [r] = logbook.fetch(db.url("readonly"), "LFPG", AFR_DAY, tz=tz)
    assert r["takeoff"].strftime("%H:%M") == "08:59" and r["date"] == AFR_DAY
    hnl = logbook.zone("Pacific/Honolulu")
    assert logbook.fetch(db.url("readonly"), "LFPG", AFR_DAY, tz=hnl)[1] == []
    [r] = logbook.fetch(db.url("readonly"), "LFPG", AFR_DAY - timedelta(days=1), tz=hnl)[1]
    assert r["takeoff"].strftime("%H:%M") == "20:59"


def test_logbook_command_csv_json_and_table(db, flown):
    out = cli(db, "logbook", "DE-0066", "--date", "2016-07-02", "--to", "2019-04-13",
              "--format", "csv")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == ",".join(logbook.FIELDS) and len(lines) == 3
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["aircraft_address"] for r in rows] == ["DDEFF7", "DDAC7C"]
    assert rows[1]["launch_method"] == "winch" and rows[1]["takeoff"].startswith("2019-04-13 ")
    assert rows[0]["launch_method"] == "" and rows[0]["takeoff_runway_inferred"] == "true"

    out = cli(db, "logbook", "LFPG", "--date", "2024-07-06", "--format", "json")
    assert out.returncode == 0, out.stderr
    [row] = [json.loads(line) for line in out.stdout.splitlines()]
    assert list(row) == list(logbook.FIELDS)
    assert row["takeoff"].startswith("2024-07-06T06:59") and row["takeoff"].endswith("+00:00")

    out = cli(db, "logbook", "LFBO", "--date", "2024-07-06", "--tz", "Europe/Paris")
    assert out.returncode == 0, out.stderr
    text = out.stdout.splitlines()
    assert text[0].startswith("LFBO ") and "(Europe/Paris)" in text[0] and text[-1] == "1 flights"
    assert "arr" in text[2] and "LFPG" in text[2] and "AFR34ZG" in text[2]


@pytest.mark.parametrize("args, words", [
    (["logbook", "ZZZZ9"], "no airfield 'ZZZZ9' in the airports table"),
    (["logbook", "LFPG", "--tz", "Mars/Olympus"], "--tz 'Mars/Olympus'"),
    (["logbook", "LFPG", "--date", "2024-07-06", "--to", "2024-07-01"], "is before --date"),
    (["flights", "export", "0000", "--format", "igc"], "no flight '0000'"),
    (["flights", "export", "xyz", "--format", "kml"], "at least its first 4 hex digits"),
])
def test_bad_input_is_one_line_naming_the_fix(reference, args, words):
    out = cli(reference, *args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and words in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def _add(c, address, *, identified=True, tracked=True, registration=None, aircraft_type=1,
         callsign=None, competition_number=None):
    aid = aircraft_id(2, address)
    c.execute("INSERT INTO aircraft (id, address, address_type, aircraft_type, registration, "
              "callsign, identified, tracked, competition_number) "
              "VALUES (%s, %s, 2, %s, %s, %s, %s, %s, %s)",
              (aid, address, aircraft_type, registration, callsign, identified, tracked,
               competition_number))
    return aid


def _flight(c, aid, t, airport_id, **cols) -> uuid.UUID:
    fid = uuid.uuid4()
    base = {"id": fid, "aircraft_id": aid, "source": 1, "started_at": t, "takeoff_time": t,
            "takeoff_altitude_m": 600.0, "departure_airport_id": airport_id,
            "arrival_airport_id": airport_id, "landing_time": t + timedelta(minutes=50),
            "last_fix_at": t + timedelta(minutes=51), **cols}
    names = ", ".join(base)
    marks = ", ".join(["%s"] * len(base))
    c.execute(f"INSERT INTO flights ({names}) VALUES ({marks})", tuple(base.values()))  # noqa: S608
    return fid


def test_aerotow_rows_and_what_the_readonly_role_never_sees(refdb):
    """A glider on aerotow shows its tow plane (registration when identified, else its
    address) and its release height above the field; a glider not identified shows no
    registration, competition number or callsign, in the command and in the view; one not
    tracked is left out, and so is the tow plane of a tow when the tow plane is not
    tracked."""
    t = datetime(2024, 5, 4, 10, tzinfo=timezone.utc)
    with refdb.connect() as c:
        [(field_id, elevation_ft)] = c.execute(
            "SELECT id, elevation_ft FROM airports WHERE ident = 'DE-0066'").fetchall()
        tug = _add(c, 0xD00001, registration="D-EFOX", aircraft_type=2)
        shy_tug = _add(c, 0xD00002, registration="D-ESHY", aircraft_type=2, identified=False)
        gone_tug = _add(c, 0xD00003, registration="D-EGON", aircraft_type=2, tracked=False)
        g1 = _add(c, 0xDD0001, registration="D-1234", callsign="K7", competition_number="K7")
        g2 = _add(c, 0xDD0002, registration="D-SECRET", callsign="XX", identified=False,
                  competition_number="SC")
        g3 = _add(c, 0xDD0003, registration="D-HIDDEN", tracked=False)
        g4 = _add(c, 0xDD0004, registration="D-4444")
        towed = _flight(c, g1, t, field_id, towed_by_aircraft_id=tug, tow_release_time=t
                        + timedelta(minutes=6), tow_release_altitude_m=1100.0,
                        launch_method="aerotow", callsign="K7")
        _flight(c, g2, t + timedelta(minutes=10), field_id, towed_by_aircraft_id=shy_tug,
                tow_release_altitude_m=1000.0, callsign="DSECRET")
        _flight(c, g3, t + timedelta(minutes=20), field_id)
        # No takeoff altitude: the release height is taken above the field's elevation.
        _flight(c, g4, t + timedelta(minutes=30), field_id, towed_by_aircraft_id=gone_tug,
                takeoff_altitude_m=None, tow_release_altitude_m=1000.0)
        # A spurious flight is no logbook row.
        _flight(c, g1, t + timedelta(hours=3), field_id, spurious_reason="too short")
    _, rows = logbook.fetch(refdb.url("readonly"), "DE-0066", t.date())
    by = {r["aircraft_address"]: r for r in rows}
    assert sorted(by) == ["DD0001", "DD0002", "DD0004"]
    a = by["DD0001"]
    assert (a["registration"], a["callsign"], a["launch_method"], a["tow_plane"],
            a["release_height_m"]) == ("D-1234", "K7", "aerotow", "D-EFOX", 500)
    assert a["flight_id"] == str(towed)
    b = by["DD0002"]
    assert (b["registration"], b["callsign"], b["tow_plane"]) == (None, None, "D00002")
    assert (a["competition_number"], b["competition_number"]) == ("K7", None)
    assert b["launch_method"] == "aerotow"           # the tow link, no decision stored yet
    d = by["DD0004"]
    assert d["tow_plane"] is None
    assert d["release_height_m"] == round(1000.0 - elevation_ft * 0.3048)
    with refdb.connect("readonly") as ro:
        seen = ro.execute("SELECT registration, callsign, competition_number, tow_plane "
                          "FROM logbook WHERE airfield = 'DE-0066'").fetchall()
        flat = {v for row in seen for v in row}
        assert {"D-1234", "K7"} <= flat
        assert not flat & {"D-SECRET", "XX", "SC", "DSECRET", "D-ESHY", "D-HIDDEN", "D-EGON"}
        assert ro.execute("SELECT count(*) FROM logbook WHERE registration = 'D-SECRET'"
                          ).fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ro.execute("INSERT INTO flights (id) VALUES (gen_random_uuid())")


def test_a_day_of_logbook_reads_the_airfield_indexes(db, flown):
    """Both branches of the view can use their index (the planner, told to avoid table
    scans, finds them: the view's expressions match the indexes')."""
    with db.connect("readonly") as ro:
        ro.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in ro.execute(
            "EXPLAIN " + logbook.QUERIES["rows"],
            {"airfield_id": 1, "start": datetime(2024, 7, 6, tzinfo=timezone.utc),
             "end": datetime(2024, 7, 7, tzinfo=timezone.utc)}))
    assert "flights_departure_time_idx" in plan and "flights_arrival_time_idx" in plan, plan


def _db_fixes(db, fid) -> list[datetime]:
    track = export.load(db.url("readonly"), str(fid))
    return [f.time for f in track.fixes]


def test_igc_export_reads_back_with_aerofiles(db, flown, tmp_path):
    """The command writes AFR34ZG's file; the gliders' through the same library call
    the command makes (the command's own path is the same for every flight)."""
    for name in ("afr", "DDEFF7", "DDAC7C"):
        fid = flown[name]
        path = tmp_path / f"{name}.igc"
        if name == "afr":
            out = cli(db, "flights", "export", str(fid)[:8], "--format", "igc", "-o", str(path))
            assert out.returncode == 0, out.stderr
        else:
            path.write_bytes(export.export(export.load(db.url("readonly"), str(fid)[:8]), "igc"))
        with open(path, encoding="ascii") as f:
            parsed = Reader().read(f)
        assert not any(errors for errors, _ in parsed.values()), parsed   # nothing it rejects
        fixes = parsed["fix_records"][1]
        times = _db_fixes(db, fid)
        assert len(fixes) == len(times) > 40
        assert [x["datetime"] for x in fixes] == [t.replace(microsecond=0) for t in times]
        header = parsed["header"][1]
        assert header["utc_date"] == times[0].date()
    text = (tmp_path / "afr.igc").read_bytes().decode("ascii")
    assert text.startswith("AXXXADS\r\nHFDTE060724\r\nHFFXA050\r\n")
    assert "HFGIDGLIDERID:\r\n" in text          # no registration known for AFR34ZG
    assert "HFCIDCOMPETITIONID:AFR34ZG" in text


def test_igc_of_an_aircraft_not_identified_names_no_one(flown_copy, tmp_path):
    db, flown = flown_copy
    with db.connect() as c:
        c.execute("UPDATE aircraft SET registration = 'D-KXYZ', model = 'ASK 21', "
                  "identified = false WHERE address = x'DDAC7C'::int")
        c.execute("UPDATE flights SET callsign = 'XYZ' WHERE id = %s", (flown["DDAC7C"],))
    data = export.export(export.load(db.url("readonly"), str(flown["DDAC7C"])), "igc").decode()
    assert "D-KXYZ" not in data and "XYZ" not in data.replace("XXX", "")
    assert "HFGTYGLIDERTYPE:ASK 21" in data and "DDAC7C" in data
    geo = export.geojson(export.load(db.url("readonly"), str(flown["DDAC7C"])))
    assert geo["features"][0]["properties"]["registration"] is None
    with db.connect() as c:
        c.execute("UPDATE aircraft SET tracked = false WHERE address = x'DDAC7C'::int")
    out = cli(db, "flights", "export", str(flown["DDAC7C"]), "--format", "kml")
    assert out.returncode == 2 and "marked not tracked" in out.stderr and out.stdout == ""


def test_kml_and_geojson_carry_every_fix(db, flown, tmp_path):
    fid = flown["afr"]
    times = _db_fixes(db, fid)
    out = cli(db, "flights", "export", str(fid), "--format", "geojson")
    assert out.returncode == 0, out.stderr
    geo = json.loads(out.stdout)
    line = geo["features"][0]
    assert line["geometry"]["type"] == "LineString"
    assert len(line["geometry"]["coordinates"]) == len(line["properties"]["coordTimes"]) == len(times)
    assert all(len(c) == 3 for c in line["geometry"]["coordinates"])
    assert [f["properties"]["event"] for f in geo["features"][1:]] == ["takeoff", "landing"]
    assert line["properties"]["callsign"] == "AFR34ZG"
    out = cli(db, "flights", "export", str(fid), "--format", "kml", "-o", str(tmp_path / "a.kml"))
    assert out.returncode == 0, out.stderr
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    root = ET.parse(tmp_path / "a.kml").getroot()
    coords = root.find(".//k:LineString/k:coordinates", ns).text.split()
    assert len(coords) == len(times)
    lon, lat, alt = map(float, coords[-1].split(","))
    assert 43.5 < lat < 43.7 and 1.3 < lon < 1.45 and 100 < alt < 400      # at Toulouse


def test_flight_without_fixes_and_ambiguous_prefix(flown_copy):
    db, flown = flown_copy
    with db.connect() as c:
        aid = _add(c, 0xDD0009)
        t = datetime(2024, 5, 4, 10, tzinfo=timezone.utc)
        fid = _flight(c, aid, t, None)
        twin = uuid.UUID(str(fid)[:9] + "ffff-ffff-ffff-ffffffffffff")
        if twin != fid:
            _flight(c, aid, t + timedelta(hours=2), None, id=twin)
    out = cli(db, "flights", "plot", str(fid), "-o", "/tmp/none.png")
    assert out.returncode == 2 and "has no stored fixes" in out.stderr, out.stderr
    out = cli(db, "flights", "export", str(fid)[:8], "--format", "igc")
    assert out.returncode == 2 and "matches 2 flights" in out.stderr, out.stderr


def test_flights_list_shows_short_ids_and_launch_method(db, flown):
    out = cli(db, "flights", "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "launch" in lines[0] and lines[0].startswith("id ")
    winch = next(line for line in lines if "DDAC7C" in line)
    assert winch.startswith(str(flown["DDAC7C"])[:8]) and " winch " in winch
    out = cli(db, "flights", "list", "--json")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {r["aircraft_address"]: r["launch_method"] for r in rows} == {
        "393322": "self", "DDEFF7": None, "DDAC7C": "winch"}


def test_plot_draws_a_png(db, flown, tmp_path):
    """The command draws AFR34ZG; the glider through the same library calls."""
    for name in ("afr", "DDAC7C"):
        path = tmp_path / f"{name}.png"
        if name == "afr":
            out = cli(db, "flights", "plot", str(flown[name])[:8], "-o", str(path))
            assert out.returncode == 0, out.stderr
        else:
            plot.draw(export.load(db.url("readonly"), str(flown[name])[:8], with_airports=True),
                      path)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
