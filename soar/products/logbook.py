"""The airfield logbook behind `soar logbook`: one row per flight that took off from or
landed at one airfield in a range of days, read from the `logbook` view
(sql/views/logbook.sql) as the read-only role, so a registration or callsign the device
database says not to show is never shown.

The days are calendar days in one time zone, UTC unless the caller names another
(`--tz Europe/Berlin`): OurAirports gives no airfield a time zone, so it is the user's
choice, never a guess. A flight belongs to the day of its movement at this airfield (its
takeoff, or its landing when it came from elsewhere), so a flight that takes off before
midnight is in that day's logbook whatever time it lands.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.rows import dict_row

from soar import db
from soar.db import sqlfiles
from soar.errors import SoarError
from soar.units import UTC

QUERIES = sqlfiles.queries("queries/logbook.sql")

# The columns of the CSV (its header line) and the keys of each JSON object, in order.
FIELDS = ("date", "airfield", "movement", "takeoff", "landing", "takeoff_runway",
          "takeoff_runway_inferred", "landing_runway", "landing_runway_inferred",
          "registration", "competition_number", "callsign", "aircraft_address",
          "aircraft_model", "aircraft_type",
          "launch_method", "tow_plane", "release_height_m", "duration", "duration_s",
          "other_end", "departure", "arrival", "end_reason", "flight_id")


class Airfield(NamedTuple):
    id: int
    ident: str
    name: str
    elevation_ft: int | None


def zone(name: str | None) -> tzinfo:
    """--tz: an IANA time zone name (Europe/Berlin), or UTC when none is given."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SoarError(f"--tz {name!r}: give an IANA time zone name such as Europe/Berlin "
                        "or UTC (the default)") from None


def resolve_airfield(conn: psycopg.Connection, code: str) -> Airfield:
    """An OurAirports ident (LFPG, DE-0066), else an ICAO/GPS, IATA or local code that
    only one airfield carries."""
    wanted = code.strip().upper()
    row = conn.execute(QUERIES["airfield_by_ident"], {"code": wanted}).fetchone()
    if row:
        return Airfield(*row)
    rows = conn.execute(QUERIES["airfield_by_code"], {"code": wanted}).fetchall()
    best = [r for r in rows if r[4] == rows[0][4]] if rows else []
    if len(best) == 1:
        return Airfield(*best[0][:4])
    if rows:
        raise SoarError(f"airfield {code!r} is the code of several airfields "
                        f"({', '.join(r[1] for r in best)}): give one of these OurAirports idents")
    if conn.execute(QUERIES["airports_empty"]).fetchone()[0]:
        raise SoarError("the airports table is empty: run `soar import airports` first")
    raise SoarError(f"no airfield {code!r} in the airports table: give an OurAirports ident "
                    "or ICAO code, e.g. LFPG or DE-0066 (`soar import airports` loads them)")


