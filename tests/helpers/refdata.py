"""Helpers for the enrichment tests: real flights as fixes, and databases with the
reference data (OurAirports, GeoNames places) imported once and cloned per test.

Sources of the flights (real recordings):
- AFR34ZG, 2024-07-06, Paris CDG -> Toulouse: the `traffic` package's
  full_flight_short.jsonl (decoded Mode-S, ICAO 393322), via soar.reference.samples.
- Two winch launches at Königsdorf (DE-0066): shared/data/ogn/winch_launches_koenigsdorf.csv.
"""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from pytest_postgresql.janitor import DatabaseJanitor

from soar.db import embedded
from soar.records import aircraft_id
from soar.reference import airports, places, samples

AFR_ADDRESS = 0x393322
AFR_TAKEOFF = datetime(2024, 7, 6, 6, 59, 21, tzinfo=timezone.utc)
AFR_LANDING = datetime(2024, 7, 6, 7, 58, 42, tzinfo=timezone.utc)


@dataclass
class FixRow:
    time: datetime
    latitude: float
    longitude: float
    altitude_m: float | None
    ground_speed_kmh: float | None
    track_deg: float | None


def afr34zg_fixes() -> list[FixRow]:
    """Positions of AFR34ZG with the latest decoded velocity (surface positions carry
    their own), the way a Mode-S decoder with per-aircraft state produces them."""
    rows: list[FixRow] = []
    speed = track = alt = None
    with open(samples.path("full_flight_short.jsonl"), encoding="utf-8") as f:
        for line in f:
            m = json.loads(line)
            if "altitude" in m and m.get("altitude") is not None:
                alt = m["altitude"] * 0.3048
            if m.get("groundspeed") is not None and m.get("track") is not None:
                speed, track = m["groundspeed"] * 1.852, m["track"]
            if m.get("latitude") is not None and m.get("longitude") is not None:
                surface = m.get("bds") == "06"
                rows.append(FixRow(datetime.fromtimestamp(m["timestamp"], timezone.utc),
                                   m["latitude"], m["longitude"], None if surface else alt,
                                   speed, track))
    return rows


def koenigsdorf_fixes(data_dir: Path) -> dict[str, list[FixRow]]:
    out: dict[str, list[FixRow]] = {}
    with open(data_dir / "ogn" / "winch_launches_koenigsdorf.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            t = datetime.strptime(r["timestamp_utc"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
            out.setdefault(r["address"], []).append(FixRow(
                t, float(r["latitude"]), float(r["longitude"]), float(r["altitude_m"]),
                float(r["ground_speed_kmh"]), float(r["track_deg"])))
    return out


def add_aircraft(conn, address: int, address_type: int = 2, aircraft_type: int | None = 1,
                 registration: str | None = None) -> int:
    aid = aircraft_id(address_type, address)
    conn.execute("INSERT INTO aircraft (id, address, address_type, aircraft_type, registration) "
                 "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE "
                 "SET aircraft_type = EXCLUDED.aircraft_type",
                 (aid, address, address_type, aircraft_type, registration))
    return aid


def copy_fixes(conn, aid: int, rows: list[FixRow], source: int = 1) -> None:
    with conn.cursor().copy("COPY fixes (time, received_at, aircraft_id, source, latitude, longitude, "
                            "altitude_m, ground_speed_kmh, track_deg) FROM STDIN") as cp:
        for r in rows:
            cp.write_row((r.time, r.time, aid, source, r.latitude, r.longitude, r.altitude_m,
                          r.ground_speed_kmh, r.track_deg))


def add_flight(conn, aid: int, *, started_at: datetime, takeoff: tuple | None = None,
               landing: tuple | None = None, source: int = 1, callsign: str | None = None,
               last: tuple | None = None, timed_out_at: datetime | None = None) -> uuid.UUID:
    """takeoff/landing: (time, lat, lon); last: (time, lat, lon) of the last fix.
    Inserted, then ended by an UPDATE, as the tracker does (so both triggers fire)."""
    fid = uuid.uuid4()
    t = takeoff or (None, None, None)
    conn.execute("INSERT INTO flights (id, aircraft_id, source, callsign, started_at, takeoff_time, "
                 "takeoff_latitude, takeoff_longitude) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                 (fid, aid, source, callsign, started_at, *t))
    if landing or timed_out_at or last:
        lt = landing or (None, None, None)
        la = last or (None, None, None)
        conn.execute("UPDATE flights SET landing_time = %s, landing_latitude = %s, "
                     "landing_longitude = %s, last_fix_at = %s, last_latitude = %s, "
                     "last_longitude = %s, timed_out_at = %s WHERE id = %s",
                     (*lt, *la, timed_out_at, fid))
    return fid


def first_moving(rows: list[FixRow], min_kmh: float = 20) -> FixRow:
    return next(r for r in rows if (r.ground_speed_kmh or 0) >= min_kmh)


def nearest(rows: list[FixRow], t: datetime) -> FixRow:
    return min(rows, key=lambda r: abs((r.time - t).total_seconds()))


def add_afr34zg(conn, with_landing: bool = True) -> uuid.UUID:
    rows = afr34zg_fixes()
    aid = add_aircraft(conn, AFR_ADDRESS, address_type=1, aircraft_type=9)
    copy_fixes(conn, aid, rows, source=2)
    to = nearest(rows, AFR_TAKEOFF)
    ld = nearest(rows, AFR_LANDING)
    last = rows[-1]
    return add_flight(conn, aid, started_at=rows[0].time, source=2, callsign="AFR34ZG",
                      takeoff=(AFR_TAKEOFF, to.latitude, to.longitude),
                      landing=(AFR_LANDING, ld.latitude, ld.longitude) if with_landing else None,
                      last=(last.time, last.latitude, last.longitude) if with_landing else None)


def add_winch_flight(conn, data_dir: Path, address_hex: str) -> uuid.UUID:
    """A Königsdorf winch launch as one flight: takeoff at the first fix >= 20 km/h,
    landing at the last fix moving >= 20 km/h."""
    rows = koenigsdorf_fixes(data_dir)[address_hex]
    aid = add_aircraft(conn, int(address_hex, 16), address_type=2, aircraft_type=1)
    copy_fixes(conn, aid, rows, source=1)
    to = first_moving(rows)
    ld = [r for r in rows if r.ground_speed_kmh >= 20][-1]
    last = rows[-1]
    return add_flight(conn, aid, started_at=rows[0].time,
                      takeoff=(to.time, to.latitude, to.longitude),
                      landing=(ld.time, ld.latitude, ld.longitude),
                      last=(last.time, last.latitude, last.longitude))


# -- databases with reference data ------------------------------------------------------

def janitor(cluster: embedded.Cluster, dbname: str, **kw) -> DatabaseJanitor:
    return DatabaseJanitor(user=embedded.SUPERUSER, host=str(cluster.rundir), port=cluster.port,
                           dbname=dbname, **kw)


_templates: dict[tuple, str] = {}


def reference_template(cluster: embedded.Cluster, base_template: str) -> str:
    """A template database, made once per test session and cluster: the migrated
    schema plus all OurAirports airports and runways and all GeoNames places. Tests
    clone it (a file copy) instead of importing again."""
    key = (str(cluster.home), base_template)
    if key not in _templates:
        name = "soar_reference_template"
        j = janitor(cluster, name, template_dbname=base_template)
        j.drop()
        j.init()
        with psycopg.connect(cluster.url(name)) as c:
            airports.import_airports(c, *airports.default_sources())
            places.import_places(c, places.default_source())
        _templates[key] = name
    return _templates[key]


def clock(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)
