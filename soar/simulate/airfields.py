"""Real airfields and runways for the simulator, from the OurAirports files.

Rule: an aircraft only ever takes off from or lands on a runway whose both end
positions and true headings are in the data and agree with each other (the ground
truth names its ident, and the runway detection downstream can only confirm a
runway it can place). So fields are picked among open airports with at least one
such runway; a field without runway rows (Königsdorf, DE-0066, is one) is never used.

Gliding clubs fly from small fields: gliders and tow planes use small airports
(gliderports first: names with a gliding word weigh more), then medium ones when
there are more aircraft than small fields can take; airliners use large airports.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, field
from pathlib import Path

from soar.errors import SoarError
from soar.reference import samples
from soar.units import FEET_TO_M, bearing_deg, distance_m

# Words that mark a gliding field in its name (several languages).
GLIDING_WORDS = ("glid", "segelflug", "planeur", "vol à voile", "vol a voile", "zweef",
                 "szybow", "plachtar", "vitorl", "soaring", "gliding")
# Regions as (south, west, north, east) in degrees.
REGIONS = {
    "europe": (43.0, -5.0, 56.0, 20.0),
    "alps": (45.0, 5.0, 48.5, 16.0),
    "germany": (47.2, 5.8, 55.1, 15.1),
}
# A runway whose end positions run another way than its listed headings is a data
# error (in the 2022 snapshot 101 runways have their two ends' positions swapped):
# which ident an aircraft rolling along it used cannot be known, so it is not used.
MAX_HEADING_MISMATCH_DEG = 15.0
GLIDER_RUNWAY_M = (300.0, 1800.0)      # usable by winch, aerotow and light aircraft
AIRLINER_RUNWAY_M = 2200.0


@dataclass(frozen=True, slots=True)
class RunwayEnd:
    ident: str            # as in OurAirports (le_ident / he_ident), e.g. "07", "25R"
    latitude: float       # the end's position: where a takeoff roll starts
    longitude: float
    heading_deg: float    # true heading when rolling from this end toward the other


@dataclass(frozen=True, slots=True)
class Runway:
    airport: str
    length_m: float       # between the two end positions
    surface: str
    ends: tuple[RunwayEnd, RunwayEnd]


@dataclass(slots=True)
class Airfield:
    ident: str
    name: str
    type: str
    latitude: float
    longitude: float
    elevation_m: float
    runways: list[Runway] = field(default_factory=list)
    gliding: bool = False

    def longest(self) -> Runway:
        return max(self.runways, key=lambda r: r.length_m)


def parse_region(text: str) -> tuple[float, float, float, float]:
    """A region name (europe, alps, germany) or SOUTH,WEST,NORTH,EAST in degrees."""
    if text.lower() in REGIONS:
        return REGIONS[text.lower()]
    try:
        s, w, n, e = (float(v) for v in text.split(","))
    except ValueError:
        raise SoarError(f"--region {text!r}: give one of {', '.join(REGIONS)} or "
                        "SOUTH,WEST,NORTH,EAST in degrees, e.g. 45,5,48.5,16") from None
    if not (-90 <= s < n <= 90 and -180 <= w < e <= 180):
        raise SoarError(f"--region {text!r}: south < north and west < east, in degrees")
    return s, w, n, e


def _float(v: str) -> float | None:
    try:
        return float(v) if v else None
    except ValueError:
        return None


def load(region: tuple[float, float, float, float], airports_csv: Path | None = None,
         runways_csv: Path | None = None) -> list[Airfield]:
    """Open airfields inside `region` that have at least one runway with both end
    positions and headings, sorted by ident (deterministic)."""
    s, w, n, e = region
    airports_csv = airports_csv or samples.path("airports.csv.gz")
    runways_csv = runways_csv or samples.path("runways.csv.gz")
    fields: dict[str, Airfield] = {}
    with samples.open_text(Path(airports_csv)) as f:
        for r in csv.DictReader(f):
            if r["type"] not in ("small_airport", "medium_airport", "large_airport"):
                continue
            lat, lon = _float(r["latitude_deg"]), _float(r["longitude_deg"])
            if lat is None or lon is None or not (s <= lat <= n and w <= lon <= e):
                continue
            name = r["name"]
            fields[r["ident"]] = Airfield(
                r["ident"], name, r["type"], lat, lon,
                (_float(r["elevation_ft"]) or 0.0) * FEET_TO_M,
                gliding=any(word in name.lower() for word in GLIDING_WORDS))
    with samples.open_text(Path(runways_csv)) as f:
        for r in csv.DictReader(f):
            a = fields.get(r["airport_ident"])
            if a is None or r["closed"] == "1":
                continue
            ends = []
            for p in ("le_", "he_"):
                lat, lon = _float(r[p + "latitude_deg"]), _float(r[p + "longitude_deg"])
                hdg = _float(r[p + "heading_degT"])
                if lat is None or lon is None or hdg is None or not r[p + "ident"]:
                    break
                ends.append(RunwayEnd(r[p + "ident"], lat, lon, hdg % 360.0))
            if len(ends) != 2:
                continue
            length = distance_m(ends[0].latitude, ends[0].longitude,
                                ends[1].latitude, ends[1].longitude)
            if length < 150.0:
                continue
            # Roll along the line between the ends: the listed heading can differ from
            # it by a degree or two, and the ground track must stay on the runway.
            b = bearing_deg(ends[0].latitude, ends[0].longitude, ends[1].latitude, ends[1].longitude)
            if (_off(b, ends[0].heading_deg) > MAX_HEADING_MISMATCH_DEG
                    or _off(b + 180.0, ends[1].heading_deg) > MAX_HEADING_MISMATCH_DEG):
                continue    # positions swapped or wrong (~160 runways): ident unknowable
            ends = [RunwayEnd(ends[0].ident, ends[0].latitude, ends[0].longitude, b),
                    RunwayEnd(ends[1].ident, ends[1].latitude, ends[1].longitude,
                              (b + 180.0) % 360.0)]
            a.runways.append(Runway(a.ident, length, r["surface"], (ends[0], ends[1])))
    return sorted((a for a in fields.values() if a.runways), key=lambda a: a.ident)


@functools.lru_cache(maxsize=4)
def load_cached(region: tuple[float, float, float, float]) -> tuple[Airfield, ...]:
    """`load` from the default OurAirports files, once per region per process (the
    CSV files take a second or two to read)."""
    return tuple(load(region))


def _off(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def glider_fields(fields: list[Airfield]) -> list[Airfield]:
    """Small (then medium) fields with a runway a glider site could have."""
    lo, hi = GLIDER_RUNWAY_M
    out = []
    for a in fields:
        if a.type == "large_airport":
            continue
        rws = [r for r in a.runways if lo <= r.length_m <= hi]
        if rws:
            out.append(Airfield(a.ident, a.name, a.type, a.latitude, a.longitude,
                                a.elevation_m, rws, a.gliding))
    # Gliderports, then other small fields, then medium airports.
    rank = {"small_airport": 1, "medium_airport": 2}
    return sorted(out, key=lambda a: (0 if a.gliding else rank[a.type], a.ident))


def airliner_fields(fields: list[Airfield]) -> list[Airfield]:
    out = []
    for a in fields:
        if a.type != "large_airport":
            continue
        rws = [r for r in a.runways if r.length_m >= AIRLINER_RUNWAY_M]
        if rws:
            out.append(Airfield(a.ident, a.name, a.type, a.latitude, a.longitude,
                                a.elevation_m, rws, False))
    return out
