"""Thresholds and the per-fix air/ground tests. docs/flight-detection.md explains
each number and compares it with the systems in use today.

Hysteresis comes from two separate tests: while on the ground only `looks_airborne`
is asked (takeoff needs 55 km/h), while flying only `looks_landed` (landing needs
under 40 km/h, level and low), so a fix between the two never flips the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from soar.records import Fix

# OGN aircraft types that fly slower than a glider lands: hang glider, paraglider,
# skydiver, balloon, airship, UAV. Their landing speed threshold is lower.
SLOW_TYPES = frozenset({4, 6, 7, 11, 12, 13})
GLIDER = 1
TOW_TYPES = frozenset({2, 8})     # tow plane, piston aircraft
# Launch method known from the type alone: these climb on their own power (tow plane,
# helicopter, drop plane, piston, jet/turboprop, airship, UAV): `self` at takeoff ...
POWERED_TYPES = frozenset({2, 3, 5, 8, 9, 12, 13})
# ... and these are launched in ways none of aerotow/winch/self describes (skydiver,
# hang glider, paraglider, balloon, static obstacle): `unknown` at takeoff. Gliders
# and aircraft of unknown type (0, 10, 14, none) are judged by their climb.
UNLAUNCHED_TYPES = frozenset({4, 6, 7, 11, 15})


@dataclass(frozen=True)
class TrackerConfig:
    # Speed hysteresis (OGN's logbook: 55 up, 40 down).
    takeoff_speed_kmh: float = 55.0
    landing_speed_kmh: float = 40.0
    slow_landing_speed_kmh: float = 15.0
    # Standing trackers: GPS jitter stays below this speed.
    moving_speed_kmh: float = 5.0
    # |climb| at or above this is flying, not standing or rolling (winch in a headwind);
    # a ground fix is level: under ground_climb_ms (GPS climb noise on the ground is
    # about 0.1-0.3 m/s). In between counts as neither (hysteresis on climb too).
    airborne_climb_ms: float = 1.0
    ground_climb_ms: float = 0.5
    # Height above ground (when known): above this while moving is flying (250 ft);
    # a fix above agl_ground_max can never be a ground fix.
    airborne_agl_m: float = 75.0
    agl_ground_max_m: float = 100.0
    # Circling gliders turn 12-25 deg/s; a ground fix does not turn that fast at speed.
    airborne_turn_degs: float = 8.0
    turn_min_speed_kmh: float = 20.0
    # Takeoff confirmation: N consecutive airborne fixes plus vertical evidence.
    takeoff_fixes: int = 3
    takeoff_window_s: float = 60.0      # the run slides: evidence must come within it
    takeoff_climb_m: float = 25.0       # above/below the last ground altitude (no terrain)
    takeoff_agl_m: float = 50.0         # above terrain (when terrain is known)
    takeoff_ground_gap_s: float = 120.0 # a ground fix this recent makes it a takeoff
    # Without terrain, height above the takeoff field stands in for it this close.
    takeoff_ref_radius_m: float = 20_000.0
    # Landing confirmation: N consecutive ground fixes spanning at least this long.
    landing_fixes: int = 3
    landing_min_s: float = 10.0
    # Touchdown: a confirmed landing is dated back over the fixes before its landed run
    # that were already rolling out (`rolling`): level, within touchdown_height_m of the
    # first of them (GPS altitude noise, a sloping runway) and no faster than the fix
    # before by more than touchdown_speed_slack_kmh (a roll-out only slows down; GPS
    # speed noise is 1-3 km/h).
    touchdown_height_m: float = 10.0
    touchdown_speed_slack_kmh: float = 5.0
    # The fix before the roll, sinking and at most this long before it: the touchdown is
    # where its sink rate meets the roll's height (a final's sink rate holds for seconds,
    # not for a circuit).
    touchdown_interp_max_s: float = 30.0
    # ADS-B: trust the transponder, but not a single message.
    adsb_fixes: int = 2
    # Standing still this long (within radius/height) ends a flight whatever the
    # terrain says (a field on a hill next to a valley airport).
    stationary_s: float = 600.0
    stationary_radius_m: float = 100.0
    stationary_height_m: float = 15.0
    # Timeout, resume, splits (data time).
    timeout: timedelta = timedelta(hours=1)
    resume_window: timedelta = timedelta(hours=3)
    resume_min_fraction: float = 0.5    # of the distance it could have flown
    gap_check_s: float = 120.0          # gaps longer than this must fit continued flight
    # Position glitches (address collisions, bad CPR decodes).
    max_speed_kmh: float = 1500.0
    glitch_min_m: float = 500.0
    glitch_max_rejects: int = 5
    # Spurious flights (marked, not deleted).
    spurious_min_duration_s: float = 30.0
    spurious_min_alt_range_m: float = 15.0
    spurious_min_agl_m: float = 30.0
    spurious_max_mean_speed_kmh: float = 1600.0
    # Tow pairing.
    tow_window_s: float = 15.0
    tow_distance_m: float = 500.0
    tow_watch_s: float = 1200.0
    tow_release_drop_m: float = 30.0
    tow_glider_drop_m: float = 10.0
    # Launch method of a glider (or unknown type) that took off, judged on the fixes
    # from its takeoff time on (docs/flight-detection.md, "Launch method").
    # Winch: a mean climb since takeoff of at least winch_climb_ms over at least
    # winch_gain_m, reached within winch_window_s (winches climb 8-20 m/s; an aerotow
    # or a self-launch 1.5-5 m/s, and less on average with the roll and rotation).
    winch_climb_ms: float = 6.0
    winch_gain_m: float = 60.0          # a broken rope at Königsdorf still gave 120-140 m
    winch_window_s: float = 60.0
    # No winch or aerotow goes this fast over the ground (winch 90-120 km/h, aerotow
    # 110-150): a fix above it in the window rules the winch out, and an aircraft of
    # unknown type that fast launched itself (an airliner lifts off at 250-300 km/h
    # and climbs at 10-15 m/s, winch-like without this).
    launch_max_speed_kmh: float = 200.0
    # Otherwise decided at the first fix launch_window_s after takeoff (or when the
    # flight ends sooner): a tow pairing comes by then (the tow plane takes off within
    # tow_window_s and its takeoff is confirmed within takeoff_window_s); a later one
    # still wins.
    launch_window_s: float = 90.0
    # A glider with at least launch_min_fixes fixes in the window that rose
    # self_gain_m above its takeoff altitude, with no tow plane, launched itself.
    self_gain_m: float = 50.0
    launch_min_fixes: int = 3

    def landing_speed(self, aircraft_type: int | None) -> float:
        if aircraft_type in SLOW_TYPES:
            return self.slow_landing_speed_kmh
        return self.landing_speed_kmh




def looks_airborne(cfg: TrackerConfig, fix: Fix, agl) -> bool:
    """Asked only while on the ground. `agl` is a zero-argument callable (terrain is
    looked up only when speed and climb have not decided)."""
    if fix.on_ground is not None:          # ADS-B: the transponder knows
        return not fix.on_ground
    v = fix.ground_speed_kmh or 0.0
    if v >= cfg.takeoff_speed_kmh:
        return True
    if fix.climb_rate_ms is not None and abs(fix.climb_rate_ms) >= cfg.airborne_climb_ms:
        return True
    if v >= cfg.moving_speed_kmh:          # never from height alone while standing
        h = agl()
        return h is not None and h >= cfg.airborne_agl_m
    return False


def looks_landed(cfg: TrackerConfig, fix: Fix, agl, aircraft_type: int | None) -> bool:
    """Asked only while flying: slow, level, not turning hard, and low when known."""
    if fix.on_ground is not None:
        return fix.on_ground
    v = fix.ground_speed_kmh
    if v is None or v >= cfg.landing_speed(aircraft_type):
        return False
    if fix.climb_rate_ms is not None and abs(fix.climb_rate_ms) >= cfg.ground_climb_ms:
        return False
    if (fix.turn_rate_degs is not None and abs(fix.turn_rate_degs) >= cfg.airborne_turn_degs
            and v >= cfg.turn_min_speed_kmh):
        return False
    h = agl()
    return h is None or h <= cfg.agl_ground_max_m


def standing(cfg: TrackerConfig, fix: Fix) -> bool:
    """Not moving and level: on the ground whatever the terrain data says."""
    return (fix.ground_speed_kmh is not None and fix.ground_speed_kmh < cfg.moving_speed_kmh
            and (fix.climb_rate_ms is None or abs(fix.climb_rate_ms) < cfg.ground_climb_ms))


def rolling(cfg: TrackerConfig, fix: Fix, prev: Fix | None, start: Fix | None,
            aircraft_type: int | None) -> bool:
    """Asked while flying, of every fix: could it be on the ground roll that begins at
    `start` (None: could a roll begin here)? ADS-B: the transponder's flag. Otherwise
    level as `looks_landed` asks, at any speed (a glider touches down at 70 km/h, an
    airliner at 250), at `start`'s height within touchdown_height_m, and no faster
    than `prev` (the fix before it on the roll) by more than touchdown_speed_slack_kmh
    unless slower than the landing speed (taxiing on after slowing down). Turning is
    allowed: a roll that turns round to back-track is still on the ground,
    and a flight level at the landed fixes' height is not circling."""
    if fix.on_ground is not None:
        return fix.on_ground
    v = fix.ground_speed_kmh
    if v is None or fix.altitude_m is None:
        return False
    if fix.climb_rate_ms is not None and abs(fix.climb_rate_ms) >= cfg.ground_climb_ms:
        return False
    if start is None:
        return True
    if start.altitude_m is None or abs(fix.altitude_m - start.altitude_m) > cfg.touchdown_height_m:
        return False
    return (prev is None or prev.ground_speed_kmh is None
            or v <= prev.ground_speed_kmh + cfg.touchdown_speed_slack_kmh
            or v < cfg.landing_speed(aircraft_type))


