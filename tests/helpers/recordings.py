"""The real recordings as `Fix` lists for the tracker tests: two winch launches with a
broken rope at Königsdorf (OGN, from ogn-python's fixtures, in shared/data) and Air
France AFR34ZG, Paris CDG to Toulouse on 2024-07-06 (raw Mode-S frames with another
decoder's fields, from the `traffic` package's samples)."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

from soar.records import Fix, Source
from soar.reference import samples
from soar.units import FEET_TO_M, FPM_TO_MS, KNOTS_TO_KMH

KOENIGSDORF = (47.8287, 11.465, 1971 * FEET_TO_M)     # OurAirports DE-0066: 600.8 m

def utc(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc)


def winch_fixes(data_dir) -> list[Fix]:
    out = []
    with open(data_dir / "ogn" / "winch_launches_koenigsdorf.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            t = utc(r["timestamp_utc"])
            out.append(Fix(
                time=t, received_at=t, source=Source.OGN, address_type=2,
                address=int(r["address"], 16), latitude=float(r["latitude"]),
                longitude=float(r["longitude"]), altitude_m=float(r["altitude_m"]),
                ground_speed_kmh=float(r["ground_speed_kmh"]), track_deg=float(r["track_deg"]),
                climb_rate_ms=float(r["climb_rate_ms"]), turn_rate_degs=float(r["turn_rate_degs"]),
                receiver=r["receiver"], aircraft_type=1))
    return out


def afr34zg_fixes() -> list[Fix]:
    """Fixes from the file's own decoded fields: positions from BDS 0,5 (airborne,
    barometric feet) and 0,6 (surface: on the ground), speed, track and vertical rate
    from the latest BDS 0,9, the callsign from identification replies."""
    path = samples.path("full_flight_short.jsonl")
    out, velocity, callsign = [], None, None
    with open(path) as fh:
        for line in fh:
            d = json.loads(line)
            if d.get("callsign"):
                callsign = d["callsign"].strip("_ ")
            if d.get("df") != "17":
                continue
            bds = d.get("bds")
            if bds == "09":
                velocity = d
                continue
            if bds not in ("05", "06") or d.get("latitude") is None:
                continue
            t = datetime.fromtimestamp(d["timestamp"], timezone.utc)
            if bds == "06":
                alt, gs, trk, vr = None, d["groundspeed"] * KNOTS_TO_KMH, d.get("track"), None
            else:
                alt = d["altitude"] * FEET_TO_M
                gs = velocity["groundspeed"] * KNOTS_TO_KMH if velocity else None
                trk = velocity["track"] if velocity else None
                vr = velocity["vertical_rate"] * FPM_TO_MS if velocity else None
            out.append(Fix(time=t, received_at=t, source=Source.ADSB, address_type=1,
                           address=int(d["icao24"], 16), latitude=d["latitude"],
                           longitude=d["longitude"], altitude_m=alt, ground_speed_kmh=gs,
                           track_deg=trk, climb_rate_ms=vr, turn_rate_degs=None,
                           receiver="rs1090", on_ground=bds == "06", callsign=callsign))
    return out


