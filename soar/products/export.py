"""A flight's track for other programs: `soar flights export` as IGC (written by
aerofiles, the gliding community's library for the format), KML or GeoJSON, and the
data `soar flights plot` draws.

The rule: a track is the aircraft's stored fixes from the flight's first fix to its
last, read over the fixes index (aircraft_id, time DESC), and everything about the
aircraft is read as the read-only role through flights_public and aircraft_public, so
an aircraft not identified in the device database is exported without registration or
callsign (its address only). Aircraft marked not tracked have no fixes stored; a flight
whose aircraft was marked so afterwards is refused.
"""

from __future__ import annotations

import bisect
import io
import json
import re
from datetime import datetime
from typing import NamedTuple
from xml.sax.saxutils import escape

import psycopg
from psycopg.rows import dict_row

from soar import db
from soar.db import sqlfiles
from soar.errors import SoarError
from soar.units import UTC

QUERIES = sqlfiles.queries("queries/export.sql")

FORMATS = ("igc", "kml", "geojson")
# Fewer hex digits than this match too many flights to be meant.
MIN_PREFIX_DIGITS = 4
OGN, ADSB = 1, 2            # fixes.source


class TrackFix(NamedTuple):
    time: datetime
    latitude: float
    longitude: float
    altitude_m: float | None
    ground_speed_kmh: float | None
    track_deg: float | None
    climb_rate_ms: float | None
    source: int


class Track(NamedTuple):
    flight: dict               # the columns of the `flight` query
    fixes: list[TrackFix]      # oldest first
    airports: dict[int, dict]  # departure and arrival airports by id, with "runways"


def id_range(ref: str) -> tuple[str, str]:
    """A flight id or the first characters of one (as `soar flights list` shows them),
    as the range of ids it covers."""
    digits = ref.strip().lower().replace("-", "")
    if not (MIN_PREFIX_DIGITS <= len(digits) <= 32 and re.fullmatch(r"[0-9a-f]+", digits)):
        raise SoarError(f"flight id {ref!r}: give the id, or at least its first "
                        f"{MIN_PREFIX_DIGITS} hex digits, as `soar flights list` shows it")

    def uuid_text(hex32: str) -> str:
        return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"
    return (uuid_text(digits.ljust(32, "0")), uuid_text(digits.ljust(32, "f")))


def _flight(conn: psycopg.Connection, ref: str) -> dict:
    low, high = id_range(ref)
    rows = conn.execute(QUERIES["flight"], {"low": low, "high": high}).fetchall()
    if not rows:
        raise SoarError(f"no flight {ref!r}: see the ids `soar flights list` shows")
    if len(rows) > 1:
        ids = ", ".join(str(r["id"])[:13] for r in rows[:5])
        raise SoarError(f"flight id {ref!r} matches {'more than 5' if len(rows) > 5 else len(rows)} "
                        f"flights ({ids}...): give more of its digits")
    flight = rows[0]
    if not flight["tracked"]:
        raise SoarError(f"flight {flight['id']}: its aircraft is marked not tracked in the "
                        "device database; its track is not shown")
    return flight


def end_of(flight: dict) -> datetime | None:
    """The flight's last fix, or None while it is still active (all fixes since its start)."""
    if flight["landing_time"] is None and flight["timed_out_at"] is None:
        return None
    return flight["last_fix_at"] or flight["landing_time"] or flight["timed_out_at"]


def load(url: str, ref: str, with_airports: bool = False) -> Track:
    """The flight `ref` (id or id prefix) and its fixes; with its airports and their
    runways when `with_airports`."""
    with db.connect(url, row_factory=dict_row) as conn:
        try:
            flight = _flight(conn, ref)
            fixes = [TrackFix(**r) for r in conn.execute(QUERIES["fixes"], {
                "aircraft_id": flight["aircraft_id"], "start": flight["started_at"],
                "end": end_of(flight)})]
            airports: dict[int, dict] = {}
            ids = [i for i in (flight["departure_airport_id"], flight["arrival_airport_id"]) if i]
            if with_airports and ids:
                for a in conn.execute(QUERIES["airports"], {"ids": ids}):
                    airports[a["id"]] = {**a, "runways": []}
                for r in conn.execute(QUERIES["runways"], {"ids": ids}):
                    airports[r["airport_id"]]["runways"].append(r)
        except psycopg.errors.UndefinedTable as exc:
            raise SoarError(f"the database lacks {exc.diag.message_primary or 'a table'}: "
                            "run `soar db upgrade`") from None
    if not fixes:
        raise SoarError(f"flight {flight['id']} has no stored fixes (`soar db prune` removes "
                        "old ones): nothing to draw or export")
    return Track(flight, fixes, airports)


