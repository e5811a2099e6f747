"""Aerotow pairing and release detection.

A glider (OGN type 1) and a tow plane (type 2 or a piston aircraft) that take off
within `tow_window_s` of each other and `tow_distance_m` apart are one aerotow: the
glider's flight records the tow plane's flight, and its launch method is `aerotow`
(overriding a winch or self-launch decided before the pairing). The pair is then watched: the
release is the tow plane's highest point before it has dropped `tow_release_drop_m`
while the glider has not followed it down. Fixes are scanned in time order as they
arrive (oldest first), so time differences are never negative -- the bug that
keeps a well-known implementation from ever detecting a release.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from soar.records import Fix
from soar.tracker.ops import AEROTOW, LAUNCH, TOW, TOW_RELEASE, UpdateFlight
from soar.tracker.rules import GLIDER, TOW_TYPES, TrackerConfig
from soar.units import distance_m


@dataclass(slots=True)
class _Takeoff:
    time: datetime
    latitude: float
    longitude: float
    is_glider: bool
    flight: object           # state.Flight
    paired: bool = False


@dataclass(slots=True)
class _Watch:
    glider: object           # state.Flight
    tow: object              # state.Flight
    deadline: datetime
    glider_track: deque = field(default_factory=lambda: deque(maxlen=512))  # (time, alt)
    peak_time: datetime | None = None
    peak_alt: float | None = None
    tow_alt: float | None = None


def _alt_at(track: deque, t: datetime) -> float | None:
    """Glider altitude at time t, interpolated between the fixes around it."""
    before = after = None
    for ft, alt in track:
        if ft <= t:
            before = (ft, alt)
        else:
            after = (ft, alt)
            break
    if before is None:
        return after[1] if after else None
    if after is None:
        return before[1]
    span = (after[0] - before[0]).total_seconds()
    w = (t - before[0]).total_seconds() / span if span > 0 else 0.0
    return before[1] + w * (after[1] - before[1])


class TowPairing:
    def __init__(self, config: TrackerConfig):
        self.cfg = config
        self.recent: list[_Takeoff] = []
        self.watches: dict[int, _Watch] = {}    # aircraft id (glider or tow) -> watch

    def on_takeoff(self, aircraft_type: int | None, flight, first: Fix) -> list[UpdateFlight]:
        is_glider = aircraft_type == GLIDER
        if not is_glider and aircraft_type not in TOW_TYPES:
            return []
        cfg = self.cfg
        # Confirmation lags takeoff by up to the takeoff window: keep entries that long.
        keep = first.time - timedelta(seconds=cfg.tow_window_s + cfg.takeoff_window_s + 60)
        self.recent = [r for r in self.recent if r.time >= keep]
        best = None
        for r in self.recent:
            if r.paired or r.is_glider == is_glider or r.flight.aircraft_id == flight.aircraft_id:
                continue
            dt = abs((r.time - first.time).total_seconds())
            if dt <= cfg.tow_window_s and distance_m(
                    r.latitude, r.longitude, first.latitude, first.longitude) <= cfg.tow_distance_m:
                if best is None or dt < best[0]:
                    best = (dt, r)
        me = _Takeoff(first.time, first.latitude, first.longitude, is_glider, flight)
        self.recent.append(me)
        if best is None:
            return []
        other = best[1]
        other.paired = me.paired = True
        glider, tow = (flight, other.flight) if is_glider else (other.flight, flight)
        glider.towed_by = tow.id
        w = _Watch(glider, tow, first.time + timedelta(seconds=cfg.tow_watch_s))
        self.watches[glider.aircraft_id] = self.watches[tow.aircraft_id] = w
        out = [UpdateFlight(glider.id, {"towed_by_flight_id": tow.id,
                                        "towed_by_aircraft_id": tow.aircraft_id}, TOW,
                            glider.aircraft_id)]
        # A tow plane found is the launch method, whatever the climb said before.
        glider.launch = None
        if glider.launch_method != AEROTOW:
            glider.launch_method = AEROTOW
            out.append(UpdateFlight(glider.id, {"launch_method": AEROTOW}, LAUNCH,
                                    glider.aircraft_id))
        return out

    def on_fix(self, aircraft_id: int, fix: Fix) -> list[UpdateFlight]:
        w = self.watches.get(aircraft_id)
        if w is None:
            return []
        if fix.time > w.deadline or w.glider.ended or w.tow.ended:
            self._drop(w)
            return []
        alt = fix.altitude_m
        if alt is None:
            return []
        if aircraft_id == w.glider.aircraft_id:
            w.glider_track.append((fix.time, alt))
        else:
            w.tow_alt = alt
            if w.peak_alt is None or alt > w.peak_alt:
                w.peak_time, w.peak_alt = fix.time, alt
        return self._check(w)

    def _check(self, w: _Watch) -> list[UpdateFlight]:
        cfg = self.cfg
        if w.peak_alt is None or w.tow_alt is None or not w.glider_track:
            return []
        drop = w.peak_alt - w.tow_alt
        if drop < cfg.tow_release_drop_m:
            return []
        g_time, g_now = w.glider_track[-1]
        if g_time < w.peak_time:          # the glider's fixes after the peak are not in yet
            return []
        g_peak = _alt_at(w.glider_track, w.peak_time)
        if g_peak is not None and g_peak - g_now > max(cfg.tow_glider_drop_m, 0.5 * drop):
            # Both went down together: not a release; look for a later peak.
            w.peak_time, w.peak_alt = None, None
            return []
        self._drop(w)
        release_alt = g_peak if g_peak is not None else w.peak_alt
        w.glider.tow_release = w.peak_time
        return [UpdateFlight(w.glider.id, {"tow_release_time": w.peak_time,
                                           "tow_release_altitude_m": release_alt}, TOW_RELEASE,
                             w.glider.aircraft_id)]

    def _drop(self, w: _Watch) -> None:
        for aid in (w.glider.aircraft_id, w.tow.aircraft_id):
            if self.watches.get(aid) is w:
                del self.watches[aid]

    def expire(self, now: datetime) -> None:
        for w in {id(w): w for w in self.watches.values()}.values():
            if now > w.deadline:
                self._drop(w)
        keep = now - timedelta(seconds=self.cfg.tow_window_s + self.cfg.takeoff_window_s + 60)
        self.recent = [r for r in self.recent if r.time >= keep]
