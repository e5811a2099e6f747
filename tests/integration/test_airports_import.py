"""`soar import airports` / `soar import places` on a real server: the full OurAirports
snapshot (73,623 airports, 43,951 runways) and GeoNames places (144,561 named), re-import
in place, sources from folders and URLs, errors on one line."""

from __future__ import annotations

import csv
import functools
import gzip
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from soar.errors import SoarError
from soar.reference import airports, places, samples

SOAR = [sys.executable, "-m", "soar"]
IDENTS = ("LFPG", "LFBO", "LFHA", "DE-0066")


def run_cli(database, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env["SOAR_DATABASE_URL"] = database.url()
    return subprocess.run([*SOAR, *args], capture_output=True, text=True, env=env, timeout=300)


def _subset(tmp_path: Path, idents=IDENTS, gz: bool = False, edit=None) -> Path:
    """airports.csv and runways.csv with only these airports, copied from the real files."""
    folder = tmp_path / "ourairports"
    folder.mkdir(exist_ok=True)
    for stem, key in (("airports", "ident"), ("runways", "airport_ident")):
        with samples.open_text(samples.path(f"{stem}.csv.gz")) as src:
            reader = csv.DictReader(src)
            rows = [r for r in reader if r[key] in idents]
            fields = reader.fieldnames
        if edit:
            rows = edit(stem, rows)
        opener = gzip.open if gz else open
        with opener(folder / (f"{stem}.csv.gz" if gz else f"{stem}.csv"), "wt", encoding="utf-8",
                    newline="") as out:
            w = csv.DictWriter(out, fieldnames=fields, quoting=csv.QUOTE_NONNUMERIC)
            w.writeheader()
            w.writerows(rows)
    return folder


def _counts(conn) -> tuple[int, int]:
    return (conn.execute("SELECT count(*) FROM airports").fetchone()[0],
            conn.execute("SELECT count(*) FROM runways").fetchone()[0])


def test_full_import_is_complete_and_a_reimport_changes_nothing(conn):
    result = airports.import_airports(conn, *airports.default_sources())
    assert (result.airports, result.airports_inserted) == (73_623, 73_623)
    assert (result.runways, result.runways_inserted, result.runways_skipped) == (43_951, 43_951, 0)
    assert _counts(conn) == (73_623, 43_951)
    # Runways with both end positions: only about a third.
    both = conn.execute("SELECT count(*) FROM runways WHERE le_latitude_deg IS NOT NULL "
                        "AND he_latitude_deg IS NOT NULL").fetchone()[0]
    assert 14_000 < both < 16_000

    # Issoire: parallel glider/aeroplane strips with idents and headings, no positions.
    lfha = conn.execute("""
        SELECT le_ident, he_ident, le_heading_degt, he_heading_degt, le_latitude_deg, surface
          FROM runways WHERE airport_ident = 'LFHA' ORDER BY le_ident""").fetchall()
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in lfha] == [
        ("18L", "36R", 176, 356, None), ("18R", "36L", 176, 356, None)]
    lfpg = conn.execute("SELECT ident, type, iata_code, scheduled_service, elevation_ft, "
                        "ST_Y(location::geometry) FROM airports "
                        "WHERE ident = 'LFPG'").fetchone()
    assert lfpg == ("LFPG", "large_airport", "CDG", True, 392, pytest.approx(49.0128, abs=1e-4))
    assert conn.execute("SELECT name FROM airports WHERE ident = 'DE-0066'").fetchone()[0] \
        == "Königsdorf Gliding Center"
    assert conn.execute("SELECT le_ident, he_ident, le_heading_degt, lighted, closed FROM runways "
                        "WHERE airport_ident = 'LFBO' ORDER BY le_ident").fetchall() == [
        ("14L", "32R", 143, True, False), ("14R", "32L", 143, True, False)]

    # Re-import: nothing changes, nothing is rewritten.
    again = airports.import_airports(conn, *airports.default_sources())
    assert (again.airports_inserted, again.airports_updated, again.airports_deleted) == (0, 0, 0)
    assert (again.runways_inserted, again.runways_updated, again.runways_deleted) == (0, 0, 0)
    assert _counts(conn) == (73_623, 43_951)


def test_reimport_updates_in_place_and_prunes(conn, tmp_path):
    folder = _subset(tmp_path)
    result = airports.import_airports(conn, *airports.resolve_sources(str(folder)))
    assert (result.airports, result.runways) == (4, 8)
    ids = dict(conn.execute("SELECT ident, id FROM airports").fetchall())
    # A flight refers to LFBO, so a source without LFBO must not delete it.
    conn.execute("INSERT INTO aircraft (id, address, address_type) VALUES (1, 1, 0)")
    conn.execute("INSERT INTO flights (id, aircraft_id, source, started_at, arrival_airport_id) "
                 "VALUES (gen_random_uuid(), 1, 1, now(), %s)", (ids["LFBO"],))
    conn.commit()

    def edit(stem, rows):
        if stem == "airports":
            rows = [r for r in rows if r["ident"] not in ("LFBO", "DE-0066")]
            for r in rows:
                if r["ident"] == "LFHA":
                    r["name"] = "Issoire - Le Broc (renamed)"
        else:
            rows = [r for r in rows if r["airport_ident"] != "LFBO"
                    and not (r["airport_ident"] == "LFPG" and r["le_ident"] == "08L")]
        return rows

    (tmp_path / "v2").mkdir()
    folder2 = _subset(tmp_path / "v2", edit=edit, gz=True)
    result = airports.import_airports(conn, *airports.resolve_sources(str(folder2)))
    assert (result.airports_inserted, result.airports_updated, result.airports_deleted) == (0, 1, 1)
    assert (result.runways_inserted, result.runways_updated, result.runways_deleted) == (0, 0, 3)
    assert dict(conn.execute("SELECT ident, id FROM airports").fetchall()) == {
        k: v for k, v in ids.items() if k != "DE-0066"}            # same ids: updated in place
    assert conn.execute("SELECT name FROM airports WHERE ident = 'LFHA'").fetchone()[0] \
        == "Issoire - Le Broc (renamed)"
    assert conn.execute("SELECT count(*) FROM runways WHERE airport_ident = 'LFPG'").fetchone()[0] == 3


