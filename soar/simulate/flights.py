"""Kinematics and flight programs: one `State` per aircraft per second of data time.

The rule: every flight is physically complete and on real geometry. A takeoff is a
ground roll from the runway end along the runway's heading, a landing touches down
on the centreline past the landing end and rolls out along it to a stop, and the
moments of lift-off and touchdown are what the ground truth records. Nothing
jumps: positions advance by the ground velocity (air velocity plus the wind when
airborne), headings by a bounded turn rate, altitudes by the climb rate.

Each aircraft's program is a generator that yields its State once per second;
the engine steps all of them in lock-step and reads the shared `Clock` for the
time. Positions live in a flat local frame (metres east/north of an airfield),
converted to latitude/longitude only when a State is made; an aircraft flying to
another field re-bases to that field's frame half-way, so both ends are exact.

Launch methods (DOMAIN.md): winch (standstill, a roll of a few seconds, 8-20 m/s
to 300-600 m in 30-60 s), aerotow (glider and tow plane on one runway seconds
apart, 2-5 m/s together for 3-10 min, release 400-1,000 m above the field, the tow
plane then descends fast and lands), self-launch (a normal ground roll, 1.5-4 m/s).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from soar.simulate.airfields import Airfield, RunwayEnd
from soar.units import M_PER_DEG

_DEG = math.pi / 180.0
GLIDER_LINEUP_M = 10.0     # gliders line up this far past the runway end
GLIDER_PUSH_MS = 2.0       # pushed by hand onto the line


class State(NamedTuple):
    """What the aircraft's GPS (or transponder) knows at one second."""
    lat: float
    lon: float
    alt_m: float         # MSL (ADS-B: pressure altitude, taken equal to it)
    gs_kmh: float
    track_deg: float
    climb_ms: float
    turn_degs: float     # positive: turning right
    on_ground: bool


_new_state = tuple.__new__   # skips NamedTuple.__new__'s Python-level wrapper (hot path)


class Clock:
    """Data time shared by all programs: the engine sets `t` (unix seconds) each step."""
    __slots__ = ("t",)

    def __init__(self, t: float):
        self.t = t


class LocalFrame:
    """Equirectangular metres around an origin: exact inverse pair, cheap to convert."""
    __slots__ = ("lat0", "lon0", "kx", "ky")

    def __init__(self, lat0: float, lon0: float):
        self.lat0, self.lon0 = lat0, lon0
        self.ky = M_PER_DEG
        self.kx = M_PER_DEG * math.cos(lat0 * _DEG)

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        return self.lat0 + y / self.ky, self.lon0 + x / self.kx


@dataclass
class Wind:
    from_deg: float
    speed_ms: float

    @property
    def east(self) -> float:     # the air moves toward from_deg + 180
        return -self.speed_ms * math.sin(self.from_deg * _DEG)

    @property
    def north(self) -> float:
        return -self.speed_ms * math.cos(self.from_deg * _DEG)

    def headwind(self, heading_deg: float) -> float:
        """Wind component against a ground heading, m/s (negative: tailwind)."""
        return -(self.east * math.sin(heading_deg * _DEG) + self.north * math.cos(heading_deg * _DEG))


class Strip(NamedTuple):
    """A runway end in a field's local frame: roll from (x, y) along heading."""
    end: RunwayEnd
    x: float
    y: float
    heading: float
    length: float
    ux: float            # unit vector along the heading
    uy: float
    rx: float            # unit vector to the right of it
    ry: float

    def at(self, along: float, right: float = 0.0) -> tuple[float, float]:
        return (self.x + along * self.ux + right * self.rx,
                self.y + along * self.uy + right * self.ry)


@dataclass
class FieldGeo:
    """An airfield as its aircraft use it: local frame, active runway end (into the
    wind), the aerotow queue, and slots for parked aircraft."""
    field: Airfield
    frame: LocalFrame
    elev: float
    strips: list[Strip]
    active: Strip
    tow_queue: deque = field(default_factory=deque)
    slots: int = 0
    # One launch at a time: a launch holds the runway until this data time (a glider
    # club does not winch-launch while an aerotow is rolling).
    runway_free_t: float = 0.0

    @classmethod
    def build(cls, f: Airfield, wind: Wind, max_length: float | None = None) -> FieldGeo:
        frame = LocalFrame(f.latitude, f.longitude)
        strips = []
        for rw in f.runways:
            if max_length is not None and rw.length_m > max_length:
                continue
            for end in rw.ends:
                x, y = frame.xy(end.latitude, end.longitude)
                h = end.heading_deg
                s, c = math.sin(h * _DEG), math.cos(h * _DEG)
                strips.append(Strip(end, x, y, h, rw.length_m, s, c, c, -s))
        if not strips:
            raise ValueError(f"{f.ident}: no runway")
        # The longest runway, from the end facing the wind most.
        longest = max(s.length for s in strips)
        usable = [s for s in strips if s.length >= 0.8 * longest]
        active = max(usable, key=lambda s: (wind.headwind(s.heading), s.end.ident))
        return cls(f, frame, f.elevation_m, strips, active)

    def slot(self) -> int:
        self.slots += 1
        return self.slots - 1