def touchdown(cfg: TrackerConfig, start: Fix, before: Fix | None, landed: Fix
              ) -> tuple[datetime, float, float, float | None]:
    """The touchdown of a landing: time, latitude, longitude, altitude. `start` is the
    first fix of the ground roll (`rolling`) that reaches `landed`, the first fix of the
    confirmed landed run; `before` the fix before `start` (not rolling), or None.

    The time and place are `start`'s, unless `before` is an OGN fix sinking at most
    touchdown_interp_max_s earlier: then the moment its sink rate brings it down to
    `landed`'s height (rounded to the second, the resolution of OGN fix times; never
    before `before`, never after `start`), at the point that far along the straight
    line from `before` to `start`. ADS-B's first surface fix is its touchdown (the
    squat switch decides it). The altitude is `landed`'s (on the ground, slow: the
    steadiest ground height), else `start`'s."""
    alt = landed.altitude_m if landed.altitude_m is not None else start.altitude_m
    at = (start.time, start.latitude, start.longitude, alt)
    if (before is None or start.on_ground is not None or before.climb_rate_ms is None
            or before.climb_rate_ms >= 0 or before.altitude_m is None or alt is None):
        return at
    gap = (start.time - before.time).total_seconds()
    if not 0 < gap <= cfg.touchdown_interp_max_s:
        return at
    s = min(float(round(max(0.0, before.altitude_m - alt) / -before.climb_rate_ms)), gap)
    k = s / gap
    return (before.time + timedelta(seconds=s),
            before.latitude + k * (start.latitude - before.latitude),
            before.longitude + k * (start.longitude - before.longitude), alt)