def filled_altitudes(fixes: list[TrackFix]) -> list[float]:
    """Each fix's altitude; a fix without one (an ADS-B surface position) takes the
    altitude of the nearest fix in time that has one, 0 when none has."""
    known = [i for i, f in enumerate(fixes) if f.altitude_m is not None]
    if not known:
        return [0.0] * len(fixes)
    out = []
    for i, f in enumerate(fixes):
        if f.altitude_m is None:
            k = bisect.bisect_left(known, i)
            near = [known[j] for j in (k - 1, k) if 0 <= j < len(known)]
            i = min(near, key=lambda j: abs((fixes[j].time - f.time).total_seconds()))
        out.append(float(fixes[i].altitude_m))
    return out


def _name(flight: dict) -> str:
    return flight["registration"] or flight["callsign"] or flight["aircraft_address"]


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None


def _minutes(value: float) -> float:
    """Rounded to the IGC's thousandth of a minute here, so the writer never prints
    60.000 minutes (it rounds the minutes without carrying into the degrees)."""
    return round(value * 60000) / 60000


def igc(track: Track) -> bytes:
    """The track as an IGC file (aerofiles' writer): one B record per second of data (the
    ingest keeps at most one fix per aircraft and second), UTC times, OGN altitudes as
    GNSS altitude and ADS-B altitudes (barometric, 1013.25 hPa) as pressure altitude;
    a fix without an altitude is marked invalid ('V') and carries the nearest one. No
    G (security) record: this is a reconstruction from what receivers heard, not a
    flight recorder's log, and an L record says so."""
    from aerofiles.igc import Writer

    f = track.flight
    buf = io.BytesIO()
    w = Writer(buf)
    adsb = f["source"] == ADSB
    headers = {
        "manufacturer_code": "XXX",      # IGC: a manufacturer without an approved code
        "logger_id": "ADS" if adsb else "OGN",
        "date": track.fixes[0].time.astimezone(UTC).date(),
        # Nominal: receivers do not pass on the logger's own accuracy (aerofiles' default,
        # 500 m, would claim a far worse one).
        "fix_accuracy": 50,
        "glider_type": f["model"] or "",
        "glider_id": f["registration"] or "",
        "logger_type": "soar,ADS-B receivers" if adsb else "soar,OGN receivers",
        "gps_receiver": "ADS-B transponder" if adsb else "FLARM or OGN tracker",
    }
    if f["callsign"]:
        headers["competition_id"] = f["callsign"]
    w.write_headers(headers)
    w.write_comment("XXX", f"soar flight {f['id']} aircraft {f['aircraft_address']}: "
                           "positions as OGN/ADS-B receivers heard them, not a flight recorder")
    altitudes = filled_altitudes(track.fixes)
    last_second = None
    for fix, alt in zip(track.fixes, altitudes, strict=True):
        t = fix.time.astimezone(UTC)
        second = t.replace(microsecond=0)
        if second == last_second:
            continue
        last_second = second
        metres = round(alt)
        w.write_fix(t.time().replace(microsecond=0), latitude=_minutes(fix.latitude),
                    longitude=_minutes(fix.longitude), valid=fix.altitude_m is not None,
                    pressure_alt=metres if fix.source == ADSB else 0,
                    gps_alt=0 if fix.source == ADSB else metres)
    return buf.getvalue()


def _events(f: dict) -> list[tuple[str, datetime]]:
    out = [("takeoff", f["takeoff_time"]), ("tow release", f["tow_release_time"]),
           ("landing", f["landing_time"])]
    return [(name, t) for name, t in out if t is not None]