class Body:
    """Position and motion of one aircraft in a local frame."""
    __slots__ = ("frame", "x", "y", "alt", "hdg", "tas", "climb", "turn", "gs", "trk",
                 "ground", "we", "wn")

    def __init__(self, frame: LocalFrame, x: float, y: float, alt: float, hdg: float,
                 wind: Wind):
        self.frame = frame
        self.x, self.y, self.alt = x, y, alt
        self.hdg = hdg % 360.0
        self.tas = 0.0          # m/s through the air (airborne) or over ground (ground)
        self.climb = 0.0
        self.turn = 0.0
        self.gs = 0.0           # m/s over ground
        self.trk = self.hdg
        self.ground = True
        self.we, self.wn = wind.east, wind.north

    def state(self) -> State:
        f = self.frame
        return _new_state(State, (f.lat0 + self.y / f.ky, f.lon0 + self.x / f.kx, self.alt,
                                  self.gs * 3.6, self.trk, self.climb, self.turn, self.ground))

    def rebase(self, frame: LocalFrame) -> None:
        lat, lon = self.frame.latlon(self.x, self.y)
        self.frame = frame
        self.x, self.y = frame.xy(lat, lon)

    # -- one second of motion ---------------------------------------------------------

    def air(self) -> State:
        self.ground = False
        self.hdg = (self.hdg + self.turn) % 360.0
        h = self.hdg * _DEG
        vx = self.tas * math.sin(h) + self.we
        vy = self.tas * math.cos(h) + self.wn
        self.x += vx
        self.y += vy
        self.alt += self.climb
        self.gs = math.hypot(vx, vy)
        self.trk = math.atan2(vx, vy) / _DEG % 360.0
        return self.state()

    def roll(self, heading: float, speed: float) -> State:
        """Move `speed` metres along `heading` on the ground."""
        self.ground = True
        self.turn = (heading - self.trk + 180.0) % 360.0 - 180.0 if speed > 0 else 0.0
        self.hdg = self.trk = heading % 360.0
        h = heading * _DEG
        self.x += speed * math.sin(h)
        self.y += speed * math.cos(h)
        self.gs = self.tas = speed
        self.climb = 0.0
        return self.state()

    def still(self) -> State:
        self.ground = True
        self.gs = self.tas = self.climb = self.turn = 0.0
        return self.state()


