"""Units and geometry (`distance_m`, `bearing_deg`), defined once. Everything inside
soar is metric and UTC: metres (altitude MSL), km/h (ground speed), m/s (climb),
degrees, tz-aware UTC datetimes. The feeds convert at the
boundary with these constants and nowhere else."""

from __future__ import annotations

import math
from datetime import timezone

UTC = timezone.utc

FEET_TO_M = 0.3048
KNOTS_TO_KMH = 1.852
FPM_TO_MS = FEET_TO_M / 60.0     # feet per minute -> m/s (0.00508)
ROT_TO_DEGS = 1.5                # OGN's "rot": a half turn per two minutes = 180 deg / 120 s

EARTH_RADIUS_M = 6_371_000.0
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0    # one degree of latitude: ~111,195 m

# Beyond this the flat-earth formula drifts from the great circle by more than ~0.1 %.
_EQUIRECTANGULAR_MAX_M = 300_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance over the earth's surface, in metres.

    Equirectangular (one cos, one hypot: cheap enough for every fix) where that is
    within 0.1 % of the great circle, the haversine great circle beyond. Longitudes
    are compared the short way round, across the antimeridian too.
    """
    dlon = (lon2 - lon1 + 180.0) % 360.0 - 180.0
    x = math.radians(dlon) * math.cos(math.radians((lat1 + lat2) * 0.5))
    y = math.radians(lat2 - lat1)
    d = EARTH_RADIUS_M * math.hypot(x, y)
    if d > _EQUIRECTANGULAR_MAX_M:
        p1, p2 = math.radians(lat1), math.radians(lat2)
        h = (math.sin((p2 - p1) / 2) ** 2
             + math.cos(p1) * math.cos(p2) * math.sin(math.radians(dlon) / 2) ** 2)
        d = 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
    return d


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing from point 1 to point 2, degrees true (0..360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0
