"""The in-memory flight state machine: one small state per aircraft.

Per aircraft: the last accepted fix, whether it is flying, the pending run of fixes
that may confirm a state change, the active flight and the previous one (for late
fixes and for resuming after a coverage hole). No I/O: the caller writes the ops.

An aircraft continuously airborne is on one flight whatever its callsign says: a
confirmed new callsign updates the flight (keeping the one before it), and splits it
only across a silence it could have landed and taken off again in. Each flight that
took off gets its launch method (aerotow, winch, self, unknown) from its first
minute and a half (soar.tracker.launch), with a few numbers of state while it is judged.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from soar.records import Fix, Source, split_aircraft_id
from soar.tracker import launch, ops
from soar.tracker.ops import CreateFlight, UpdateFlight, flight_id
from soar.tracker.rules import (
    TrackerConfig,
    looks_airborne,
    looks_landed,
    rolling,
    standing,
    touchdown,
)
from soar.tracker.tow import TowPairing
from soar.units import distance_m

Terrain = Callable[[float, float], "float | None"]
_UNKNOWN = object()



# flights.end_reason for each way a flight ends without landing.
_END_REASON = {ops.END_TIMEOUT: "timeout", ops.END_CALLSIGN: "callsign_change", ops.END_GAP: "gap"}

@dataclass(slots=True)
class Flight:
    id: UUID
    aircraft_id: int
    started_at: datetime
    takeoff_time: datetime | None
    callsign: str | None
    last: Fix | None = None
    min_alt: float | None = None
    max_alt: float | None = None
    max_agl: float | None = None          # from terrain only
    ground_ref: tuple[float, float, float] | None = None   # takeoff lat, lon, ground alt
    path_m: float = 0.0
    speed_kmh: float | None = None        # smoothed ground speed, for gap/resume checks
    adsb: bool = False                    # decided by the transponder flag
    ended: str | None = None              # an END_* kind once over
    towed_by: UUID | None = None
    tow_release: datetime | None = None
    launch_method: str | None = None      # as written; None: not decided (yet)
    launch: launch.Launch | None = None         # while the launch is being judged


@dataclass(slots=True)
class ActiveFlight:
    """A flight as stored, for restore(): active, or timed out and still resumable."""
    id: UUID
    aircraft_id: int
    source: int
    callsign: str | None
    started_at: datetime
    takeoff_time: datetime | None
    aircraft_type: int | None = None
    last_fix_at: datetime | None = None
    last_latitude: float | None = None
    last_longitude: float | None = None
    timed_out_at: datetime | None = None
    launch_method: str | None = None      # as stored; None: not decided when it stopped
    takeoff_altitude_m: float | None = None


class _Track:
    __slots__ = ("aircraft_id", "aircraft_type", "last", "airborne", "run", "ref_alt",
                 "ground_at", "flight", "previous", "anchor", "rejects", "callsign",
                 "pending_callsign", "roll", "touchdown")

    def __init__(self, aircraft_id: int, aircraft_type: int | None):
        self.aircraft_id = aircraft_id
        self.aircraft_type = aircraft_type
        self.last: Fix | None = None           # last fix accepted in time order
        self.airborne = False
        self.run: deque = deque()              # [fix, agl] candidates for a state change
        self.ref_alt: float | None = None      # altitude when last seen not flying
        self.ground_at: datetime | None = None # time of the last confident ground fix
        self.flight: Flight | None = None
        self.previous: Flight | None = None
        self.anchor: Fix | None = None         # start of the current standing-still period
        self.rejects = 0                       # consecutive impossible jumps rejected
        self.callsign: str | None = None       # last non-empty callsign heard
        self.pending_callsign: tuple[str, Fix] | None = None
        # While flying: (first fix, fix before it) of the ground roll the last fix may be
        # on (rules.rolling), and that pair as it stood at the landed run's first fix.
        self.roll: tuple[Fix, Fix | None] | None = None
        self.touchdown: tuple[Fix, Fix | None] | None = None

    def flight_at(self, t: datetime) -> UUID | None:
        f = self.flight
        if f is not None and t >= f.started_at:
            return f.id
        p = self.previous
        if p is not None and p.last is not None and p.started_at <= t <= p.last.time:
            return p.id
        return None


@dataclass
class TrackerStats:
    """Plain counters; the pipeline exports them. Op kinds are counted by the pipeline."""
    fixes: int = 0
    late: int = 0             # older than the aircraft's last fix (other receiver, duplicate)
    glitches: int = 0         # impossible jumps ignored
    counts: Counter = field(default_factory=Counter)     # op kinds
    spurious: Counter = field(default_factory=Counter)   # by reason
    active_aircraft: int = 0
    active_flights: int = 0


class FlightTracker:
    def __init__(self, config: TrackerConfig | None = None, terrain: Terrain | None = None):
        self.cfg = config or TrackerConfig()
        self.terrain = terrain
        self.aircraft: dict[int, _Track] = {}
        self.tows = TowPairing(self.cfg)
        self.stats = TrackerStats()

    # -- public API -------------------------------------------------------------

    def process(self, fix: Fix) -> list:
        """Sets fix.flight_id and returns the flight writes this fix causes."""
        self.stats.fixes += 1
        aid = fix.aircraft_id
        st = self.aircraft.get(aid)
        if st is None:
            st = self.aircraft[aid] = _Track(aid, fix.aircraft_type)
            self.stats.active_aircraft = len(self.aircraft)
        elif fix.aircraft_type is not None:
            st.aircraft_type = fix.aircraft_type
        last = st.last
        if last is not None and fix.time <= last.time:
            # Out of order or heard again through another receiver: it cannot change
            # the state (that was decided on newer fixes), but it belongs to a flight.
            self.stats.late += 1
            fix.flight_id = st.flight_at(fix.time)
            return []
        out: list = []
        if last is not None:
            dt = (fix.time - last.time).total_seconds()
            if self._glitch(st, last, fix, dt):
                return []
            if st.flight is not None:
                if dt > self.cfg.timeout.total_seconds():
                    out += self._end(st, ops.END_TIMEOUT, last.time + self.cfg.timeout)
                elif dt > self.cfg.gap_check_s and not self._fits(st.flight, fix, dt, 0.0):
                    out += self._end(st, ops.END_GAP, fix.time)
        if fix.callsign:
            out += self._callsign(st, fix)
        st.last = fix
        out += self._flying(st, fix) if st.airborne else self._on_ground(st, fix)
        if self.tows.watches:
            out += self.tows.on_fix(aid, fix)
        self._count(out)
        return out

    def expire(self, now: datetime) -> list:
        """Timeouts by data time; forgets aircraft silent longer than they can matter."""
        cfg, out = self.cfg, []
        for aid, st in list(self.aircraft.items()):
            silent = now - st.last.time if st.last is not None else timedelta(0)
            if st.flight is not None and silent > cfg.timeout:
                out += self._end(st, ops.END_TIMEOUT, st.last.time + cfg.timeout)
            if st.flight is None:
                resumable = st.previous is not None and st.previous.ended == ops.END_TIMEOUT
                if silent > (cfg.resume_window if resumable else cfg.timeout):
                    del self.aircraft[aid]
        self.tows.expire(now)
        self._count(out)
        self.stats.active_aircraft = len(self.aircraft)
        self.stats.active_flights = sum(1 for s in self.aircraft.values() if s.flight)
        return out

    def restore(self, active: list[ActiveFlight], recent_fixes: dict[int, list[Fix]]) -> list:
        """Rebuild state after a restart from stored flights and their last fixes.

        Active flights become active again and their fixes are replayed, which may
        finish a landing the previous process had not confirmed (those ops are
        returned). Timed-out flights come back as resumable, and their replay ops are
        dropped: the database says they are over.
        """
        out: list = []
        for af in active:
            st = _Track(af.aircraft_id, af.aircraft_type)
            self.aircraft[af.aircraft_id] = st
            f = Flight(af.id, af.aircraft_id, af.started_at, af.takeoff_time, af.callsign,
                       launch_method=af.launch_method)
            st.flight, st.airborne = f, True
            fixes = sorted(recent_fixes.get(af.aircraft_id, ()), key=lambda x: x.time)
            if not fixes:
                if af.last_fix_at is None or af.last_latitude is None:
                    del self.aircraft[af.aircraft_id]   # nothing to continue from
                    continue
                fixes = [_stub_fix(af)]
            replayed = launch.restarted(f, st.aircraft_type, af.launch_method,
                                        af.takeoff_time, af.takeoff_altitude_m)
            for fx in fixes:
                replayed += self.process(fx)
            if af.timed_out_at is None:
                out += replayed
            elif st.flight is f:        # quietly back to the stored, timed-out state
                f.ended, st.previous, st.flight, st.airborne = ops.END_TIMEOUT, f, None, False
                st.run.clear()
        self.stats.active_aircraft = len(self.aircraft)
        self.stats.active_flights = sum(1 for s in self.aircraft.values() if s.flight)
        return out

    def active_flight(self, aircraft_id: int) -> UUID | None:
        st = self.aircraft.get(aircraft_id)
        return st.flight.id if st is not None and st.flight is not None else None

    # -- ground: looking for a takeoff ------------------------------------------

    def _on_ground(self, st: _Track, fix: Fix) -> list:
        cfg = self.cfg
        probe = [fix, _UNKNOWN]
        agl = lambda: self._agl(probe)    # noqa: E731 -- terrain only when needed
        if looks_airborne(cfg, fix, agl):
            run = st.run
            while run and (fix.time - run[0][0].time).total_seconds() > cfg.takeoff_window_s:
                old = run.popleft()[0]       # too old to be this takeoff: it was ground
                if old.altitude_m is not None:
                    st.ref_alt = old.altitude_m
            run.append(probe)
            fix.flight_id = None
            return self._start(st, fix) if self._takeoff_confirmed(st) else []
        st.run.clear()
        fix.flight_id = None
        if fix.altitude_m is not None:
            st.ref_alt = fix.altitude_m
        if standing(cfg, fix) or looks_landed(cfg, fix, agl, st.aircraft_type):
            st.ground_at = fix.time
        return []

    def _takeoff_confirmed(self, st: _Track) -> bool:
        cfg, run = self.cfg, st.run
        if run[-1][0].on_ground is not None:               # ADS-B flag
            return len(run) >= cfg.adsb_fixes
        if len(run) < cfg.takeoff_fixes:
            return False
        # Vertical evidence, so a fast taxi, an engine test or a car is not a flight.
        heights = [h for h in (self._agl(p) for p in run) if h is not None]
        if heights:
            return max(heights) >= cfg.takeoff_agl_m
        if st.ref_alt is not None:
            return any(p[0].altitude_m is not None
                       and abs(p[0].altitude_m - st.ref_alt) >= cfg.takeoff_climb_m for p in run)
        return True                                         # first seen: no reference

    def _start(self, st: _Track, fix: Fix) -> list:
        cfg = self.cfg
        first = st.run[0][0]
        prev, out = st.previous, []
        # Resume only what reappears in the air: seen on the ground since, it landed;
        # heard with another callsign, it flies another leg.
        if (prev is not None and prev.ended == ops.END_TIMEOUT and st.ground_at is None
                and not (prev.callsign and st.callsign and st.callsign != prev.callsign)
                and self._resumable(prev, first)):
            f = prev
            f.ended = None
            out.append(UpdateFlight(f.id, {"timed_out_at": None, "end_reason": None}, ops.RESUME,
                                    f.aircraft_id))
            for p in st.run:
                p[0].flight_id = f.id
                self._grow(f, p[0], p[1])
        else:
            gap = (first.time - st.ground_at).total_seconds() if st.ground_at else None
            takeoff = gap is not None and gap <= cfg.takeoff_ground_gap_s
            f = Flight(flight_id(st.aircraft_id, first.time), st.aircraft_id, first.time,
                       first.time if takeoff else None, st.callsign)
            if takeoff and st.ref_alt is not None:
                f.ground_ref = (first.latitude, first.longitude, st.ref_alt)
            if takeoff:
                launch.start(f, st.aircraft_type, first.time, first.altitude_m)
            else:
                f.launch_method = ops.UNKNOWN            # first seen in the air
            for p in st.run:
                p[0].flight_id = f.id
                self._grow(f, p[0], p[1])
                if f.launch is not None:
                    launch.on_fix(cfg, f, p[0])          # a winch climb may be decided here
            row = self._row(st, f, first, fix)
            if f.launch_method is not None:
                row["launch_method"] = f.launch_method
            out.append(CreateFlight(row, ops.START_TAKEOFF if takeoff else ops.START_AIRBORNE,
                                    tuple(p[0] for p in list(st.run)[:-1])))
        st.flight, st.airborne, st.anchor = f, True, fix
        st.run.clear()
        st.ref_alt = st.ground_at = st.roll = None
        if out[0].kind == ops.START_TAKEOFF:
            out += self.tows.on_takeoff(st.aircraft_type, f, first)
        return out

    def _row(self, st: _Track, f: Flight, first: Fix, fix: Fix) -> dict:
        row = {"id": f.id, "aircraft_id": st.aircraft_id, "source": int(first.source),
               "callsign": f.callsign, "started_at": f.started_at,
               "takeoff_time": f.takeoff_time,
               "last_fix_at": fix.time, "last_latitude": fix.latitude,
               "last_longitude": fix.longitude}
        if f.takeoff_time is not None:
            row.update(takeoff_latitude=first.latitude, takeoff_longitude=first.longitude,
                       takeoff_altitude_m=first.altitude_m)
        return row

    # -- flying: looking for a landing -----------------------------------------

    def _flying(self, st: _Track, fix: Fix) -> list:
        cfg, f = self.cfg, st.flight
        fix.flight_id = f.id
        if f.launch is not None:
            method = launch.on_fix(cfg, f, fix)
            if method is not None:
                return [UpdateFlight(f.id, {"launch_method": method}, ops.LAUNCH,
                                     f.aircraft_id)] + self._flying(st, fix)
        probe = [fix, _UNKNOWN]
        if fix.on_ground is None:
            self._agl(probe)              # every flying OGN fix: max height for the spurious rule
        roll = st.roll
        if roll is None or not rolling(cfg, fix, f.last, roll[0], st.aircraft_type):
            st.roll = (fix, f.last) if rolling(cfg, fix, None, None, None) else None
        if looks_landed(cfg, fix, lambda: self._height(f, probe), st.aircraft_type):
            st.run.append(probe)
            run = st.run
            if len(run) == 1:
                st.touchdown = st.roll or (fix, None)
            if run[-1][0].on_ground is not None:
                done = len(run) >= cfg.adsb_fixes
            else:
                done = (len(run) >= cfg.landing_fixes and
                        (fix.time - run[0][0].time).total_seconds() >= cfg.landing_min_s)
            if done:
                self._grow(f, fix, probe[1])
                return self._land(st, touchdown(cfg, *st.touchdown, run[0][0]), fix)
        else:
            st.run.clear()
        self._grow(f, fix, probe[1])
        # Standing still for long is on the ground, whatever the terrain data says.
        a = st.anchor
        if a is None or self._moved(a, fix):
            st.anchor = fix
        elif (fix.time - a.time).total_seconds() >= cfg.stationary_s:
            return self._land(st, (a.time, a.latitude, a.longitude, a.altitude_m), fix)
        return []

    def _moved(self, a: Fix, fix: Fix) -> bool:
        cfg = self.cfg
        if (fix.ground_speed_kmh or 0.0) >= cfg.moving_speed_kmh:
            return True
        if distance_m(a.latitude, a.longitude, fix.latitude, fix.longitude) > cfg.stationary_radius_m:
            return True
        return (a.altitude_m is not None and fix.altitude_m is not None
                and abs(fix.altitude_m - a.altitude_m) > cfg.stationary_height_m)

    def _land(self, st: _Track, at: tuple, fix: Fix) -> list:
        """`at`: the landing's time, latitude, longitude and altitude (rules.touchdown,
        or where it stood still); `fix`: the one that confirmed it."""
        f = st.flight
        t, lat, lon, alt = at
        values = {"landing_time": t, "landing_latitude": lat,
                  "landing_longitude": lon, "landing_altitude_m": alt,
                  "last_fix_at": fix.time, "last_latitude": fix.latitude,
                  "last_longitude": fix.longitude, "end_reason": "landing"}
        reason = self._spurious(f, landed=True)
        if reason:
            values["spurious_reason"] = reason
        if f.launch is not None:                  # landed within the launch window
            values["launch_method"] = launch.end(self.cfg, f)
        f.ended = ops.END_LANDING
        st.previous, st.flight, st.airborne = f, None, False
        st.run.clear()
        st.ground_at, st.ref_alt = fix.time, fix.altitude_m
        return [UpdateFlight(f.id, values, ops.END_LANDING, f.aircraft_id)]

    def _end(self, st: _Track, kind: str, at: datetime) -> list:
        """End without a landing: timeout, callsign change, impossible gap."""
        f = st.flight
        last = f.last or st.last
        values = {"timed_out_at": at, "last_fix_at": last.time,
                  "last_latitude": last.latitude, "last_longitude": last.longitude,
                  "end_reason": _END_REASON[kind]}
        reason = self._spurious(f, landed=False)
        if reason:
            values["spurious_reason"] = reason
        if f.launch is not None:
            values["launch_method"] = launch.end(self.cfg, f)
        f.ended = kind
        st.previous, st.flight, st.airborne = f, None, False
        st.run.clear()
        st.ref_alt = st.ground_at = None
        return [UpdateFlight(f.id, values, kind, f.aircraft_id)]

    # -- helpers ----------------------------------------------------------------

    def _agl(self, probe: list) -> float | None:
        if probe[1] is _UNKNOWN:
            fix = probe[0]
            ground = (self.terrain(fix.latitude, fix.longitude)
                      if self.terrain is not None and fix.altitude_m is not None else None)
            probe[1] = None if ground is None else fix.altitude_m - ground
        return probe[1]

    def _height(self, f: Flight, probe: list) -> float | None:
        """Height above terrain, else above the takeoff field while near it (a balloon
        floating level and slow over its launch site has not landed)."""
        h = self._agl(probe)
        fix = probe[0]
        if h is None and f.ground_ref is not None and fix.altitude_m is not None:
            lat, lon, alt = f.ground_ref
            if distance_m(lat, lon, fix.latitude, fix.longitude) <= self.cfg.takeoff_ref_radius_m:
                return fix.altitude_m - alt
        return h

    def _grow(self, f: Flight, fix: Fix, agl) -> None:
        prev = f.last
        if prev is not None and fix.time > prev.time:
            f.path_m += distance_m(prev.latitude, prev.longitude, fix.latitude, fix.longitude)
        if prev is None or fix.time >= prev.time:
            f.last = fix
        alt = fix.altitude_m
        if alt is not None:
            if f.min_alt is None or alt < f.min_alt:
                f.min_alt = alt
            if f.max_alt is None or alt > f.max_alt:
                f.max_alt = alt
        if agl is not _UNKNOWN and agl is not None and (f.max_agl is None or agl > f.max_agl):
            f.max_agl = agl
        v = fix.ground_speed_kmh
        if v is not None:
            f.speed_kmh = v if f.speed_kmh is None else 0.9 * f.speed_kmh + 0.1 * v
        if fix.on_ground is not None:
            f.adsb = True

    def _glitch(self, st: _Track, last: Fix, fix: Fix, dt: float) -> bool:
        """An impossible jump from the last fix is ignored, up to a few in a row (after
        that the new position wins: the old one was the glitch, or the gap rules apply)."""
        cfg = self.cfg
        if dt >= cfg.gap_check_s or st.rejects >= cfg.glitch_max_rejects:
            st.rejects = 0
            return False
        d = distance_m(last.latitude, last.longitude, fix.latitude, fix.longitude)
        if d > cfg.glitch_min_m and d / dt * 3.6 > cfg.max_speed_kmh:
            st.rejects += 1
            self.stats.glitches += 1
            fix.flight_id = st.flight.id if st.flight is not None else None
            return True
        st.rejects = 0
        return False

    def _fits(self, f: Flight, fix: Fix, dt: float, lower: float) -> bool:
        """Could the aircraft have flown from its last fix to here in dt seconds?
        With lower > 0, it must also have covered that fraction of the distance it
        would have flown at its speed (it did not sit on the ground meanwhile)."""
        last = f.last
        if last is None:
            return True
        v = f.speed_kmh if f.speed_kmh else 300.0
        d_km = distance_m(last.latitude, last.longitude, fix.latitude, fix.longitude) / 1000.0
        hours = dt / 3600.0
        if d_km > hours * max(1.5 * v, v + 100.0):
            return False
        return lower <= 0 or d_km >= lower * v * hours

    def _resumable(self, f: Flight, fix: Fix) -> bool:
        dt = (fix.time - f.last.time).total_seconds() if f.last is not None else -1
        if dt <= 0 or dt > self.cfg.resume_window.total_seconds() or not f.speed_kmh:
            return False
        return self._fits(f, fix, dt, self.cfg.resume_min_fraction)

    def _callsign(self, st: _Track, fix: Fix) -> list:
        """A new non-empty callsign seen on two fixes in a row is the flight's callsign
        from then on (the one before it kept as previous_callsign): an aircraft heard
        all along is on the same flight whatever its callsign says. Only when a silence
        before either fix was long enough to have landed and taken off unseen (see
        _heard_through) does the flight end and a new one start in the air."""
        cs = fix.callsign.strip()
        f = st.flight
        if f is None or not cs:
            st.callsign = cs or st.callsign
            st.pending_callsign = None
            return []
        if not f.callsign:
            f.callsign = st.callsign = cs
            return [UpdateFlight(f.id, {"callsign": cs}, ops.CALLSIGN, f.aircraft_id)]
        if cs == f.callsign:
            st.callsign, st.pending_callsign = cs, None
            return []
        heard = self._heard_through(st, f, fix)
        pending = st.pending_callsign
        if pending is None or pending[0] != cs:
            # One corrupted message is not a new callsign.
            st.pending_callsign = (cs, fix, heard)
            return []
        st.pending_callsign = None
        st.callsign = cs
        if heard and pending[2]:
            old, f.callsign = f.callsign, cs
            return [UpdateFlight(f.id, {"callsign": cs, "previous_callsign": old},
                                 ops.CALLSIGN_CHANGE, f.aircraft_id)]
        first = pending[1]
        out = self._end(st, ops.END_CALLSIGN, first.time)
        new = Flight(flight_id(st.aircraft_id, first.time), st.aircraft_id, first.time, None, cs,
                     launch_method=ops.UNKNOWN)
        first.flight_id = new.id
        self._grow(new, first, _UNKNOWN)
        st.flight, st.airborne, st.anchor = new, True, fix
        st.roll = None                  # the new flight's roll starts with its own fixes
        row = self._row(st, new, first, first)
        row["launch_method"] = ops.UNKNOWN
        out.append(CreateFlight(row, ops.START_CALLSIGN))
        return out

    def _heard_through(self, st: _Track, f: Flight, fix: Fix) -> bool:
        """Was the aircraft heard closely enough up to `fix` to be sure it did not land
        and take off again? Yes when the silence since its last fix is at most
        gap_check_s (2 min), or when over that silence it flew on, by the resume rule:
        it covered at least resume_min_fraction of the distance its speed would have
        taken it (a longer silence it could not have flown through has already ended
        the flight by END_GAP or END_TIMEOUT)."""
        last = st.last
        if last is None:
            return True
        dt = (fix.time - last.time).total_seconds()
        if dt <= self.cfg.gap_check_s:
            return True
        return bool(f.speed_kmh) and self._fits(f, fix, dt, self.cfg.resume_min_fraction)

    def _spurious(self, f: Flight, landed: bool) -> str | None:
        cfg, last = self.cfg, f.last
        if last is None:
            return None
        duration = (last.time - f.started_at).total_seconds()
        if duration >= 10 and f.path_m / duration * 3.6 > cfg.spurious_max_mean_speed_kmh:
            return "impossible_speed"
        # Height above terrain is meaningful for GPS altitudes (OGN), not for ADS-B's
        # barometric ones (never computed for them).
        if not f.adsb and f.max_agl is not None and f.max_agl < cfg.spurious_min_agl_m:
            return "too_low"
        if landed:
            if duration < cfg.spurious_min_duration_s:
                return "too_short"
            if (f.max_alt is not None and f.min_alt is not None
                    and f.max_alt - f.min_alt < cfg.spurious_min_alt_range_m):
                return "no_altitude_change"
        return None

    def _count(self, out: list) -> None:
        for op in out:
            self.stats.counts[op.kind] += 1
            if isinstance(op, CreateFlight) or op.kind == ops.RESUME:
                self.stats.active_flights += 1
            elif op.kind in ops.END_KINDS:
                self.stats.active_flights -= 1
            if isinstance(op, UpdateFlight) and "spurious_reason" in op.values:
                self.stats.spurious[op.values["spurious_reason"]] += 1


def _stub_fix(af: ActiveFlight) -> Fix:
    """The stored last position of a flight that has no fixes to replay."""
    address_type, address = split_aircraft_id(af.aircraft_id)
    return Fix(time=af.last_fix_at, received_at=af.last_fix_at, source=Source(af.source),
               address_type=address_type, address=address,
               latitude=af.last_latitude, longitude=af.last_longitude, altitude_m=None,
               ground_speed_kmh=None, track_deg=None, climb_rate_ms=None,
               turn_rate_degs=None, receiver=None, aircraft_type=af.aircraft_type)
