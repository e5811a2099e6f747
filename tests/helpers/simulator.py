"""A flight simulator for the tracker tests: aircraft that stand, roll, climb, circle
and land, reporting fixes shaped like the real thing (reporting intervals, GPS noise,
wind), and the scenarios several test modules share (winch launch, aerotow, airliner
through a coverage hole)."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

from soar.records import Fix, Source
from soar.tracker import CreateFlight, FlightTracker, TrackerConfig
from soar.units import distance_m

T0 = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)
FIELD = (47.8287, 11.465, 600.0)          # a gliding field: lat, lon, elevation (m)
M_PER_DEG = 111_195.0


class Sim:
    """One aircraft moving through the air; each step yields the fix a tracker
    would report (rounded like OGN: 1 km/h, 0.1 m/s, 1 m; a few metres of GPS noise)."""

    def __init__(self, address: int, aircraft_type: int | None = 1, *, lat=FIELD[0],
                 lon=FIELD[1], alt=FIELD[2], t=T0, source=Source.OGN, address_type=2,
                 callsign=None, seed=1):
        self.address, self.aircraft_type, self.source = address, aircraft_type, source
        self.address_type, self.callsign = address_type, callsign
        self.lat, self.lon, self.alt, self.t = lat, lon, alt, t
        self.rng = random.Random(seed)
        self.fixes: list[Fix] = []

    def fly(self, dt: float, ve_kmh: float, vn_kmh: float, climb: float = 0.0,
            turn: float | None = 0.0, on_ground: bool | None = None, noise: bool = True) -> Fix:
        self.t += timedelta(seconds=dt)
        self.lat += vn_kmh / 3.6 * dt / M_PER_DEG
        self.lon += ve_kmh / 3.6 * dt / (M_PER_DEG * math.cos(math.radians(self.lat)))
        self.alt += climb * dt
        n = self.rng.gauss if noise else (lambda mu, s: mu)
        speed = max(0.0, math.hypot(ve_kmh, vn_kmh) + n(0, 0.7))
        track = math.degrees(math.atan2(ve_kmh, vn_kmh)) % 360
        fix = Fix(time=self.t, received_at=self.t + timedelta(seconds=1), source=self.source,
                  address_type=self.address_type, address=self.address,
                  latitude=self.lat + n(0, 3) / M_PER_DEG, longitude=self.lon + n(0, 3) / M_PER_DEG,
                  altitude_m=round(self.alt + n(0, 2)), ground_speed_kmh=round(speed),
                  track_deg=round(track), climb_rate_ms=round(climb + n(0, 0.1), 1),
                  turn_rate_degs=None if turn is None else round(turn + n(0, 0.3), 1),
                  receiver="Koenigsdf", on_ground=on_ground, aircraft_type=self.aircraft_type,
                  callsign=self.callsign)
        self.fixes.append(fix)
        return fix

    def straight(self, duration: float, dt: float, speed: float, track: float = 270.0,
                 climb: float = 0.0, **kw) -> None:
        steps = max(1, round(duration / dt))
        for _ in range(steps):
            r = math.radians(track)
            self.fly(dt, speed * math.sin(r), speed * math.cos(r), climb, **kw)

    def stand(self, duration: float, dt: float, **kw) -> None:
        for _ in range(max(1, round(duration / dt))):
            self.fly(dt, self.rng.uniform(-1.5, 1.5), self.rng.uniform(-1.5, 1.5), 0.0, **kw)

    def accelerate(self, v0: float, v1: float, duration: float, dt: float, track=270.0,
                   climb=0.0, **kw) -> None:
        steps = max(1, round(duration / dt))
        for i in range(1, steps + 1):
            self.straight(dt, dt, v0 + (v1 - v0) * i / steps, track, climb, **kw)


def run(fixes, tracker=None, expire_every: float | None = 60.0):
    """Feed fixes in order (calling expire like the pipeline does); returns ops."""
    tr = tracker or FlightTracker(TrackerConfig())
    out, last_expire = [], None
    for f in fixes:
        out += tr.process(f)
        if expire_every is not None:
            if last_expire is None or (f.time - last_expire).total_seconds() >= expire_every:
                last_expire = f.time
                out += tr.expire(f.time)
    return out


def kinds(ops):
    return [op.kind for op in ops]


def creates(ops):
    return [op for op in ops if isinstance(op, CreateFlight)]


def field_terrain(elevation=FIELD[2], radius=5000.0):
    def terrain(lat, lon):
        return elevation if distance_m(lat, lon, FIELD[0], FIELD[1]) <= radius else None
    return terrain


def merge(*sims):
    return sorted((f for s in sims for f in s.fixes), key=lambda f: f.time)


def winch_into_headwind(wind_kmh=45.0, seed=3) -> tuple[Sim, datetime, datetime]:
    """Winch launch into a strong headwind: ground speed stays below the takeoff
    speed during the climb; the rope breaks at ~130 m and the glider lands straight
    ahead. Returns the sim and the true lift-off and touchdown times."""
    g = Sim(0xDD1234, 1, seed=seed)
    g.stand(300, 20)                                   # waiting on the launch point
    g.accelerate(0, 30, 3, 1)                          # ground roll, 30 km/h over ground
    liftoff = g.t
    for climb in (4, 10, 15, 16, 16, 15, 14, 13, 12, 10, 6):   # steep winch climb
        g.straight(1, 1, 95 - wind_kmh, climb=climb)
    g.straight(2, 1, 70 - wind_kmh, climb=-3)          # rope breaks: nose down
    g.straight(30, 1, 95 - wind_kmh, climb=-3.5)       # straight ahead, still into wind
    g.straight(5, 1, 80 - wind_kmh, climb=-1.5)        # round out
    touchdown = g.t
    g.accelerate(30, 0, 8, 1)                          # ground run
    g.stand(600, 20)
    return g, liftoff, touchdown


def copy_fix(f: Fix, **kw) -> Fix:
    d = {s: getattr(f, s) for s in Fix.__slots__}
    d.update(kw, flight_id=None)
    return Fix(**d)


def airliner(t=T0, seed=31, address=0x4CA123, callsign="EIN123"):
    return Sim(address, None, lat=50.0, lon=0.0, alt=11000, t=t, source=Source.ADSB,
               address_type=1, callsign=callsign, seed=seed)


def after_hole(gap_min: float, distance_km: float, seed=37):
    a = airliner(seed=seed)
    a.straight(600, 1, 850, track=90, on_ground=False)
    # Silent through the coverage hole, then reappears `distance_km` further east.
    a.t += timedelta(minutes=gap_min)
    a.lon += distance_km * 1000 / (M_PER_DEG * math.cos(math.radians(a.lat)))
    a.straight(120, 1, 850, track=90, on_ground=False)
    return a


def aerotow(glider_delay_s=1.0, glider_address=0xDDA001):
    tow = Sim(0xDDB002, 2, seed=47)
    glider = Sim(glider_address, 1, lon=FIELD[1] - 0.0008, seed=53)   # 60 m behind
    tow.stand(600, 20)
    glider.stand(600, 20)
    glider.t += timedelta(seconds=glider_delay_s)           # its fixes fall at other times
    for s, dt in ((tow, 1), (glider, 2)):
        s.accelerate(0, 100, 16, dt, track=90)              # roll together on the rope
        s.straight(240, dt, 115, track=90, climb=3.0)       # tow to ~720 m above the field
    peak = tow.t
    tow.straight(120, 1, 160, track=270, climb=-6.0)        # released: tow plane dives away
    for i in range(60):                                     # glider circles in a thermal
        a = math.radians(i * 24)
        glider.fly(2, 85 * math.sin(a), 85 * math.cos(a), climb=1.5, turn=12)
    return tow, glider, peak