def test_source_may_be_a_url(database, tmp_path):
    folder = _subset(tmp_path, gz=True)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        out = run_cli(database, "import", "airports", "--source", url)
        assert out.returncode == 0, out.stderr
        assert "airports: 4 (4 new" in out.stdout and "runways: 8 (8 new" in out.stdout
        missing = run_cli(database, "import", "airports", "--source", url + "nothing/")
        assert missing.returncode == 2
        assert "no airports.csv or airports.csv.gz" in missing.stderr
    finally:
        server.shutdown()
        server.server_close()
    with database.connect() as c:
        assert {r[0] for r in c.execute("SELECT ident FROM airports")} == set(IDENTS)


def test_bad_sources_fail_on_one_line(database, tmp_path):
    out = run_cli(database, "import", "airports", "--source", str(tmp_path / "nowhere"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "--source" in out.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "airports.csv").write_text("a,b\n1,2\n")
    (bad / "runways.csv").write_text("a,b\n1,2\n")
    out = run_cli(database, "import", "airports", "--source", str(bad))
    assert out.returncode == 2
    assert "not an OurAirports airports file: missing column(s) id, ident" in out.stderr
    out = run_cli(database, "import", "places", "--source", str(bad / "airports.csv"))
    assert out.returncode == 2 and "missing column(s) lat, lon, name, cc" in out.stderr
    with database.connect() as c:
        assert _counts(c) == (0, 0)


def test_resolve_sources_accepts_the_airports_file_itself(tmp_path):
    folder = _subset(tmp_path)
    a, r = airports.resolve_sources(str(folder / "airports.csv"))
    assert (a, r) == (str(folder / "airports.csv"), str(folder / "runways.csv"))
    with pytest.raises(SoarError, match="no airports.csv"):
        airports.resolve_sources(str(tmp_path))


def test_places_import_and_nearest_place(conn, capsys):
    result = places.import_places(conn, places.default_source())
    assert result.places == 144_561 and result.skipped == 2      # two rows without a name
    again = places.import_places(conn, places.default_source())  # replaces, no duplicates
    assert conn.execute("SELECT count(*) FROM places").fetchone()[0] == 144_561
    with capsys.disabled():
        print(f"\n  places import: {result.seconds:.1f} s, re-import {again.seconds:.1f} s "
              f"(144,561 places)")
    row = conn.execute("SELECT name, admin1, country_code, round(distance_m) "
                       "FROM nearest_place(47.8287, 11.465)").fetchone()
    assert row[:3] == ("Konigsdorf", "Bavaria", "DE") and row[3] < 3000
    assert conn.execute("SELECT name FROM nearest_place(49.0128, 2.55)").fetchone()[0] \
        == "Roissy-en-France"
    assert conn.execute("SELECT * FROM nearest_place(0, -30)").fetchall() == []   # mid-Atlantic
    plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN SELECT name FROM places ORDER BY location <-> "
        "ST_SetSRID(ST_MakePoint(11.465, 47.8287), 4326)::geography LIMIT 1").fetchall())
    assert "places_location_idx" in plan


def test_cli_import_places_from_a_small_file(database, tmp_path):
    f = tmp_path / "few.csv"
    f.write_text("lat,lon,name,admin1,admin2,cc\n"
                 "47.81546,11.48063,Konigsdorf,Bavaria,Upper Bavaria,DE\n"
                 "not-a-number,11,Broken,,,DE\n"
                 "45.54,3.25,Issoire,Auvergne-Rhone-Alpes,Puy-de-Dome,FR\n", encoding="utf-8")
    out = run_cli(database, "import", "places", "--source", str(f))
    assert out.returncode == 0, out.stderr
    assert "places: 2 (1 skipped)" in out.stdout
    with database.connect("readonly") as c:
        assert c.execute("SELECT count(*) FROM places").fetchone()[0] == 2


def test_a_hostile_csv_header_is_data_not_sql(conn, tmp_path):
    """Column names come from the file; they must never be executed."""
    evil = tmp_path / "places.csv"
    evil.write_text('lat,lon,name,cc,x" text); CREATE TABLE pwned (a int); --\n'
                    "47.8287,11.465,Königsdorf,DE,1\n")
    result = places.import_places(conn, str(evil))
    assert result.places == 1
    assert conn.execute("SELECT to_regclass('pwned')").fetchone()[0] is None