def day_range(first: date, last: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in zone `tz`, as UTC instants."""
    if last < first:
        raise SoarError(f"--to {last} is before --date {first}: give --to on or after --date")
    start = datetime.combine(first, time(), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC)
    return start, end


def _hms(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _record(r: dict, tz: tzinfo) -> dict:
    def local(t):
        return t.astimezone(tz) if t else None
    out = {k: r.get(k) for k in FIELDS}
    out["date"] = local(r["movement_time"]).date()
    out["takeoff"], out["landing"] = local(r["takeoff_time"]), local(r["landing_time"])
    out["duration"] = _hms(r["duration_s"])
    out["flight_id"] = str(r["flight_id"])
    return out


def rows(conn: psycopg.Connection, airfield: Airfield, start: datetime, end: datetime,
         tz: tzinfo = UTC) -> list[dict]:
    """The logbook rows of `airfield` whose movement is in [start, end), oldest first,
    on the caller's connection (`soar logbook` opens its own, `soar web` reads in its
    pool's read-only transaction): keys FIELDS, dates and times in `tz`."""
    found = conn.cursor(row_factory=dict_row).execute(
        QUERIES["rows"], {"airfield_id": airfield.id, "start": start, "end": end}).fetchall()
    return [_record(r, tz) for r in found]


def fetch(url: str, code: str, first: date, last: date | None = None,
          tz: tzinfo = UTC) -> tuple[Airfield, list[dict]]:
    """The airfield and its logbook rows from day `first` to day `last` (inclusive,
    default `first`) in zone `tz`, oldest movement first; keys FIELDS, times aware
    datetimes in `tz`."""
    start, end = day_range(first, last or first, tz)
    with db.connect(url) as conn:
        try:
            airfield = resolve_airfield(conn, code)
            return airfield, rows(conn, airfield, start, end, tz)
        except psycopg.errors.UndefinedTable as exc:
            raise SoarError(f"the database lacks {exc.diag.message_primary or 'a table'}: "
                            "run `soar db upgrade`") from None


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def to_csv(rows: list[dict]) -> str:
    """A header line, then one line per flight; times as `YYYY-MM-DD HH:MM:SS` in the
    logbook's zone (what spreadsheets and flight-office imports read), empty for none."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    for r in rows:
        w.writerow([_text(r[k]) for k in FIELDS])
    return buf.getvalue()


def to_json_lines(rows: list[dict]) -> str:
    """One JSON object per line, times in ISO 8601 with their offset."""
    def default(value):
        if isinstance(value, datetime | date):
            return value.isoformat()
        raise TypeError(type(value).__name__)
    return "".join(json.dumps(r, default=default) + "\n" for r in rows)


def _state(r: dict) -> str:
    """How the flight ended when not by a landing: timeout, gap... or not yet."""
    if r["end_reason"] and r["end_reason"] != "landing":
        return f" ({r['end_reason']})"
    return " (no landing yet)" if r["landing"] is None and r["end_reason"] is None else ""


def to_table(airfield: Airfield, rows: list[dict], first: date, last: date, tz: tzinfo) -> str:
    """What a person reads: times HH:MM in the logbook's zone (`+1` when a landing falls
    on a later day), runways with `*` when inferred from the track."""
    def hhmm(t: datetime | None, day: date) -> str:
        if t is None:
            return "-"
        return t.strftime("%H:%M") + (f"+{(t.date() - day).days}" if t.date() != day else "")

    def rwy(ident, inferred) -> str:
        return (ident + ("*" if inferred else "")) if ident else "-"

    span = str(first) if last == first else f"{first} to {last}"
    lines = [f"{airfield.ident} {airfield.name}: {span} ({getattr(tz, 'key', 'UTC')})",
             f"{'date':10} {'mv':3} {'takeoff':7} {'rwy':4} {'landing':7} {'rwy':4} "
             f"{'aircraft':8} {'cn/call':8} {'type':16} {'launch':7} {'tow':8} {'rel m':>5} "
             f"{'dur':>7}  other end"]
    for r in rows:
        day = r["date"]
        lines.append(
            f"{day!s:10} {r['movement'][:3]:3} {hhmm(r['takeoff'], day):7} "
            f"{rwy(r['takeoff_runway'], r['takeoff_runway_inferred']):4} "
            f"{hhmm(r['landing'], day):7} "
            f"{rwy(r['landing_runway'], r['landing_runway_inferred']):4} "
            f"{(r['registration'] or r['aircraft_address']):8.8} "
            f"{(r['competition_number'] or r['callsign'] or '-'):8.8} "
            f"{(r['aircraft_model'] or r['aircraft_type'] or '-'):16.16} "
            f"{(r['launch_method'] or '-'):7} {(r['tow_plane'] or '-'):8.8} "
            f"{('-' if r['release_height_m'] is None else r['release_height_m']):>5} "
            f"{(r['duration'] or '-'):>7}  {r['other_end'] or '-'}{_state(r)}")
    lines.append(f"{len(rows)} flights")
    return "\n".join(lines) + "\n"
