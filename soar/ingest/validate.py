"""What may reach the database, decided in the router before anything is batched:
physical plausibility of a fix, and that every value fits its column.

The parsers (soar.feeds.ogn, soar.feeds.modes, soar.feeds.sbs) already clean display-only text and
reject bad identities and numbers (see their docstrings and soar.columns); this is
the last gate for every decoder, so a record that slipped through is rejected here,
counted, instead of making PostgreSQL refuse the whole batch:
- text (receiver name, callsign, registration, model; a receiver's name, version,
  platform and status texts): a non-printable character -> BAD_TEXT;
- numbers: `real` columns finite and within float4, smallint/integer columns within
  their ranges and CHECK constraints, jsonb numbers finite -> else OUT_OF_RANGE;
- then the physical limits below (OUT_OF_RANGE), data time (FUTURE, STALE).
Clean input pays a handful of comparisons and `isprintable()` on the receiver name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from soar.columns import REAL_MAX, REAL_MIN, is_float4
from soar.records import BAD_TEXT, FUTURE, OUT_OF_RANGE, STALE, Fix, ReceiverBeacon, Reject


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
    """None when the fix is plausible and fits its columns, else the reason to reject it."""
    # Chained comparisons are False for NaN, so each also rejects a NaN.
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
    if climb is not None and not (-limits.max_climb_rate_ms <= climb <= limits.max_climb_rate_ms):
        return OUT_OF_RANGE
    track = fix.track_deg
    if track is not None and not (0.0 <= track <= 360.0):
        return OUT_OF_RANGE
    turn = fix.turn_rate_degs
    if turn is not None and not (REAL_MIN <= turn <= REAL_MAX):
        return OUT_OF_RANGE
    sig = fix.signal_db
    if sig is not None and not (REAL_MIN <= sig <= REAL_MAX):
        return OUT_OF_RANGE
    # aircraft: address integer 0..2^24-1, address_type smallint 0..63 (CHECKs),
    # aircraft_type smallint (OGN's 0..15).
    if not (0 <= fix.address <= 0xFFFFFF and 0 <= fix.address_type <= 63):
        return OUT_OF_RANGE
    if fix.aircraft_type is not None and not (0 <= fix.aircraft_type <= 15):
        return OUT_OF_RANGE
    receiver = fix.receiver
    if receiver is not None and not receiver.isprintable():
        return BAD_TEXT
    if fix.callsign is not None or fix.registration is not None or fix.model is not None:
        for text in (fix.callsign, fix.registration, fix.model):
            if text is not None and not text.isprintable():
                return BAD_TEXT
    if fix.time - fix.received_at > limits.future_skew:
        return FUTURE
    if fix.received_at - fix.time > limits.max_age:
        return STALE
    return None


def check_receiver(beacon: ReceiverBeacon) -> Reject | None:
    """None when a receiver beacon fits the `receivers` row, else the reason."""
    if not beacon.name or not beacon.name.isprintable():
        return BAD_TEXT
    for text in (beacon.version, beacon.platform):
        if text is not None and not text.isprintable():
            return BAD_TEXT
    lat, lon = beacon.latitude, beacon.longitude
    if lat is not None and not -90.0 <= lat <= 90.0:
        return OUT_OF_RANGE
    if lon is not None and not -180.0 <= lon <= 180.0:
        return OUT_OF_RANGE
    if beacon.altitude_m is not None and not is_float4(beacon.altitude_m):
        return OUT_OF_RANGE
    for key, value in beacon.status.items():   # jsonb: printable text, finite numbers
        if not key.isprintable():
            return BAD_TEXT
        if type(value) is str:
            if not value.isprintable():
                return BAD_TEXT
        elif type(value) is float and not math.isfinite(value):
            return OUT_OF_RANGE
    return None
