"""The simulation: who flies where, and every second what each receiver reports.

The rule: output is deterministic for a given config (seed, start, counts), and
ordered by receive time, one second at a time, so a recording replays like a live
feed and a live server can pace it. Per fix, the work shared by all receivers is
done once (the APRS body, the state); a receiver only adds its name and signal,
which keeps generation far faster than real time at 25,000 lines/s.

Population: OGN aircraft (gliders launched by aerotow or winch, motor gliders,
tow planes, powered aircraft) spread over real small fields in the region, about
`aircraft_per_field` per field; ADS-B aircraft (airliners between large airports,
light aircraft with ADS-B out) heard by one Beast feed. With `rate` set, the number
of OGN aircraft follows from the lines each one makes per second (receivers in
range x fixes heard).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from soar.errors import SoarError
from soar.simulate import aprs_encode, modes_encode, receivers
from soar.simulate.airfields import REGIONS, Airfield, airliner_fields, glider_fields, load_cached
from soar.simulate.flights import Clock, Events, FieldGeo, Pilot, Profile, State, Wind
from soar.units import FEET_TO_M, M_PER_DEG, UTC

# Kinds of aircraft, as the ground truth names them.
GLIDER_AEROTOW = "glider_aerotow"
GLIDER_WINCH = "glider_winch"
MOTOR_GLIDER = "motor_glider"
TOW_PLANE = "tow_plane"
POWERED = "powered"
AIRLINER = "airliner"
ADSB_GA = "adsb_ga"

# OGN aircraft type and APRS destination call per kind.
_OGN_TYPE = {GLIDER_AEROTOW: 1, GLIDER_WINCH: 1, MOTOR_GLIDER: 1, TOW_PLANE: 2, POWERED: 8,
             ADSB_GA: 8, AIRLINER: 9}
# Mean APRS lines per OGN aircraft per second (receivers in range x fixes heard),
# measured on generated traffic; sets the aircraft count for a target rate.
LINES_PER_AIRCRAFT_S = 1.65
SERVER_LINE_EVERY_S = 20
BEACON_EVERY_S = 300
# Airline ICAO codes and national ICAO address blocks (start, size, registration prefix).
_AIRLINES = ("DLH", "AFR", "BAW", "KLM", "EZY", "RYR", "SWR", "AUA", "EWG", "IBE", "SAS", "LOT",
             "TAP", "AZA", "BEL", "CFG", "TRA", "WZZ", "VLG", "FIN")
_ICAO_BLOCKS = ((0x3C0000, 0x40000, "D"), (0x380000, 0x40000, "F"), (0x400000, 0x40000, "G"),
                (0x440000, 0x8000, "OE"), (0x4B0000, 0x8000, "HB"), (0x480000, 0x8000, "PH"),
                (0x300000, 0x40000, "I"), (0x340000, 0x40000, "EC"), (0x488000, 0x8000, "SP"))


@dataclass
class SimConfig:
    start: datetime                          # data time of the first second, UTC
    duration_s: int = 600                    # seconds of data
    aircraft: int | None = None              # OGN aircraft; None: from `rate` (or 100)
    rate: float | None = None                # target APRS lines/s (sets `aircraft`)
    beast_aircraft: int = 0                  # ADS-B aircraft on the Beast feed
    seed: int = 1
    region: tuple[float, float, float, float] = REGIONS["europe"]   # S, W, N, E degrees
    airborne_fraction: float = 0.5           # aircraft already flying at the start
    aircraft_per_field: int = 30             # OGN aircraft per airfield (fields follow)
    # Shares of the OGN aircraft; tow planes: one per `gliders_per_tow_plane` aerotow gliders.
    share_aerotow: float = 0.35
    share_winch: float = 0.25
    share_motor_glider: float = 0.10
    share_powered: float = 0.30
    gliders_per_tow_plane: int = 6
    share_adsb_ga: float = 0.2               # of the ADS-B aircraft; the rest are airliners
    adsb_ga_flarm: bool = True               # ADS-B light aircraft also carry a FLARM (ICAO id)
    wind_kmh: tuple[float, float] = (0.0, 25.0)
    profile: Profile = field(default_factory=Profile)
    receivers_per_field: int = 4

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=UTC)
        self.start = self.start.replace(microsecond=0)
        if self.duration_s <= 0:
            raise SoarError("--duration must be positive (seconds of data)")
        if self.aircraft is None:
            self.aircraft = (max(1, round(self.rate / LINES_PER_AIRCRAFT_S))
                             if self.rate else (0 if self.beast_aircraft else 100))
        if self.aircraft < 0 or self.beast_aircraft < 0:
            raise SoarError("--aircraft and --beast-aircraft cannot be negative")
        if not 0.0 <= self.airborne_fraction <= 1.0:
            raise SoarError("--airborne-fraction is a fraction: between 0 and 1")


class Second(NamedTuple):
    """Everything received during one second [second, second + 1) of data time,
    ordered by receive time."""
    second: int
    aprs: list          # (receive time, raw APRS line)
    frames: list        # (receive time, Mode-S frame bytes, signal byte)


def _squawk(rng: random.Random, first: str | None = None) -> str:
    """A Mode-A code: four octal digits (VFR light aircraft squawk 7000)."""
    if first is not None:
        return first + "000"
    return "".join(str(rng.randint(1 if i == 0 else 0, 7)) for i in range(4))


class _Ogn:
    """An aircraft's OGN transmitter: its line parts and the receivers that hear it,
    as (lat, lon, metres per degree of longitude, lag, "SOURCE>DEST,qAS,RECEIVER")."""
    __slots__ = ("line", "receivers", "k", "last", "rest", "strong", "weak")

    def __init__(self, line: aprs_encode.AircraftLine, rxs: list, khz: float, k: int,
                 rng: random.Random):
        self.line, self.k = line, k
        self.set_receivers(rxs)
        self.last: State | None = None
        self.rest = ""
        # Eight variants of the tail after the signal: frequency offset jitter, and bit
        # errors on weak signals.
        self.strong = [f" 0e {khz + 0.6 * i / 8 - 0.3:+.1f}kHz{line.tail}" for i in range(8)]
        self.weak = [f" {rng.randint(0, 3)}e {khz + 0.6 * i / 8 - 0.3:+.1f}kHz{line.tail}"
                     for i in range(8)]

    def set_receivers(self, rxs: list) -> None:
        self.receivers = [(rx.lat, rx.lon, rx.kx, rx.lag_s, self.line.head + rx.name)
                          for rx in rxs]


class _Adsb:
    __slots__ = ("icao", "callsign", "category", "phase", "odd", "signal", "squawk")

    def __init__(self, icao: int, callsign: str, category: int, phase: int, signal: int,
                 squawk: str):
        self.icao, self.callsign, self.category = icao, callsign, category
        self.phase, self.odd, self.signal, self.squawk = phase, 0, signal, squawk


@dataclass
class SimAircraft:
    kind: str
    address_type: int
    address: int
    aircraft_type: int
    callsign: str | None
    home: str
    pilot: Pilot
    gen: Iterator[State]
    ogn: _Ogn | None = None
    adsb: _Adsb | None = None
    state: State | None = None

    def describe(self) -> dict:
        return {"event": "aircraft", "kind": self.kind, "address": f"{self.address:06X}",
                "address_type": self.address_type, "aircraft_type": self.aircraft_type,
                "callsign": self.callsign, "airport": self.home,
                "ogn": self.ogn is not None, "adsb": self.adsb is not None}


class Simulation:
    """Build once from a config; iterate `seconds()` once."""

    def __init__(self, config: SimConfig, on_event: Callable[[dict], None] | None = None,
                 fields: list[Airfield] | None = None):
        self.config = config
        self.t0 = int(config.start.timestamp())
        self.clock = Clock(float(self.t0))
        self.events: list[dict] = []
        self.on_event = on_event
        self.rng = random.Random(config.seed)
        rng = self.rng
        wind_from = rng.uniform(0.0, 360.0)
        self.wind = Wind(wind_from, rng.uniform(*config.wind_kmh) / 3.6)
        all_fields = list(fields if fields is not None else load_cached(tuple(config.region)))
        self.aircraft: list[SimAircraft] = []
        self._addresses: set[int] = set()
        self.receivers: dict[str, list] = {}
        self._build_ogn(all_fields)
        self._build_adsb(all_fields)
        # Tow planes step before the gliders they pull (a glider reads the rope's path).
        order = {TOW_PLANE: 0}
        self.aircraft.sort(key=lambda a: order.get(a.kind, 1))
        self.stats = {"aprs_lines": 0, "frames": 0, "receiver_beacons": 0, "server_lines": 0}

    # -- population ------------------------------------------------------------------------

    def _event(self, event: dict) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _pilot(self, ident: dict, geo: FieldGeo, fields: list[FieldGeo] | None) -> Pilot:
        return Pilot(ident, geo, self.wind, self.clock, Events(self.clock, self._event),
                     random.Random(self.rng.getrandbits(64)), self.config.profile, fields)

    def _address(self, lo: int, size: int) -> int:
        while True:
            a = lo + self.rng.randrange(size)
            if a not in self._addresses:
                self._addresses.add(a)
                return a

    def _build_ogn(self, all_fields: list[Airfield]) -> None:
        cfg, rng = self.config, self.rng
        n = cfg.aircraft
        if n == 0:
            return
        candidates = glider_fields(all_fields)
        if not candidates:
            raise SoarError("no airfield with runway positions in the region: choose a "
                            "larger --region")
        # Gliderports first, then small fields, then medium airports, each group shuffled.
        groups: dict[int, list] = {}
        for f in candidates:
            groups.setdefault(0 if f.gliding else 1 if f.type == "small_airport" else 2, []).append(f)
        ordered = []
        for k in sorted(groups):
            g = groups[k]
            rng.shuffle(g)
            ordered += g
        n_fields = max(1, min(len(ordered), math.ceil(n / max(1, cfg.aircraft_per_field))))
        used = ordered[:n_fields]
        geos = [FieldGeo.build(f, self.wind) for f in used]
        self.ogn_fields = geos
        self.receivers = receivers.place(used, random.Random(rng.getrandbits(64)),
                                         cfg.receivers_per_field)
        # Aircraft per field, then kinds per field from the shares.
        per = [n // n_fields + (1 if i < n % n_fields else 0) for i in range(n_fields)]
        shares = ((GLIDER_AEROTOW, cfg.share_aerotow), (GLIDER_WINCH, cfg.share_winch),
                  (MOTOR_GLIDER, cfg.share_motor_glider), (POWERED, cfg.share_powered))
        total = sum(s for _, s in shares) or 1.0
        for geo, count in zip(geos, per, strict=True):
            kinds = []
            for kind, share in shares:
                kinds += [kind] * math.floor(count * share / total + rng.random())
            kinds = (kinds + [GLIDER_WINCH] * count)[:count]
            aero = kinds.count(GLIDER_AEROTOW)
            tows = min(math.ceil(aero / cfg.gliders_per_tow_plane), count - aero) if aero else 0
            # A tow plane replaces a powered aircraft, else a winch glider.
            for _ in range(tows):
                for replace in (POWERED, GLIDER_WINCH, MOTOR_GLIDER):
                    if replace in kinds:
                        kinds[kinds.index(replace)] = TOW_PLANE
                        break
            if aero and TOW_PLANE not in kinds:
                kinds[kinds.index(GLIDER_AEROTOW)] = TOW_PLANE
            for kind in kinds:
                self._add_ogn(kind, geo, geos)

    def _add_ogn(self, kind: str, geo: FieldGeo, geos: list[FieldGeo],
                 address_type: int | None = None, address: int | None = None) -> SimAircraft:
        rng = self.rng
        actype = _OGN_TYPE[kind]
        if address is None:
            # Most carry a FLARM (its own address), some an OGN tracker; powered aircraft
            # often have a FLARM configured with their ICAO address.
            r = rng.random()
            if kind == POWERED and r < 0.3:
                address_type, address = 1, self._icao()[0]
            elif r < 0.1:
                address_type, address = 3, self._address(0x000000, 0x1000000)
            else:
                address_type, address = 2, self._address(0xD00000, 0x100000)
        destcall = {2: "OGFLR" if rng.random() < 0.8 else "APRS", 1: "OGFLR", 3: "OGNTRK"}[address_type]
        gps = f"gps{rng.randint(1, 4)}x{rng.randint(2, 6)}"
        ident = {"kind": kind, "address": f"{address:06X}", "address_type": address_type,
                 "aircraft_type": actype}
        pilot = self._pilot(ident, geo, geos)
        start_air = kind != TOW_PLANE and rng.random() < self.config.airborne_fraction
        gen = {GLIDER_AEROTOW: pilot.glider_aerotow, GLIDER_WINCH: pilot.glider_winch,
               TOW_PLANE: pilot.tow_plane}.get(kind)
        if gen is not None:
            it = gen(start_air)
        else:
            it = pilot.powered(start_air, self_launch_glider=kind == MOTOR_GLIDER)
        k = rng.choice((1, 2, 2, 3, 3, 4))
        ogn = _Ogn(aprs_encode.AircraftLine(address_type, address, actype, destcall, gps),
                   self._receiver_set(geo.field.ident, k), rng.uniform(-15.0, 15.0), k, rng)
        a = SimAircraft(kind, address_type, address, actype, None, geo.field.ident, pilot, it,
                        ogn=ogn)

        def moved(new: FieldGeo, a=a) -> None:
            if a.ogn is not None and new.field.ident in self.receivers:
                a.ogn.set_receivers(self._receiver_set(new.field.ident, a.ogn.k))
        pilot.on_field_change = moved
        self.aircraft.append(a)
        return a

    def _receiver_set(self, ident: str, k: int) -> list:
        cluster = self.receivers[ident]
        return [cluster[0]] + self.rng.sample(cluster[1:], min(k, len(cluster)) - 1)

    def _icao(self) -> tuple[int, str]:
        start, size, prefix = self.rng.choice(_ICAO_BLOCKS)
        return self._address(start, size), prefix

    def _build_adsb(self, all_fields: list[Airfield]) -> None:
        cfg, rng = self.config, self.rng
        m = cfg.beast_aircraft
        if m == 0:
            return
        n_ga = round(m * cfg.share_adsb_ga)
        big = [FieldGeo.build(f, self.wind) for f in airliner_fields(all_fields)]
        if len(big) < 2:
            n_ga = m
        small = getattr(self, "ogn_fields", None) or [
            FieldGeo.build(f, self.wind) for f in glider_fields(all_fields)[:max(1, n_ga)]]
        if n_ga and not small:
            raise SoarError("no airfield for light aircraft in the region: choose a larger --region")
        for i in range(m):
            if i < n_ga:
                geo = small[i % len(small)]
                icao, prefix = self._icao()
                callsign = prefix + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
                                            for _ in range(5 - len(prefix)))
                if cfg.adsb_ga_flarm and geo.field.ident in self.receivers:
                    a = self._add_ogn(POWERED, geo, small, 1, icao)
                    a.kind = ADSB_GA
                    a.pilot.ident["kind"] = ADSB_GA
                else:
                    ident = {"kind": ADSB_GA, "address": f"{icao:06X}", "address_type": 1,
                             "aircraft_type": 8}
                    pilot = self._pilot(ident, geo, small)
                    a = SimAircraft(ADSB_GA, 1, icao, 8, None, geo.field.ident, pilot,
                                    pilot.powered(rng.random() < cfg.airborne_fraction))
                    self.aircraft.append(a)
                a.callsign = callsign
                a.pilot.ident["callsign"] = callsign
                a.adsb = _Adsb(icao, callsign, 1, rng.randrange(10), rng.randint(40, 200),
                               _squawk(rng, "7"))
            else:
                geo = big[rng.randrange(len(big))]
                icao, _ = self._icao()
                callsign = f"{rng.choice(_AIRLINES)}{rng.randint(1, 9999)}"
                if rng.random() < 0.3:
                    callsign = callsign[:6] + rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
                ident = {"kind": AIRLINER, "address": f"{icao:06X}", "address_type": 1,
                         "aircraft_type": 9, "callsign": callsign}
                pilot = self._pilot(ident, geo, big)
                a = SimAircraft(AIRLINER, 1, icao, 9, callsign, geo.field.ident, pilot,
                                pilot.airliner(rng.random() < max(cfg.airborne_fraction, 0.0)))
                a.adsb = _Adsb(icao, callsign, 3, rng.randrange(10), rng.randint(20, 230),
                               _squawk(rng))
                self.aircraft.append(a)

    # -- the per-second loop ---------------------------------------------------------------

    def describe(self) -> list[dict]:
        return [a.describe() for a in self.aircraft]

    def all_receivers(self) -> list:
        return [rx for rxs in self.receivers.values() for rx in rxs]

    def seconds(self) -> Iterator[Second]:
        """Each second of received traffic, in order, from the start to the end."""
        cfg = self.config
        out_rng = random.Random(cfg.seed * 7919 + 1)
        rnd = out_rng.random
        clock = self.clock
        pending_aprs: dict[int, list] = {}
        pending_frames: dict[int, list] = {}
        rx_all = self.all_receivers()
        by_phase: dict[int, list] = {}
        for rx in rx_all:
            by_phase.setdefault(rx.beacon_phase, []).append(rx)
        min_db, loss = receivers.MIN_DB, receivers.LOSS
        shadow, clear2 = receivers.GROUND_SHADOW_DB, receivers.GROUND_CLEAR_M2
        # receivers.signal_db inlined (it is the innermost loop), noise 4 dB wide.
        db0 = receivers.DB_AT_1M - 2.0
        log10 = math.log10
        m_per_deg = M_PER_DEG
        stats = self.stats
        adsb_frames = self._adsb_frames
        for step in range(cfg.duration_s):
            t = self.t0 + step
            t1 = t + 1
            clock.t = float(t)
            hms = aprs_encode.hhmmss(t)
            bucket = pending_aprs.setdefault(t, [])
            append = bucket.append
            frames = pending_frames.setdefault(t, [])
            if step % SERVER_LINE_EVERY_S == 0:
                bucket.append((t + 0.0001, aprs_encode.server_line(t)))
                stats["server_lines"] += 1
            for rx in by_phase.get(step % BEACON_EVERY_S, ()):
                rt = t + min(rx.lag_s, 0.9)      # counted in this second
                bucket.append((rt, aprs_encode.receiver_position(rx.name, hms, rx.lat, rx.lon,
                                                                 rx.alt_m)))
                bucket.append((rt + 0.001, aprs_encode.receiver_status(
                    rx.name, hms, 0.3 + rnd(), 40.0 + 20.0 * rnd(), 5)))
                stats["receiver_beacons"] += 2
            for a in self.aircraft:
                st = next(a.gen)
                a.state = st
                ogn = a.ogn
                if ogn is not None:
                    if st is not ogn.last:
                        # A standing aircraft yields the same State: format it once.
                        ogn.last = st
                        ogn.rest = ogn.line.rest(st)
                    lat, lon, ground = st[0], st[1], st[7]
                    pre = None
                    for rlat, rlon, kx, lag, head in ogn.receivers:
                        dx = (lon - rlon) * kx
                        dy = (lat - rlat) * m_per_deg
                        d2 = dx * dx + dy * dy + 2500.0
                        u = rnd()
                        db = db0 - log10(d2) * 10.0 + 4.0 * u
                        if ground and d2 > clear2:
                            db -= shadow
                        if db < min_db:
                            continue
                        v = rnd()
                        if v < loss:
                            continue
                        if pre is None:
                            pre = ":/" + hms + "h" + ogn.rest + " "
                        if db > 50.0:
                            db = 50.0
                        rt = t + lag + 0.8 * v
                        # Bit errors only on weak signals; the frequency offset jitters.
                        line = (head + pre + f"{db:.1f}dB"
                                + (ogn.strong if db > 10.0 else ogn.weak)[int(u * 8.0)])
                        if rt < t1:
                            append((rt, line))
                        else:
                            pending_aprs.setdefault(int(rt), []).append((rt, line))
                if a.adsb is not None:
                    adsb_frames(a.adsb, st, t, step, frames, rnd)
            # Everything received before t + 1 is now known (receive lag >= 0.3 s).
            out = pending_aprs.pop(t)
            out.sort()
            fr = pending_frames.pop(t)
            fr.sort()
            stats["aprs_lines"] += len(out)
            stats["frames"] += len(fr)
            yield Second(t, out, fr)
        # Lines received after the last second of data are left out: the recording ends
        # at the end of its duration, like a capture stopped at that moment.

    def _adsb_frames(self, ad: _Adsb, st: State, t: int, step: int, out: list, rnd) -> None:
        enc = modes_encode
        icao = ad.icao
        k = step + ad.phase
        sig = ad.signal
        u0 = 0.38 * rnd()          # every frame of this second arrives before t + 1
        trk = math.radians(st.track_deg)
        v = st.gs_kmh / 3.6
        vn = v * math.cos(trk) / M_PER_DEG
        ve = v * math.sin(trk) / (M_PER_DEG * math.cos(math.radians(st.lat)))
        kt = st.gs_kmh / 1.852
        if st.on_ground:
            moving = st.gs_kmh > 1.0
            if moving or k % 5 == 0:
                for j in range(2 if moving else 1):
                    u = u0 + 0.5 * j
                    out.append((t + u, enc.surface_position(icao, st.lat + vn * u, st.lon + ve * u,
                                                            kt, st.track_deg if moving else None,
                                                            ad.odd), sig))
                    ad.odd ^= 1
            ca = enc.CA_GROUND
        else:
            alt_ft = st.alt_m / FEET_TO_M
            for j in range(2):
                u = u0 + 0.5 * j
                out.append((t + u, enc.airborne_position(icao, st.lat + vn * u, st.lon + ve * u,
                                                         alt_ft, ad.odd), sig))
                ad.odd ^= 1
                out.append((t + u + 0.11, enc.velocity(icao, kt, st.track_deg,
                                                       st.climb_ms * 196.85), sig))
            out.append((t + u0 + 0.3, enc.altitude_reply(icao, alt_ft, False), sig))
            if k % 5 == 2:
                out.append((t + u0 + 0.37, enc.identity_reply(icao, ad.squawk, False), sig))
            ca = enc.CA_AIRBORNE
        if k % 5 == 0:
            out.append((t + u0 + 0.21, enc.identification(icao, ad.callsign, ad.category, 4, ca),
                        sig))
        if k % 2 == 1:
            out.append((t + u0 + 0.43, enc.all_call(icao, ca), sig))
