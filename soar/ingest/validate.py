"""Physical plausibility of a fix, decided before anything reaches the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from soar.records import FUTURE, OUT_OF_RANGE, STALE, Fix, Reject


@dataclass(frozen=True)
class Limits:
    # Highest altitudes seen in the feeds are balloons and airliners well below 25 km;
    # -500 m leaves room for the Dead Sea and barometric error near sea level.
    min_altitude_m: float = -500.0
    max_altitude_m: float = 25_000.0
    max_ground_speed_kmh: float = 1_500.0   # faster than any traffic these feeds carry
    max_climb_rate_ms: float = 150.0
    future_skew: timedelta = timedelta(seconds=10)
    # OGN relays and delay-tolerant trackers (OGNDELAY) send old positions; older than
    # this is not live traffic any more.
    max_age: timedelta = timedelta(minutes=30)


DEFAULT = Limits()


def check(fix: Fix, limits: Limits = DEFAULT) -> Reject | None:
    """None when the fix is plausible, else the reason to reject it."""
    if not (-90.0 <= fix.latitude <= 90.0 and -180.0 <= fix.longitude <= 180.0):
        return OUT_OF_RANGE
    if fix.latitude == 0.0 and fix.longitude == 0.0:   # a GPS without a fix reports 0,0
        return OUT_OF_RANGE
    alt = fix.altitude_m
    if alt is not None and not (limits.min_altitude_m <= alt <= limits.max_altitude_m):
        return OUT_OF_RANGE
    speed = fix.ground_speed_kmh
    if speed is not None and not (0.0 <= speed <= limits.max_ground_speed_kmh):
        return OUT_OF_RANGE
    climb = fix.climb_rate_ms
    if climb is not None and abs(climb) > limits.max_climb_rate_ms:
        return OUT_OF_RANGE
    if fix.time - fix.received_at > limits.future_skew:
        return FUTURE
    if fix.received_at - fix.time > limits.max_age:
        return STALE
    return None
