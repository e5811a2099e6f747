"""The launch method of a flight that took off: aerotow, winch, self or unknown.

Rule: judged on the first `launch_window_s` after the takeoff, with a few numbers of
state per flight (`Launch`) while it is. The aircraft type alone decides a powered
aircraft (self) and a type never launched (unknown); a winch is decided as soon as its
climb is seen (steep, early, never faster than a winch); at the end of the window (or
of the flight) a glider that climbed launched itself, so did anything faster than a
winch or a tow, and anything else has no evidence. An aerotow is found by the tow
pairing (soar.tracker.tow), which overrides what is decided here. No I/O: the state
machine (soar.tracker.state) calls these on its `Flight` and writes what they decide.
"""

from __future__ import annotations

from datetime import datetime

from soar.records import Fix
from soar.tracker import ops
from soar.tracker.ops import UpdateFlight
from soar.tracker.rules import GLIDER, POWERED_TYPES, UNLAUNCHED_TYPES, TrackerConfig


class Launch:
    """What the launch method is judged on, from the takeoff time on."""
    __slots__ = ("t0", "h0", "glider", "fixes", "gain", "fast")

    def __init__(self, t0: datetime, h0: float | None, glider: bool):
        self.t0 = t0                      # takeoff time
        self.h0 = h0                      # ground altitude at takeoff (MSL)
        self.glider = glider              # OGN type 1: a tow was looked for
        self.fixes = 0                    # fixes in the window
        self.gain = 0.0                   # highest height above h0 in the window
        self.fast = False                 # a fix faster than any winch or aerotow


def start(f, aircraft_type: int | None, takeoff: datetime, altitude_m: float | None) -> None:
    """At takeoff of the state.Flight `f`: the method the type alone tells, else start
    judging the climb."""
    t = aircraft_type
    if t in POWERED_TYPES:
        f.launch_method = ops.SELF
    elif t in UNLAUNCHED_TYPES:
        f.launch_method = ops.UNKNOWN
    else:
        h0 = f.ground_ref[2] if f.ground_ref is not None else altitude_m
        f.launch = Launch(takeoff, h0, t == GLIDER)


def restarted(f, aircraft_type: int | None, stored: str | None,
              takeoff_time: datetime | None, takeoff_altitude_m: float | None) -> list:
    """A restored flight whose launch is not `stored`: the previous process stopped
    while judging it, or wrote the flight before launch methods existed. A flight
    that took off is judged again from its takeoff, on the fixes replayed now and
    those to come (a window already over is decided by the next fix, on what it
    holds); one first seen airborne is `unknown`, as it would be now. Ops for what
    is decided at once."""
    if stored is not None:
        return []
    if takeoff_time is None:
        f.launch_method = ops.UNKNOWN
    else:
        start(f, aircraft_type, takeoff_time, takeoff_altitude_m)
    if f.launch_method is None:
        return []
    return [UpdateFlight(f.id, {"launch_method": f.launch_method}, ops.LAUNCH,
                         f.aircraft_id)]


def on_fix(cfg: TrackerConfig, f, fix: Fix) -> str | None:
    """One more fix of a launch being judged; the method once decided (also set on
    the flight), else None. Winch as soon as its climb is seen; the rest at the
    end of the window."""
    lt = f.launch
    dt = (fix.time - lt.t0).total_seconds()
    if dt >= cfg.launch_window_s:
        return end(cfg, f)
    lt.fixes += 1
    v = fix.ground_speed_kmh
    if v is not None and v > cfg.launch_max_speed_kmh:
        lt.fast = True
    if fix.altitude_m is not None and lt.h0 is not None:
        gain = fix.altitude_m - lt.h0
        if gain > lt.gain:
            lt.gain = gain
            if (dt <= cfg.winch_window_s and gain >= cfg.winch_gain_m
                    and gain >= cfg.winch_climb_ms * dt and not lt.fast):
                f.launch, f.launch_method = None, ops.WINCH
                return ops.WINCH
    return None


def end(cfg: TrackerConfig, f) -> str:
    """The window is over (or the flight): a glider that climbed with no tow plane
    found launched itself, so did anything faster than a winch or a tow; anything
    else has no evidence."""
    lt = f.launch
    climbed = lt.fixes >= cfg.launch_min_fixes and lt.gain >= cfg.self_gain_m
    method = ops.SELF if (lt.glider and climbed) or lt.fast else ops.UNKNOWN
    f.launch, f.launch_method = None, method
    return method