def _nearest(fixes: list[TrackFix], t: datetime) -> TrackFix:
    return min(fixes, key=lambda x: abs((x.time - t).total_seconds()))


def _description(f: dict) -> str:
    parts = [f"aircraft {f['aircraft_address']}"]
    if f["registration"]:
        parts.append(f["registration"])
    if f["model"]:
        parts.append(f["model"])
    if f["launch_method"]:
        parts.append(f"launch: {f['launch_method']}")
    if f["tow_registration"] or f["tow_address"]:
        parts.append(f"towed by {f['tow_registration'] or f['tow_address']}")
    return ", ".join(parts)


def kml(track: Track) -> str:
    """The track as KML 2.2: one LineString (absolute altitudes) and a point for the
    takeoff, the tow release and the landing, each with its time."""
    f = track.flight
    alts = filled_altitudes(track.fixes)
    coords = "\n".join(f"{x.longitude:.6f},{x.latitude:.6f},{a:.0f}"
                       for x, a in zip(track.fixes, alts, strict=True))
    marks = []
    for name, t in _events(f):
        x = _nearest(track.fixes, t)
        a = alts[track.fixes.index(x)]
        marks.append(
            f"  <Placemark><name>{escape(name)}</name>"
            f"<TimeStamp><when>{_iso(t)}</when></TimeStamp>\n"
            f"    <Point><altitudeMode>absolute</altitudeMode>"
            f"<coordinates>{x.longitude:.6f},{x.latitude:.6f},{a:.0f}</coordinates></Point>\n"
            "  </Placemark>")
    newline = "\n"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
<Document>
  <name>{escape(_name(f))} {_iso(f['takeoff_time'] or f['started_at'])}</name>
  <description>{escape(_description(f))}; soar flight {f['id']}</description>
  <Style id="track"><LineStyle><color>ff0000ff</color><width>2</width></LineStyle></Style>
  <Placemark>
    <name>{escape(_name(f))}</name>
    <styleUrl>#track</styleUrl>
    <TimeSpan><begin>{_iso(track.fixes[0].time)}</begin><end>{_iso(track.fixes[-1].time)}</end></TimeSpan>
    <LineString><altitudeMode>absolute</altitudeMode><coordinates>
{coords}
    </coordinates></LineString>
  </Placemark>
{newline.join(marks)}
</Document>
</kml>
"""


def geojson(track: Track) -> dict:
    """The track as a GeoJSON FeatureCollection (RFC 7946: [lon, lat, altitude m]): a
    LineString with the flight's properties and each fix's time (`coordTimes`, as
    togeojson writes them), and a Point for the takeoff, tow release and landing."""
    f = track.flight
    alts = filled_altitudes(track.fixes)
    coords = [[round(x.longitude, 6), round(x.latitude, 6), round(a, 1)]
              for x, a in zip(track.fixes, alts, strict=True)]
    props = {"flight_id": str(f["id"]), "aircraft_address": f["aircraft_address"],
             "registration": f["registration"], "callsign": f["callsign"],
             "model": f["model"], "launch_method": f["launch_method"],
             "tow_plane": f["tow_registration"] or f["tow_address"],
             "takeoff_time": _iso(f["takeoff_time"]), "landing_time": _iso(f["landing_time"]),
             "tow_release_time": _iso(f["tow_release_time"]), "end_reason": f["end_reason"],
             "coordTimes": [_iso(x.time) for x in track.fixes]}
    features = [{"type": "Feature", "properties": props,
                 "geometry": {"type": "LineString", "coordinates": coords}}]
    for name, t in _events(f):
        x = _nearest(track.fixes, t)
        i = track.fixes.index(x)
        features.append({"type": "Feature", "properties": {"event": name, "time": _iso(t)},
                         "geometry": {"type": "Point", "coordinates": coords[i]}})
    return {"type": "FeatureCollection", "features": features}


def export(track: Track, fmt: str) -> bytes:
    if fmt == "igc":
        return igc(track)
    if fmt == "kml":
        return kml(track).encode("utf-8")
    if fmt == "geojson":
        return (json.dumps(geojson(track)) + "\n").encode("utf-8")
    raise SoarError(f"--format {fmt!r}: give one of {', '.join(FORMATS)}")
