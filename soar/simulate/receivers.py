"""OGN receivers around the simulated airfields, and which of them hear a fix.

The rule: every OGN aircraft is in range of 1-4 receivers of the field it flies
from (the one on the field always among them, so its ground phases are heard), and
each of those reports every fix it hears: duplicates of one fix differ only in
signal, bit errors, frequency offset and receive time, as in the real feed. A
receiver hears an aircraft when the link budget leaves at least 3 dB: about 40 km
in the air, a few km on the ground (the ground shadows the signal).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from soar.simulate.airfields import Airfield
from soar.units import M_PER_DEG

_RANGE_M = 40_000.0           # 4 dB at this distance (airborne)
DB_AT_1M = 4.0 + 20.0 * math.log10(_RANGE_M)   # free-space: -20 dB per decade of distance
MIN_DB = 3.0                  # weaker than this is not decoded
GROUND_SHADOW_DB = 20.0       # an aircraft on the ground, beyond 2 km from the antenna
GROUND_CLEAR_M2 = 2_000.0 ** 2
LOSS = 0.03                   # packets lost whatever the signal (collisions)


@dataclass(slots=True)
class Receiver:
    name: str
    lat: float
    lon: float
    alt_m: float
    kx: float                 # metres per degree of longitude here
    lag_s: float              # network latency to the APRS-IS server
    beacon_phase: int         # second of the 5-minute beacon cycle


def _callsign(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)[:9] or "RX"


def place(fields: list[Airfield], rng: random.Random, per_field: int = 4) -> dict[str, list[Receiver]]:
    """`per_field` receivers per field: one on it, the others 5-20 km around it.
    Names are unique APRS callsigns derived from the field ident."""
    taken: set[str] = set()
    out: dict[str, list[Receiver]] = {}
    for f in fields:
        rxs = []
        base = _callsign(f.ident)
        for k in range(per_field):
            if k == 0:
                d, a = rng.uniform(100.0, 700.0), rng.uniform(0.0, 2 * math.pi)
                name = base
            else:
                d, a = rng.uniform(5_000.0, 20_000.0), rng.uniform(0.0, 2 * math.pi)
                name = f"{base[:7]}R{k}"
            n = 2
            while name in taken:
                name = f"{base[:6]}{k}{n}"
                n += 1
            taken.add(name)
            kx = M_PER_DEG * math.cos(math.radians(f.latitude))
            rxs.append(Receiver(name, f.latitude + d * math.cos(a) / M_PER_DEG,
                                f.longitude + d * math.sin(a) / kx,
                                f.elevation_m + rng.uniform(5.0, 60.0), kx,
                                rng.uniform(0.3, 1.2), rng.randrange(300)))
        out[f.ident] = rxs
    return out


def signal_db(rx: Receiver, lat: float, lon: float, on_ground: bool, noise: float) -> float:
    """Signal-to-noise in dB at this receiver (below MIN_DB: not heard). The engine
    inlines this in its innermost loop; this is the reference."""
    dx = (lon - rx.lon) * rx.kx
    dy = (lat - rx.lat) * M_PER_DEG
    d2 = dx * dx + dy * dy + 2500.0
    db = DB_AT_1M - 10.0 * math.log10(d2) + noise
    if on_ground and d2 > GROUND_CLEAR_M2:
        db -= GROUND_SHADOW_DB
    return db if db < 50.0 else 50.0