def _wrap(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


def _clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


# -- what the programs report -----------------------------------------------------------

@dataclass
class Towline:
    """A glider's link to its tow plane for one aerotow."""
    start_t: float                       # data time the tow plane starts rolling
    rope: float                          # metres of rope
    slack: float                         # the tow plane rolls this far before it pulls
    # The tow plane's path: (path length, x, y, alt, trk, turn, on ground), starting at
    # the glider's line-up point (path length -(rope - slack)).
    path: list = field(default_factory=list)
    released: bool = False
    release_t: float | None = None
    tow: object = None                   # the tow plane's Pilot


class Events:
    """Where programs report takeoffs, landings and tows (the ground truth)."""

    def __init__(self, clock: Clock, sink: Callable[[dict], None]):
        self.clock = clock
        self.sink = sink

    def emit(self, **event) -> None:
        event["t"] = self.clock.t
        self.sink(event)


# -- the pilot: manoeuvres as generators of States --------------------------------------

@dataclass
class Profile:
    """Durations of the phases (data time); the engine sets them from the config."""
    glider_flight_s: tuple[float, float] = (1200.0, 5400.0)   # launch to landing
    powered_flight_s: tuple[float, float] = (600.0, 3600.0)
    wait_s: tuple[float, float] = (120.0, 1800.0)              # on the ground between flights
    xc_fraction: float = 0.3       # powered flights that go to another field
    xc_distance_m: tuple[float, float] = (30_000.0, 120_000.0)
    soaring_radius_m: tuple[float, float] = (5_000.0, 25_000.0)
    # Landings after which a powered aircraft turns round on the runway and back-tracks
    # (small fields without a parallel taxiway); the others vacate ahead at an exit.
    backtrack_fraction: float = 0.2
    # Takeoffs and landings from the first minute of data (a benchmark that scores
    # events early): aircraft that start airborne start near their field at circuit
    # height (within 2 km, 250-500 m above it; gliders go straight to the circuit)
    # instead of up to 15-20 km out, and the first wait on the ground is at most
    # wait_s[0] instead of at least 60 s.
    early_events: bool = False


class Pilot:
    """One aircraft's program and the manoeuvres it is built from."""

    def __init__(self, ident: dict, home: FieldGeo, wind: Wind, clock: Clock, events: Events,
                 rng: random.Random, profile: Profile, fields: list[FieldGeo] | None = None):
        self.ident = ident                # address, type... as the truth names it
        self.home = home
        self.base = home                  # the field it stands at now
        self.wind = wind
        self.clock = clock
        self.events = events
        self.rng = rng
        self.profile = profile
        self.fields = fields or []
        self.flight = 0
        self.go_arounds = 0
        self.body: Body | None = None
        self.link: Towline | None = None  # gliders waiting for / on an aerotow
        self.on_field_change: Callable[[FieldGeo], None] | None = None

    # -- truth ------------------------------------------------------------------------

    def _takeoff(self, strip: Strip, launch: str | None, **extra) -> None:
        self.flight += 1
        self.events.emit(event="takeoff", flight=self.flight, airport=self.base.field.ident,
                         runway=strip.end.ident, launch=launch, **self.ident, **extra)

    def _landing(self, geo: FieldGeo, strip: Strip) -> None:
        self.events.emit(event="landing", flight=self.flight, airport=geo.field.ident,
                         runway=strip.end.ident, **self.ident)
        if geo is not self.base:
            self.base = geo
            if self.on_field_change is not None:
                self.on_field_change(geo)

    # -- ground -----------------------------------------------------------------------

    def stand(self, seconds: float) -> Iterator[State]:
        b = self.body
        st = b.still()
        for _ in range(max(1, round(seconds))):
            yield st

    def stand_until(self, done: Callable[[], bool], ceiling_s: float = 7200.0) -> Iterator[State]:
        b = self.body
        st = b.still()
        for _ in range(round(ceiling_s)):
            if done():
                return
            yield st

    def hold_for_runway(self, geo: FieldGeo, occupy_s: float) -> Iterator[State]:
        """Wait (standing) until no other launch holds the runway, then hold it."""
        st = self.body.still()
        for _ in range(24 * 3600):
            if self.clock.t >= geo.runway_free_t:
                break
            yield st
        geo.runway_free_t = self.clock.t + occupy_s

    def taxi(self, points: list[tuple[float, float]], speed: float) -> Iterator[State]:
        b = self.body
        for px, py in points:
            for _ in range(100_000):
                dx, dy = px - b.x, py - b.y
                d = math.hypot(dx, dy)
                if d < 0.5:
                    b.x, b.y = px, py         # exactly on the spot (a line-up point)
                    break
                yield b.roll(math.atan2(dx, dy) / _DEG, min(speed, d))
        b.still()

    def takeoff_roll(self, strip: Strip, accel: float, v_lof: float) -> Iterator[State]:
        """From standstill on the strip's centreline to lift-off airspeed v_lof (m/s)."""
        b = self.body
        headwind = self.wind.headwind(strip.heading)
        v = 0.0
        for _ in range(600):
            v = v + accel
            if v + headwind >= v_lof:
                break
            yield b.roll(strip.heading, v)
        b.hdg, b.tas, b.turn = strip.heading, v_lof, 0.0

    def fly(self, seconds: float, tas: float, climb: float, turn: float = 0.0,
            ceiling: float | None = None) -> Iterator[State]:
        b = self.body
        b.tas, b.turn = tas, turn
        for _ in range(max(1, round(seconds))):
            b.climb = climb if ceiling is None or b.alt < ceiling else 0.0
            yield b.air()
        b.turn = 0.0

    def goto(self, tx: float, ty: float, tas: float, alt: float, climb_max: float,
             sink_max: float, max_turn: float = 6.0, arrive_m: float = 0.0,
             max_s: float | None = None, accel: float = 1.5) -> Iterator[State]:
        """Steer the ground track to (tx, ty), changing altitude toward `alt` so as to
        arrive there at it (within the climb/sink limits)."""
        b = self.body
        radius = tas / (max_turn * _DEG)
        arrive = max(arrive_m, 1.2 * radius, 100.0)
        limit = max_s if max_s is not None else 3.0 * math.hypot(tx - b.x, ty - b.y) / tas + 600
        for _ in range(round(limit)):
            dx, dy = tx - b.x, ty - b.y
            d = math.hypot(dx, dy)
            err = _wrap(math.atan2(dx, dy) / _DEG - b.trk)
            if d < arrive or (d < 2 * arrive and abs(err) > 100.0):
                break                     # there, or passing abeam it
            b.turn = _clamp(err, -max_turn, max_turn)
            b.climb = _clamp((alt - b.alt) * max(b.gs, 10.0) / d, sink_max, climb_max)
            b.tas += _clamp(tas - b.tas, -accel, accel)
            yield b.air()
        b.turn = 0.0

    def final(self, geo: FieldGeo, strip: Strip, td: float, tas: float, slope: float,
              force: bool = False, max_turn: float = 12.0) -> Iterator[State]:
        """Final approach to the touchdown point `td` metres past the landing end: pure
        pursuit of a point on the centreline a few seconds ahead (constant ground speed,
        bounded turn rate), on a glide slope. Ends on the ground at touchdown and
        returns True; returns False (go around) when not lined up far enough out, or
        too high or off the centreline near the runway, unless `force`."""
        b = self.body
        tdx, tdy = strip.at(td)
        ux, uy, rx, ry = strip.ux, strip.uy, strip.rx, strip.ry
        gs = max(tas - self.wind.headwind(strip.heading), 8.0)
        look = 4.0 * gs
        a = (b.x - tdx) * ux + (b.y - tdy) * uy        # < 0 before touchdown
        lat = (b.x - tdx) * rx + (b.y - tdy) * ry
        if not force and -a < abs(lat) + 6.0 * gs:
            return False
        b.tas = tas
        for _ in range(3600):
            if a >= 0.0:
                break
            ca = a + look
            cx, cy = tdx + ca * ux, tdy + ca * uy
            want = math.atan2(cx - b.x, cy - b.y) / _DEG
            turn = _clamp(_wrap(want - b.trk), -max_turn, max_turn)
            trk = (b.trk + turn) % 360.0
            h = trk * _DEG
            x, y = b.x + gs * math.sin(h), b.y + gs * math.cos(h)
            a = (x - tdx) * ux + (y - tdy) * uy
            lat = (x - tdx) * rx + (y - tdy) * ry
            target = geo.elev - min(a, 0.0) * slope
            near = -a < 8.0 * gs
            if not force and near and (b.alt - target > 40.0 or abs(lat) > 30.0):
                b.turn = 0.0
                return False                       # too high or off the line: go around
            climb = _clamp(target - b.alt, -7.0, 2.0) if a < 0.0 else geo.elev - b.alt
            b.x, b.y, b.alt = x, y, b.alt + climb
            b.climb, b.gs, b.trk, b.hdg, b.turn = climb, gs, trk, trk, turn
            if a < 0.0:
                b.ground = False
                yield b.state()
        b.alt = geo.elev
        b.turn = 0.0
        return True

    def rollout(self, strip: Strip, decel: float, v_end: float = 0.0) -> Iterator[State]:
        """On the ground at touchdown speed, braking along the runway to v_end."""
        b = self.body
        v = b.gs
        for _ in range(600):
            v -= decel
            if v <= v_end:
                break
            yield b.roll(strip.heading, v)
        if v_end > 0:
            return
        yield b.still()

    def circuit(self, geo: FieldGeo, pattern_agl: float, tas: float, final_m: float,
                td: float, slope: float, tas_final: float, width: float = 600.0,
                climb_max: float = 3.0, sink_max: float = -3.0,
                descent_ms: float = 5.0) -> Iterator[State]:
        """Down to circuit height near the field (descending orbits if high), then a
        left-hand circuit to the active runway: downwind, base, final; go around and
        fly it again when the final does not work out. Ends on the ground."""
        s = geo.active
        elev = geo.elev
        d1 = s.at(0.8 * s.length, -width)
        d2 = s.at(-0.5 * final_m, -width)
        f1 = s.at(-final_m)
        for attempt in range(4):
            yield from self.goto(*d1, tas, elev + pattern_agl, climb_max, sink_max,
                                 arrive_m=2000.0)
            yield from self.lose_height(geo, pattern_agl + 50.0, descent_ms, tas)
            yield from self.goto(*d1, tas, elev + pattern_agl, climb_max, sink_max, arrive_m=250.0)
            yield from self.goto(*d2, tas, elev + 0.8 * pattern_agl, min(climb_max, 2.0), sink_max,
                                 arrive_m=200.0)
            yield from self.goto(*f1, tas, elev + final_m * slope, min(climb_max, 1.0), -3.0,
                                 arrive_m=150.0)
            landed = yield from self.final(geo, s, td, tas_final, slope, force=attempt == 3)
            if landed:
                return
            self.go_arounds += 1
            # Go around: straight ahead (climbing if it can), then the circuit again.
            yield from self.fly(30, tas, max(0.0, min(climb_max, 3.0)))

    def lose_height(self, geo: FieldGeo, above: float, sink: float, tas: float) -> Iterator[State]:
        """Circle down (airbrakes, or a descending orbit) until `above` m over the field."""
        b = self.body
        turn = -12.0
        for _ in range(3600):
            if b.alt <= geo.elev + above:
                break
            b.tas, b.turn, b.climb = tas, turn, -sink
            yield b.air()
        b.turn = 0.0

    # -- gliding --------------------------------------------------------------------------

    def soar(self, until_t: float) -> Iterator[State]:
        """Thermal and glide around home until `until_t`, staying within the pilot's
        radius and above 350 m over the field."""
        rng, b, geo = self.rng, self.body, self.home
        radius = rng.uniform(*self.profile.soaring_radius_m)
        cloudbase = geo.elev + rng.uniform(1200.0, 2200.0)
        while self.clock.t < until_t:
            agl = b.alt - geo.elev
            if agl < 450.0 or (agl < cloudbase - geo.elev - 200.0 and rng.random() < 0.45):
                turn = rng.choice((-1.0, 1.0)) * rng.uniform(12.0, 25.0)
                yield from self.fly(rng.uniform(60.0, 240.0), rng.uniform(80.0, 92.0) / 3.6,
                                    rng.uniform(0.8, 3.0), turn, ceiling=cloudbase)
            else:
                d = math.hypot(b.x, b.y)
                if d > radius:
                    tx, ty = 0.0, 0.0
                else:
                    ang = rng.uniform(0.0, 2.0 * math.pi)
                    r = rng.uniform(0.3, 1.0) * radius
                    tx, ty = r * math.sin(ang), r * math.cos(ang)
                yield from self.goto(tx, ty, rng.uniform(90.0, 115.0) / 3.6, geo.elev,
                                     -0.6, -1.2, max_s=rng.uniform(40.0, 150.0))

    def glide_home_and_land(self) -> Iterator[State]:
        rng, b, geo = self.rng, self.body, self.base
        s = geo.active
        entry = s.at(0.8 * s.length, -600.0)
        for _ in range(200):
            d = math.hypot(entry[0] - b.x, entry[1] - b.y)
            if d < 1500.0:
                break
            if b.alt - geo.elev - 300.0 < d / 25.0:      # not enough height: thermal first
                yield from self.fly(rng.uniform(60.0, 120.0), 85 / 3.6, rng.uniform(1.0, 2.5),
                                    rng.choice((-1.0, 1.0)) * rng.uniform(12.0, 25.0))
            else:
                yield from self.goto(*entry, 100 / 3.6, geo.elev + 300.0, -0.7, -1.2,
                                     arrive_m=1500.0, max_s=120.0)
        yield from self.circuit(geo, 280.0, 95 / 3.6, 700.0, rng.uniform(60.0, 150.0),
                                0.14, 85 / 3.6, width=450.0, climb_max=0.0, descent_ms=2.5)
        self._landing(geo, s)
        yield from self.rollout(s, rng.uniform(1.2, 2.2))

    def retrieve(self) -> Iterator[State]:
        """After landing: stand, then pushed/towed back to the launch area at walking
        to car speed."""
        geo = self.base
        yield from self.stand(self.rng.uniform(60.0, 240.0))
        x, y = geo.active.at(self.rng.uniform(0.0, 40.0), 25.0 + 8.0 * (geo.slot() % 6))
        yield from self.taxi([(x, y)], self.rng.uniform(2.5, 4.0))

    # -- programs -------------------------------------------------------------------------

    def _place_on_ground(self, x: float, y: float, hdg: float) -> None:
        self.body = Body(self.base.frame, x, y, self.base.elev, hdg, self.wind)

    def _place_airborne(self, agl_lo: float, agl_hi: float, radius: float, tas: float) -> None:
        rng = self.rng
        ang = rng.uniform(0.0, 2.0 * math.pi)
        r = rng.uniform(0.2, 1.0) * radius
        self.body = Body(self.base.frame, r * math.sin(ang), r * math.cos(ang),
                         self.base.elev + rng.uniform(agl_lo, agl_hi), rng.uniform(0, 360), self.wind)
        self.body.tas = tas
        self.body.ground = False
        self.flight = 0

    def _wait(self, first: bool, start_airborne: bool) -> float:
        lo, hi = self.profile.wait_s
        if first and not start_airborne:
            if self.profile.early_events:
                return self.rng.uniform(0.0, lo)
            return self.rng.uniform(max(60.0, 0.1 * lo), hi)
        return self.rng.uniform(lo, hi)

    def _glider_start(self, start_airborne: bool) -> Iterator[State]:
        """Where a glider's day starts, whatever its launch method: in the air (it then
        finishes that flight and is retrieved) or standing in the launch queue. Returns
        whether the next wait is the day's first."""
        rng, geo = self.rng, self.home
        if start_airborne:
            if self.profile.early_events:
                self._place_airborne(250.0, 500.0, 2000.0, 95 / 3.6)   # straight to the circuit
            else:
                self._place_airborne(400.0, 1500.0, 15_000.0, 95 / 3.6)
                yield from self.soar(self.clock.t + rng.uniform(60.0, self.profile.glider_flight_s[1]))
            yield from self.glide_home_and_land()
            yield from self.retrieve()
            return False
        s = geo.active
        self._place_on_ground(*s.at(rng.uniform(0.0, 40.0), 25.0 + 8.0 * (geo.slot() % 6)),
                              s.heading)
        return True

    def glider_winch(self, start_airborne: bool) -> Iterator[State]:
        rng, geo = self.rng, self.home
        first = yield from self._glider_start(start_airborne)
        while True:
            yield from self.stand(self._wait(first, start_airborne))
            first = False
            s = geo.active
            yield from self.hold_for_runway(geo, 120.0)
            yield from self.taxi([s.at(5.0)], 1.2)            # pushed onto the launch line
            yield from self.stand(rng.uniform(10.0, 40.0))    # hooked on, cable taken up
            self.body.hdg = self.body.trk = s.heading
            yield from self.takeoff_roll(s, rng.uniform(5.0, 8.0), rng.uniform(58, 68) / 3.6)
            # Climb rate r (8-20 m/s) and duration (30-60 s) give a release 300-600 m up.
            r = rng.uniform(8.0, 20.0)
            dur = rng.uniform(max(31.0, 300.0 / r + 1.0), min(60.0, 600.0 / r + 1.0))
            top = min(600.0, max(300.0, r * (dur - 1.0)))
            self._takeoff(s, "winch", climb_ms=round(r, 1), release_height_m=round(top))
            b = self.body
            b.tas = 105 / 3.6
            for i in range(120):
                agl = b.alt - geo.elev
                if agl >= top - 0.5:
                    break
                # Rotation into the steep climb, then the main climb up to the release.
                b.climb = min(r * min(1.0, (i + 1) / 3.0), top - agl)
                yield b.air()
            yield from self.fly(3, 100 / 3.6, -1.0, 0.0)        # release: nose down
            yield from self.soar(self.clock.t + rng.uniform(*self.profile.glider_flight_s))
            yield from self.glide_home_and_land()
            yield from self.retrieve()

    def glider_aerotow(self, start_airborne: bool) -> Iterator[State]:
        rng, geo = self.rng, self.home
        first = yield from self._glider_start(start_airborne)
        while True:
            yield from self.stand(self._wait(first, start_airborne))
            first = False
            self.link = None
            geo.tow_queue.append(self)
            yield from self.stand_until(lambda: self.link is not None, 4 * 3600.0)
            link = self.link
            if link is None:           # no tow plane came: give up for the day
                yield from self.stand(24 * 3600.0)
                continue
            s = geo.active
            yield from self.taxi([s.at(GLIDER_LINEUP_M)], GLIDER_PUSH_MS)
            self.body.hdg = self.body.trk = s.heading
            yield from self.stand_until(lambda link=link: self.clock.t >= link.start_t, 600.0)
            yield from self.follow(link, s)
            yield from self.soar(self.clock.t + rng.uniform(*self.profile.glider_flight_s))
            yield from self.glide_home_and_land()
            yield from self.retrieve()

    def follow(self, link: Towline, s: Strip) -> Iterator[State]:
        """On the rope: the glider moves along the tow plane's path, a rope length behind
        it once the slack is taken up; it lifts off first and hovers a few metres up
        until the tow plane follows."""
        b, geo, rng = self.body, self.home, self.rng
        headwind = self.wind.headwind(s.heading)
        v_lof = rng.uniform(55.0, 65.0) / 3.6
        path = link.path
        sigma0 = -(link.rope - link.slack)
        sg_prev = sigma0
        airborne = False
        hover = 0.0
        for _ in range(7200):
            if link.released:
                break
            sg = max(sigma0, path[-1][0] - link.rope) if path else sigma0
            if sg <= sigma0:
                yield b.still()
                continue
            # The tow plane's path at the glider's path length.
            i = bisect_right(path, (sg,)) - 1
            p0 = path[max(i, 0)]
            p1 = path[min(i + 1, len(path) - 1)]
            span = p1[0] - p0[0]
            w = (sg - p0[0]) / span if span > 0 else 0.0
            x = p0[1] + w * (p1[1] - p0[1])
            y = p0[2] + w * (p1[2] - p0[2])
            tow_alt = p0[3] + w * (p1[3] - p0[3])
            gs = sg - sg_prev
            sg_prev = sg
            if not airborne and gs + headwind >= v_lof:
                airborne = True
                self._takeoff(s, "aerotow", tow_address=link.tow.ident["address"],
                              tow_address_type=link.tow.ident["address_type"])
            alt = geo.elev
            if airborne:
                hover = min(hover + 1.0, 3.0)
                alt = geo.elev + hover if p1[6] else max(geo.elev + hover, tow_alt + 2.0)
            vx, vy = x - b.x, y - b.y
            trk = math.atan2(vx, vy) / _DEG % 360.0 if gs > 0.3 else b.trk
            b.turn = _wrap(trk - b.trk)
            b.climb = alt - b.alt
            b.x, b.y, b.alt, b.trk, b.hdg = x, y, alt, trk, trk
            b.gs = math.hypot(vx, vy)
            b.ground = not airborne
            yield b.state()
        # Released: turn right, away from the tow plane, and fly on as a glider.
        b.tas = 95 / 3.6
        b.hdg = b.trk
        self.events.emit(event="tow", glider_flight=self.flight,
                         tow_flight=link.tow.flight, release_height_m=round(b.alt - geo.elev),
                         release_altitude_m=round(b.alt), airport=geo.field.ident,
                         glider_address=self.ident["address"],
                         glider_address_type=self.ident["address_type"],
                         tow_address=link.tow.ident["address"],
                         tow_address_type=link.tow.ident["address_type"])
        yield from self.fly(4, 95 / 3.6, 0.5, 15.0)
        self.link = None

    def tow_plane(self, start_airborne: bool) -> Iterator[State]:
        rng, geo = self.rng, self.home
        s = geo.active
        park = s.at(rng.uniform(-20.0, 10.0), -40.0 - 10.0 * (geo.slot() % 4))
        self._place_on_ground(*park, (s.heading + 90.0) % 360.0)
        while True:
            g = None
            st = self.body.still()
            for _ in range(24 * 3600):
                if geo.tow_queue:
                    g = geo.tow_queue.popleft()
                    break
                yield st
            if g is None:
                continue
            yield from self.hold_for_runway(geo, 600.0)
            s = geo.active
            rope = rng.uniform(40.0, 60.0)
            slack = rng.uniform(4.0, 10.0)
            lineup = s.at(GLIDER_LINEUP_M + rope - slack)
            d = math.hypot(lineup[0] - self.body.x, lineup[1] - self.body.y) + 30.0
            gx, gy = s.at(GLIDER_LINEUP_M)
            dg = math.hypot(gx - g.body.x, gy - g.body.y)
            # Both in place (tow plane taxiing at 4 m/s, glider pushed at 2 m/s), then go.
            link = Towline(self.clock.t + max(d / 4.0, dg / GLIDER_PUSH_MS) + rng.uniform(20.0, 40.0),
                           rope, slack, tow=self)
            link.path.append((-(rope - slack), gx, gy, geo.elev, s.heading, 0.0, True))
            g.link = link
            geo.runway_free_t = link.start_t + 60.0
            yield from self.taxi([s.at(GLIDER_LINEUP_M + rope - slack - 30.0, -12.0), lineup], 4.0)
            self.body.hdg = self.body.trk = s.heading
            yield from self.stand_until(lambda link=link: self.clock.t >= link.start_t, 600.0)
            yield from self.tow(link, s)
            yield from self.circuit(geo, 250.0, 150 / 3.6, 1000.0, rng.uniform(80.0, 200.0),
                                    0.1, 110 / 3.6, width=500.0, climb_max=0.0, sink_max=-7.0,
                                    descent_ms=7.0)
            self._landing(geo, geo.active)
            yield from self.rollout(geo.active, rng.uniform(1.5, 2.5), 5.0)
            yield from self.vacate(geo.active, 5.0)
            park = geo.active.at(rng.uniform(-20.0, 10.0), -40.0 - 10.0 * (geo.slot() % 4))
            yield from self.taxi([geo.active.at(self._along(geo.active), -40.0), park], 5.0)
            yield from self.stand(rng.uniform(30.0, 120.0))

    def _along(self, s: Strip) -> float:
        b = self.body
        return (b.x - s.x) * s.ux + (b.y - s.y) * s.uy

    def tow(self, link: Towline, s: Strip) -> Iterator[State]:
        """Tow plane with a glider: roll, climb at 2-5 m/s for 3-10 min in gentle turns
        near the field, release 400-1,000 m above it, then dive away to the circuit."""
        rng, b, geo = self.rng, self.body, self.home
        height = rng.uniform(400.0, 1000.0)
        dur = rng.uniform(max(180.0, height / 5.0), min(600.0, height / 2.0))
        rate = height / dur
        path = link.path
        sp = 0.0
        path.append((0.0, b.x, b.y, b.alt, s.heading, 0.0, True))
        headwind = self.wind.headwind(s.heading)
        v = 0.0
        for _ in range(600):
            v += rng.uniform(1.8, 2.4)
            if v + headwind >= 95 / 3.6:
                break
            st = b.roll(s.heading, v)
            sp += v
            path.append((sp, b.x, b.y, b.alt, b.trk, 0.0, True))
            yield st
        self._takeoff(s, None)
        b.hdg, b.tas = s.heading, 120 / 3.6
        turn_plan: deque = deque()
        for i in range(3600):
            agl = b.alt - geo.elev
            if agl >= height - 0.5:      # (the last step climbs exactly the remainder)
                break
            if i > 60 and not turn_plan and rng.random() < 0.02:
                # A gentle 90-180 degree turn, keeping the tow within a few km of the field.
                d = math.hypot(b.x, b.y)
                to_home = _wrap(math.atan2(-b.x, -b.y) / _DEG - b.hdg)
                side = 1.0 if (to_home > 0 if d > 3000 else rng.random() < 0.5) else -1.0
                turn_plan.extend([side * 3.0] * round(rng.uniform(30.0, 60.0)))
            b.turn = turn_plan.popleft() if turn_plan else 0.0
            # Climb ramps up over the first 10 s after lift-off.
            b.climb = min(rate * (i + 1) / 10.0, rate, height - agl)
            prev = (b.x, b.y)
            st = b.air()
            sp += math.hypot(b.x - prev[0], b.y - prev[1])
            path.append((sp, b.x, b.y, b.alt, b.trk, b.turn, False))
            yield st
        link.released = True
        link.release_t = self.clock.t
        # Tow plane: turn left and descend fast toward the circuit.
        yield from self.fly(6, 140 / 3.6, -2.0, -15.0)
        yield from self.fly(rng.uniform(20.0, 40.0), 160 / 3.6, rng.uniform(-8.0, -5.0))

    def powered(self, start_airborne: bool, self_launch_glider: bool = False) -> Iterator[State]:
        """GA aircraft (or a self-launching motor glider): taxi out, take off, a local
        flight or circuits, or a cross-country to another field; land, taxi in."""
        rng = self.rng
        first = True
        if start_airborne:
            if self.profile.early_events:
                self._place_airborne(250.0, 500.0, 2000.0, 160 / 3.6)
                until = self.clock.t + rng.uniform(0.0, self.profile.powered_flight_s[0])
            else:
                self._place_airborne(300.0, 1500.0, 20_000.0, 160 / 3.6)
                until = self.clock.t + rng.uniform(60.0, self.profile.powered_flight_s[1])
            yield from self._local_flight(until, self_launch_glider)
            yield from self._land_and_taxi_in(self_launch_glider)
            first = False
        else:
            geo = self.base
            self._place_on_ground(*self._parking(geo), geo.active.heading)
        while True:
            yield from self.stand(self._wait(first, start_airborne))
            first = False
            geo = self.base
            s = geo.active
            speed = rng.uniform(4.0, 7.0)
            yield from self.taxi([s.at(self._along(s), -20.0), s.at(-10.0, -20.0)], speed)
            yield from self.hold_for_runway(geo, 90.0)
            yield from self.taxi([s.at(0.0)], speed)
            self.body.hdg = self.body.trk = s.heading
            yield from self.stand(rng.uniform(5.0, 30.0))     # run-up, line-up
            if self_launch_glider:
                yield from self.takeoff_roll(s, rng.uniform(1.2, 1.8), 75 / 3.6)
                self._takeoff(s, "self")
                top = geo.elev + rng.uniform(500.0, 1000.0)
                rate = rng.uniform(1.5, 3.0)
                yield from self.fly(20, 90 / 3.6, rate)
                yield from self.goto(rng.uniform(-3000, 3000), rng.uniform(-3000, 3000),
                                     90 / 3.6, top, rate, 0.0, max_s=(top - self.body.alt) / rate)
                yield from self.soar(self.clock.t + rng.uniform(*self.profile.glider_flight_s))
                yield from self.glide_home_and_land()
                yield from self._taxi_in()
                continue
            yield from self.takeoff_roll(s, rng.uniform(1.8, 2.6), rng.uniform(95.0, 110.0) / 3.6)
            self._takeoff(s, "self")
            yield from self.fly(15, 130 / 3.6, rng.uniform(2.5, 4.0))
            others = [f for f in self.fields if f is not geo and
                      self.profile.xc_distance_m[0] <= _dist(f, geo) <= self.profile.xc_distance_m[1]]
            if others and rng.random() < self.profile.xc_fraction:
                yield from self._cross_country(rng.choice(others))
            else:
                yield from self._local_flight(self.clock.t + rng.uniform(*self.profile.powered_flight_s),
                                              False)
                yield from self._land_and_taxi_in(False)

    def _parking(self, geo: FieldGeo) -> tuple[float, float]:
        return geo.active.at(self.rng.uniform(100.0, 200.0), -80.0 - 12.0 * (geo.slot() % 8))

    def _local_flight(self, until_t: float, glider: bool) -> Iterator[State]:
        if glider:
            yield from self.soar(until_t)
            return
        rng, geo = self.rng, self.base
        alt = geo.elev + rng.uniform(600.0, 1500.0)
        while self.clock.t < until_t:
            ang = rng.uniform(0.0, 2.0 * math.pi)
            r = rng.uniform(2000.0, 20_000.0)
            yield from self.goto(r * math.sin(ang), r * math.cos(ang), rng.uniform(160, 210) / 3.6,
                                 alt, 3.0, -3.0, max_s=min(600.0, max(30.0, until_t - self.clock.t)))

    def _land_and_taxi_in(self, glider: bool) -> Iterator[State]:
        if glider:
            yield from self.glide_home_and_land()
        else:
            geo = self.base
            yield from self.circuit(geo, 300.0, 150 / 3.6, 1300.0, self.rng.uniform(150.0, 300.0),
                                    0.09, 120 / 3.6)
            self._landing(geo, geo.active)
            yield from self.rollout(geo.active, self.rng.uniform(1.5, 2.5), 5.0)
        yield from self._taxi_in()

    def _taxi_in(self) -> Iterator[State]:
        geo = self.base
        s = geo.active
        park = self._parking(geo)
        speed = self.rng.uniform(4.0, 6.0)
        yield from self.vacate(s, speed)
        yield from self.taxi([s.at(self._along(s), -30.0), park], speed)

    def vacate(self, s: Strip, speed: float) -> Iterator[State]:
        """After the roll-out: on along the runway at taxi speed to the next exit, or
        (small fields without a taxiway, `backtrack_fraction` of landings) turn round
        and back-track on the runway toward its start."""
        along = self._along(s)
        if self.rng.random() < self.profile.backtrack_fraction:
            yield from self.taxi([s.at(max(0.0, along - self.rng.uniform(100.0, 300.0)))], speed)
        else:
            exit_at = min(along + self.rng.uniform(60.0, 200.0), max(along, s.length - 20.0))
            yield from self.taxi([s.at(exit_at)], speed)

    def _cross_country(self, dest: FieldGeo) -> Iterator[State]:
        rng, b = self.rng, self.body
        cruise = max(dest.elev, self.base.elev) + rng.uniform(900.0, 1800.0)
        tas = rng.uniform(180.0, 230.0) / 3.6
        dx, dy = self.base.frame.xy(dest.field.latitude, dest.field.longitude)
        # Half-way the aircraft changes to the destination's frame (and receivers).
        yield from self.goto(dx / 2, dy / 2, tas, cruise, 3.0, -3.0, arrive_m=2000.0)
        b.rebase(dest.frame)
        self.base = dest
        if self.on_field_change is not None:
            self.on_field_change(dest)
        yield from self.goto(0.0, 0.0, tas, dest.elev + 600.0, 3.0, -4.0, arrive_m=4000.0)
        yield from self.circuit(dest, 300.0, 150 / 3.6, 1300.0, rng.uniform(150.0, 300.0),
                                0.09, 120 / 3.6)
        self._landing(dest, dest.active)
        yield from self.rollout(dest.active, rng.uniform(1.5, 2.5), 5.0)
        yield from self._taxi_in()

    def airliner(self, start_airborne: bool) -> Iterator[State]:
        """From a stand to the runway, takeoff roll to ~150 kt, climb to cruise, fly to
        another large airport, straight-in approach on a 3 degree slope, land, vacate,
        taxi to a stand; turn around and fly on."""
        rng = self.rng
        first = True
        if start_airborne:
            dest = self._destination()
            self.body = Body(self.base.frame, 0.0, 0.0, self.base.elev, 0.0, self.wind)
            # Somewhere along the route at cruise: between 10 % and 90 % of the way.
            dx, dy = self.base.frame.xy(dest.field.latitude, dest.field.longitude)
            f = rng.uniform(0.1, 0.9)
            b = self.body
            b.x, b.y, b.alt = dx * f, dy * f, rng.uniform(9500.0, 11500.0)
            b.hdg = b.trk = math.atan2(dx, dy) / _DEG % 360.0
            b.tas, b.ground = 230.0, False
            self.flight = 0
            yield from self._airliner_enroute(dest)
            first = False
        else:
            geo = self.base
            self._place_on_ground(*self._stand_pos(geo), (geo.active.heading + 90) % 360)
        while True:
            yield from self.stand(self._wait(first, start_airborne) if first else
                                  rng.uniform(1800.0, 3600.0))
            first = False
            geo = self.base
            s = geo.active
            speed = rng.uniform(7.0, 10.0)
            yield from self.taxi([s.at(self._along(s), -150.0), s.at(-60.0, -150.0)], speed)
            yield from self.hold_for_runway(geo, 60.0)
            yield from self.taxi([s.at(0.0)], speed)
            self.body.hdg = self.body.trk = s.heading
            yield from self.stand(rng.uniform(10.0, 40.0))
            yield from self.takeoff_roll(s, rng.uniform(1.8, 2.4), rng.uniform(140.0, 160.0) * 0.5144)
            self._takeoff(s, None)
            yield from self.fly(30, 85.0, 12.0)
            yield from self._airliner_enroute(self._destination())

    def _destination(self) -> FieldGeo:
        geo = self.base
        others = [f for f in self.fields if f is not geo and 150_000.0 <= _dist(f, geo) <= 900_000.0]
        if not others:
            others = [f for f in self.fields if f is not geo] or [geo]
        return self.rng.choice(others)

    def _stand_pos(self, geo: FieldGeo) -> tuple[float, float]:
        return geo.active.at(self.rng.uniform(300.0, 900.0), -250.0 - 40.0 * (geo.slot() % 10))

    def _airliner_enroute(self, dest: FieldGeo) -> Iterator[State]:
        rng, b = self.rng, self.body
        cruise = rng.choice((9450.0, 10050.0, 10650.0, 11250.0, 11850.0))
        dx, dy = b.frame.xy(dest.field.latitude, dest.field.longitude)
        # Climb and cruise to the middle of the route, in the departure frame.
        mx, my = (dx + b.x) / 2, (dy + b.y) / 2
        yield from self.goto(mx, my, 230.0, cruise, 12.0, -8.0, max_turn=2.5, arrive_m=5000.0)
        b.rebase(dest.frame)
        self.base = dest
        s = dest.active
        # Descent at ~8 m/s to 900 m over the field 30 km out on the extended centreline.
        iaf = s.at(-30_000.0)
        f1 = s.at(-12_000.0)
        tod = (b.alt - dest.elev - 900.0) / 8.0 * 200.0
        d = math.hypot(iaf[0] - b.x, iaf[1] - b.y)
        if d > tod:
            # Fly on at cruise level to the top of descent.
            ux, uy = (iaf[0] - b.x) / d, (iaf[1] - b.y) / d
            yield from self.goto(iaf[0] - ux * tod, iaf[1] - uy * tod, 230.0, b.alt, 0.0, 0.0,
                                 max_turn=2.5, arrive_m=5000.0)
        yield from self.goto(*iaf, 150.0, dest.elev + 900.0, 0.0, -12.0, max_turn=3.0,
                             arrive_m=4000.0)
        yield from self.goto(*f1, 85.0, dest.elev + 630.0, 0.0, -6.0, max_turn=3.0,
                             arrive_m=2500.0)
        td = rng.uniform(300.0, 450.0)
        for attempt in range(4):
            landed = yield from self.final(dest, s, td, 72.0, 0.0524, force=attempt == 3,
                                           max_turn=3.0)
            if landed:
                break
            self.go_arounds += 1
            # Missed approach: climb out straight ahead, back to the 12 km point.
            yield from self.fly(60, 80.0, 8.0)
            yield from self.goto(*s.at(-25_000.0, -6000.0), 100.0, dest.elev + 1200.0, 5.0, -6.0,
                                 max_turn=3.0, arrive_m=3000.0)
            yield from self.goto(*f1, 85.0, dest.elev + 630.0, 0.0, -6.0, max_turn=3.0,
                                 arrive_m=2500.0)
        self._landing_airliner(dest, s)
        yield from self.rollout(s, rng.uniform(1.8, 2.6), 9.0)
        yield from self.vacate(s, 9.0)
        yield from self.taxi([s.at(self._along(s), -150.0), self._stand_pos(dest)],
                             rng.uniform(7.0, 10.0))

    def _landing_airliner(self, dest: FieldGeo, s: Strip) -> None:
        self.events.emit(event="landing", flight=self.flight, airport=dest.field.ident,
                         runway=s.end.ident, **self.ident)


def _dist(a: FieldGeo, b: FieldGeo) -> float:
    x, y = a.frame.xy(b.field.latitude, b.field.longitude)
    return math.hypot(x, y)
