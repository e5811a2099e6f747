"""Mode-S / ADS-B frames to `Fix` records.

pyModeS 3.x `PipeDecoder` was measured and not used on the hot path: it decodes
every field of every frame into dicts (including heuristic Comm-B inference for
DF20/21), ran at ~28,000 frames/s on the AFR34ZG flight, holds the first global
positions back until three agree (a streaming caller never gets them), and takes
one fixed surface reference per decoder, while a flight needs the aircraft's own
last position at the destination airport. So this module extracts only the
fields a Fix needs with bit operations and uses pyModeS for the CPR arithmetic
and the Gillham altitude code.

Acceptance (as readsb does):
- DF17/DF18: CRC remainder must be 0 (no bit-error correction). DF18 is used
  only with CF=0 (ADS-B with an ICAO address); TIS-B/ADS-R/non-ICAO -> UNSUPPORTED.
- DF11: remainder 0 (squitter / II=0) teaches the address; a remainder that is
  only an interrogator code (< 0x80) is accepted for known addresses.
- DF0/4/5/16/20/21 carry the address in the parity, so they cannot be checked on
  their own: accepted only for addresses known from DF11/DF17/DF18, else BAD_CRC.
- Other DFs and Mode-A/C -> UNSUPPORTED; wrong lengths or bad hex -> PARSE_ERROR.

Positions: an airborne frame is resolved globally with the other CPR parity of
the last 10 s, else locally against the aircraft's last position of the last
60 s. A surface frame is resolved locally against the aircraft's own last
position of the last 5 minutes (that is how a landed aircraft is placed when no
receiver position is known), else as an even/odd pair against the receiver
position. Every position must be reachable from the previous one at 2,000 km/h
(+2 km); after 3 failures in a row the previous one is presumed wrong and the
track restarts from the next pair. State is per aircraft, and aircraft silent
for `state_ttl` seconds of data time are forgotten.

Returns: a Fix for every frame that yields a fresh position; None for valid
frames that only update aircraft state (identification, velocity, DF4/5/11/20/21...);
NO_POSITION for a position frame that cannot be resolved yet (waiting for the
other CPR parity, or no reference for a surface position); OUT_OF_RANGE when a
resolved position fails the speed/range sanity check; DUPLICATE for the same
position frame heard again within 2 s (several receivers, one feed).

Fix fields: time = received_at (the Beast MLAT counter is not absolute);
velocity and the transponder's air/ground state are attached when heard within
the last 10 s / 30 s of data time: a takeoff roll goes from 0 to 150 kt in about
35 s, so older speeds mislead. The callsign is an identity rather than a
kinematic value and is broadcast only every 5-10 s, so it is kept for the
aircraft's whole state lifetime (`state_ttl`, default 5 min of silence).

Clean at the edge (the rule of `soar.columns`, as in `soar.feeds.ogn`): every number
comes from a fixed-width bit field, so it fits its column by construction (altitude
below 127,000 ft, ground speed below 6,000 kt, address 24 bits, aircraft type 0-15);
a callsign is made of the fixed Mode-S alphabet (letters, digits, inner spaces) and
one with a reserved character is not kept. The feed's name is an identity (the
receiver every fix names): a name with a non-printable character makes every frame
of that feed BAD_TEXT (over RECEIVER_NAME_MAX characters: TOO_LONG), counted, rather
than being stored under an altered name (soar.records.name_reject). A recording line
that could not be read arrives as its Reject reason and is returned as it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime

from pyModeS._altcode import altcode_to_altitude
from pyModeS.position import (
    airborne_position_pair,
    airborne_position_with_ref,
    surface_position_pair,
    surface_position_with_ref,
)

from soar.feeds.memory import AircraftMemory
from soar.records import (
    BAD_CRC,
    DUPLICATE,
    NO_POSITION,
    OUT_OF_RANGE,
    PARSE_ERROR,
    UNSUPPORTED,
    AddressType,
    Fix,
    Reject,
    Source,
    name_reject,
    payload_reject,
)
from soar.units import FEET_TO_M, FPM_TO_MS, KNOTS_TO_KMH, UTC, distance_m

PAIR_WINDOW_S = 10.0           # even/odd airborne frames for a global decode
SURFACE_PAIR_WINDOW_S = 25.0   # surface positions come slower (every 1-5 s)
LOCAL_WINDOW_S = 60.0          # airborne local decode against the last position
SURFACE_REF_MAX_AGE_S = 300.0  # 5 min at approach speeds (< 250 kt) stays within 45 NM
VELOCITY_TTL_S = 10.0
GROUND_TTL_S = 30.0
DUPLICATE_WINDOW_S = 2.0
MAX_SPEED_KMS = 2000.0 / 3600  # sanity check: faster than any civil aircraft
JUMP_MARGIN_KM = 2.0           # CPR resolution plus timestamp jitter
MAX_REJECTS = 3                # consecutive failed checks: the reference is the bad one
# Surface positions are on an airfield: a candidate within this of an airport's
# reference point is taken for real (CDG's runways reach 3 km from it).
AIRPORT_SURFACE_RADIUS_M = 6000.0



def _crc_tables() -> list[list[int]]:
    """Per-byte-position CRC-24 contributions for the 11 data bytes of a long frame.

    The Mode-S CRC is linear, so a remainder is the XOR of each byte's
    contribution; a short frame's 4 data bytes use the last 4 tables.
    """
    poly = 0xFFF409
    base = []
    for v in range(256):
        c = v << 16
        for _ in range(8):
            c = ((c << 1) ^ poly) if c & 0x800000 else c << 1
        base.append(c & 0xFFFFFF)
    tables = []
    for pos in range(11):
        table = []
        for v in range(256):
            c = base[v]
            for _ in range(10 - pos):   # shift through the zero bytes after it
                c = ((c << 8) & 0xFFFFFF) ^ base[(c >> 16) & 0xFF]
            table.append(c)
        tables.append(table)
    return tables


_T = _crc_tables()
_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10 = _T


def crc_remainder(b: bytes) -> int:
    """CRC-24 remainder of a 7- or 14-byte Mode-S frame (0 for a valid DF17)."""
    if len(b) == 14:
        return (_T0[b[0]] ^ _T1[b[1]] ^ _T2[b[2]] ^ _T3[b[3]] ^ _T4[b[4]] ^ _T5[b[5]]
                ^ _T6[b[6]] ^ _T7[b[7]] ^ _T8[b[8]] ^ _T9[b[9]] ^ _T10[b[10]]
                ^ (b[11] << 16) ^ (b[12] << 8) ^ b[13])
    return (_T7[b[0]] ^ _T8[b[1]] ^ _T9[b[2]] ^ _T10[b[3]]
            ^ (b[4] << 16) ^ (b[5] << 8) ^ b[6])


def _movement_kmh(mov: int) -> float | None:
    """Surface movement code to ground speed (DO-260B table, quantised in kt)."""
    if mov == 0 or mov > 124:
        return None
    for low, kt, step in ((124, 175.0, 0), (109, 100.0, 5.0), (94, 70.0, 2.0), (39, 15.0, 1.0),
                          (13, 2.0, 0.5), (9, 1.0, 0.25), (2, 0.125, 0.125), (1, 0.0, 0)):
        if mov >= low:
            return (kt + (mov - low) * step) * KNOTS_TO_KMH
    return None


_MOVEMENT_KMH = tuple(_movement_kmh(m) for m in range(128))
_CALLSIGN_CHARS = "#ABCDEFGHIJKLMNOPQRSTUVWXYZ##### ###############0123456789######"
# ADS-B emitter category (TC, category) -> OGN aircraft type (DOMAIN.md numbering).
_AIRCRAFT_TYPE = {
    (4, 1): 8, (4, 2): 9, (4, 3): 9, (4, 4): 9, (4, 5): 9, (4, 6): 9, (4, 7): 3,
    (3, 1): 1, (3, 2): 11, (3, 3): 4, (3, 4): 6, (3, 6): 13,
    (2, 4): 15, (2, 5): 15, (2, 6): 15, (2, 7): 15,
}


def _altitude_ft(ac12: int) -> int | None:
    """12-bit ADS-B altitude field (the 13-bit AC code without its M bit) to feet."""
    if ac12 & 0x10:   # Q bit: 25 ft steps, the common case
        return (((ac12 & 0xFE0) >> 1) | (ac12 & 0x0F)) * 25 - 1000
    if ac12 == 0:
        return None
    return altcode_to_altitude(((ac12 & 0xFC0) << 1) | (ac12 & 0x3F))   # Gillham




class _Transponder:
    __slots__ = ("last_seen", "callsign", "aircraft_type", "gs_kmh", "track", "climb_ms",
                 "vel_t", "ground", "ground_t", "even", "odd", "lat", "lon", "pos_t",
                 "rejects", "pos_msg", "pos_msg_t")

    def __init__(self, t: float) -> None:
        self.last_seen = t
        self.callsign: str | None = None
        self.aircraft_type: int | None = None
        self.gs_kmh: float | None = None
        self.track: float | None = None
        self.climb_ms: float | None = None
        self.vel_t = -math.inf
        self.ground: bool | None = None     # from CA / DF11 / flight status
        self.ground_t = -math.inf
        self.even: tuple | None = None      # (t, lat17, lon17, surface)
        self.odd: tuple | None = None
        self.lat = 0.0                      # last accepted position
        self.lon = 0.0
        self.pos_t: float | None = None
        self.rejects = 0
        self.pos_msg = b""
        self.pos_msg_t = -math.inf


def _surface_pair(odd: int, lat17: int, lon17: int, other: tuple, lat_ref: float,
                  lon_ref: float) -> tuple | None:
    """Surface position from this frame and the other parity's `other` (t, lat, lon, ...),
    the quadrant chosen by the reference."""
    if odd:
        return surface_position_pair(other[1], other[2], lat17, lon17, lat_ref=lat_ref,
                                     lon_ref=lon_ref, even_is_newer=False)
    return surface_position_pair(lat17, lon17, other[1], other[2], lat_ref=lat_ref,
                                 lon_ref=lon_ref, even_is_newer=True)


class ModeSDecoder(AircraftMemory[_Transponder]):
    """Stateful decoder for one feed; not thread-safe (one reader thread per feed)."""

    def __init__(self, receiver: str, receiver_lat: float | None = None,
                 receiver_lon: float | None = None, *, max_range_km: float | None = None,
                 state_ttl: float = 300.0,
                 airport_near: Callable[[float, float, float], bool] | None = None) -> None:
        """`airport_near(lat, lon, radius_m)`: whether a known airport is that close;
        resolves surface positions when the receiver's position is not given."""
        super().__init__(state_ttl)
        self.receiver = receiver
        self._name_reject = name_reject(receiver)
        self.airport_near = airport_near
        self.receiver_pos = (None if receiver_lat is None or receiver_lon is None
                             else (float(receiver_lat), float(receiver_lon)))
        # No default range limit: merged feeds (several receivers) exceed any single one.
        self.max_range_km = max_range_km

    def decode(self, msg: str | bytes, received_at: datetime,
               signal_db: float | None = None) -> Fix | Reject | None:
        if self._name_reject is not None:
            return self._name_reject
        if (reason := payload_reject(msg)) is not None:   # a recording line not read
            return reason
        try:
            return self._decode(msg, received_at, signal_db)
        except Exception:   # noqa: BLE001 -- never raise into the ingest loop: a PARSE_ERROR
            return PARSE_ERROR

    def advance(self, received_at: datetime) -> None:
        """Data time passes without a frame to decode (a frame another ingest shard
        decodes): forget silent aircraft exactly when a decode at this time would, so
        each shard's state does not depend on which frames it was given."""
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=UTC)
        t = received_at.timestamp()
        self._maybe_sweep(t)

    def _decode(self, msg, received_at, signal_db):
        if isinstance(msg, str):
            try:
                b = bytes.fromhex(msg)
            except ValueError:
                return PARSE_ERROR
        else:
            b = bytes(msg)
        n = len(b)
        if n != 14 and n != 7:
            return UNSUPPORTED if n == 2 else PARSE_ERROR    # 2 bytes: Mode-A/C
        df = b[0] >> 3
        if (df >= 16) != (n == 14):
            return PARSE_ERROR
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=UTC)
        t = received_at.timestamp()
        self._maybe_sweep(t)

        if df == 17 or df == 18:
            if crc_remainder(b):
                return BAD_CRC
            if df == 18 and b[0] & 7:
                return UNSUPPORTED
            icao = (b[1] << 16) | (b[2] << 8) | b[3]
            ac = self._aircraft.get(icao)
            if ac is None:
                ac = self._aircraft[icao] = _Transponder(t)
            ac.last_seen = t
            ca = b[0] & 7 if df == 17 else 0
            if ca == 4 or ca == 5:
                ac.ground = ca == 4
                ac.ground_t = t
            tc = b[4] >> 3
            if 9 <= tc <= 18 or 20 <= tc <= 22:
                return self._airborne(b, t, ac, icao, tc, received_at, signal_db)
            if 5 <= tc <= 8:
                return self._surface(b, t, ac, icao, received_at, signal_db)
            if tc == 19:
                self._velocity(b, t, ac)
            elif 1 <= tc <= 4:
                self._identification(b, tc, ac)
            return None

        if df == 11:
            rem = crc_remainder(b)
            icao = (b[1] << 16) | (b[2] << 8) | b[3]
            ac = self._aircraft.get(icao)
            if rem:
                if rem >= 0x80 or ac is None or t - ac.last_seen > self.state_ttl:
                    return BAD_CRC
            elif ac is None:
                ac = self._aircraft[icao] = _Transponder(t)
            ac.last_seen = t
            ca = b[0] & 7
            if ca == 4 or ca == 5:
                ac.ground = ca == 4
                ac.ground_t = t
            return None

        if df in (0, 4, 5, 16, 20, 21):
            ac = self._aircraft.get(crc_remainder(b))
            if ac is None or t - ac.last_seen > self.state_ttl:
                return BAD_CRC
            ac.last_seen = t
            if df == 0 or df == 16:
                ac.ground = bool(b[0] & 4)           # vertical status
                ac.ground_t = t
            elif (b[0] & 7) < 4:                     # flight status 0-3 tells air/ground
                ac.ground = bool(b[0] & 1)
                ac.ground_t = t
            return None
        return UNSUPPORTED

    def _airborne(self, b, t, ac, icao, tc, received_at, signal_db):
        if b == ac.pos_msg and abs(t - ac.pos_msg_t) <= DUPLICATE_WINDOW_S:
            return DUPLICATE
        ac.pos_msg = b
        ac.pos_msg_t = t
        ac12 = (b[5] << 4) | (b[6] >> 4)
        if tc <= 18:
            # Barometric (pressure) altitude, used as an approximation of MSL.
            ft = _altitude_ft(ac12)
            alt_m = ft * FEET_TO_M if ft is not None else None
        else:
            # TC 20-22: GNSS height (HAE) in metres, as pyModeS reads it (readsb
            # reads an AC12 code in feet); these type codes are rarely sent.
            alt_m = float(ac12) if ac12 else None
        odd = (b[6] >> 2) & 1
        lat17 = ((b[6] & 3) << 15) | (b[7] << 7) | (b[8] >> 1)
        lon17 = ((b[8] & 1) << 16) | (b[9] << 8) | b[10]
        other = self._store_cpr(ac, odd, (t, lat17, lon17, False))

        pos = None
        if other is not None and not other[3] and abs(t - other[0]) <= PAIR_WINDOW_S:
            # This frame's parity is "newer" so the result is this frame's position.
            if odd:
                pos = airborne_position_pair(other[1], other[2], lat17, lon17, even_is_newer=False)
            else:
                pos = airborne_position_pair(lat17, lon17, other[1], other[2], even_is_newer=True)
        if pos is None and ac.pos_t is not None and abs(t - ac.pos_t) <= LOCAL_WINDOW_S:
            # Unambiguous while the reference is within 180 NM: 60 s covers Mach 3.
            pos = airborne_position_with_ref(odd, lat17, lon17, ac.lat, ac.lon)
        if pos is None:
            return NO_POSITION
        reject = self._accept(ac, t, pos)
        if reject is not None:
            return reject
        # The frame's own format says airborne; only an explicit statement of the
        # transponder (CA, DF11, flight status) heard recently overrides it.
        on_ground = ac.ground is True and t - ac.ground_t <= GROUND_TTL_S
        fresh = t - ac.vel_t <= VELOCITY_TTL_S
        return Fix(received_at, received_at, Source.ADSB, AddressType.ICAO, icao,
                   ac.lat, ac.lon, alt_m,
                   ac.gs_kmh if fresh else None, ac.track if fresh else None,
                   ac.climb_ms if fresh else None, None, self.receiver, signal_db,
                   on_ground, ac.aircraft_type, ac.callsign)

    def _surface(self, b, t, ac, icao, received_at, signal_db):
        if b == ac.pos_msg and abs(t - ac.pos_msg_t) <= DUPLICATE_WINDOW_S:
            return DUPLICATE
        ac.pos_msg = b
        ac.pos_msg_t = t
        odd = (b[6] >> 2) & 1
        lat17 = ((b[6] & 3) << 15) | (b[7] << 7) | (b[8] >> 1)
        lon17 = ((b[8] & 1) << 16) | (b[9] << 8) | b[10]
        other = self._store_cpr(ac, odd, (t, lat17, lon17, True))

        pos = None
        if ac.pos_t is not None and abs(t - ac.pos_t) <= SURFACE_REF_MAX_AGE_S:
            # Our own last position (e.g. on final approach) is within 45 NM of
            # where the aircraft is now, so one frame resolves unambiguously.
            pos = surface_position_with_ref(odd, lat17, lon17, ac.lat, ac.lon)
        elif (self.receiver_pos is None and self.airport_near is not None
              and other is not None and other[3] and abs(t - other[0]) <= SURFACE_PAIR_WINDOW_S):
            pos = self._pair_at_an_airport(odd, lat17, lon17, other)
        elif (self.receiver_pos is not None and other is not None and other[3]
              and abs(t - other[0]) <= SURFACE_PAIR_WINDOW_S):
            # A pair leaves a 90-degree ambiguity, which the receiver resolves.
            pos = _surface_pair(odd, lat17, lon17, other, *self.receiver_pos)
        if pos is None:
            return NO_POSITION
        reject = self._accept(ac, t, pos)
        if reject is not None:
            return reject
        gs = _MOVEMENT_KMH[((b[4] & 7) << 4) | (b[5] >> 4)]
        track = (((b[5] & 7) << 4) | (b[6] >> 4)) * (360.0 / 128) if b[5] & 8 else None
        # Kept as the latest velocity so the first airborne fix after lift-off has one.
        ac.gs_kmh, ac.track, ac.climb_ms, ac.vel_t = gs, track, None, t
        return Fix(received_at, received_at, Source.ADSB, AddressType.ICAO, icao,
                   ac.lat, ac.lon, None, gs, track, None, None,
                   self.receiver, signal_db, True, ac.aircraft_type, ac.callsign)

    def _pair_at_an_airport(self, odd, lat17, lon17, other) -> tuple | None:
        """A surface pair without a receiver position: of the pair's candidate positions
        (one per 90-degree quadrant), keep the one at a known airport, if exactly one is."""
        found = set()
        for lat_ref in (45.0, -45.0):
            for lon_ref in (-135.0, -45.0, 45.0, 135.0):
                p = _surface_pair(odd, lat17, lon17, other, lat_ref, lon_ref)
                if p is not None and self.airport_near(p[0], p[1], AIRPORT_SURFACE_RADIUS_M):
                    found.add((round(p[0], 6), round(p[1], 6)))
        return found.pop() if len(found) == 1 else None

    @staticmethod
    def _store_cpr(ac: _Transponder, odd: int, cpr: tuple) -> tuple | None:
        if odd:
            ac.odd = cpr
            return ac.even
        ac.even = cpr
        return ac.odd

    def _accept(self, ac: _Transponder, t: float, pos: tuple[float, float]) -> Reject | None:
        """Make pos the aircraft's position (ac.lat/ac.lon) unless it is implausible."""
        lat, lon = pos
        if lon > 180.0:     # local decodes near the antimeridian can step over it
            lon -= 360.0
        elif lon < -180.0:
            lon += 360.0
        if not -90.0 <= lat <= 90.0:
            return OUT_OF_RANGE
        if self.max_range_km is not None and self.receiver_pos is not None:
            if distance_m(*self.receiver_pos, lat, lon) > self.max_range_km * 1000.0:
                return OUT_OF_RANGE
        if ac.pos_t is not None:
            dt = abs(t - ac.pos_t)
            if distance_m(ac.lat, ac.lon, lat, lon) > (MAX_SPEED_KMS * dt + JUMP_MARGIN_KM) * 1000.0:
                ac.rejects += 1
                if ac.rejects >= MAX_REJECTS:
                    # Several fresh decodes disagree with the reference: drop it and
                    # the stored CPR frames (one may belong to the old track), so the
                    # next even/odd pair starts the track again.
                    ac.pos_t = None
                    ac.even = ac.odd = None
                    ac.rejects = 0
                return OUT_OF_RANGE
        ac.lat = lat
        ac.lon = lon
        ac.pos_t = t
        ac.rejects = 0
        return None

    @staticmethod
    def _velocity(b: bytes, t: float, ac: _Transponder) -> None:
        subtype = b[4] & 7
        vr = ((b[8] & 7) << 6) | (b[9] >> 2)
        climb = None
        if vr:
            climb = (vr - 1) * 64 * FPM_TO_MS
            if b[8] & 8:
                climb = -climb
        gs = track = None
        if subtype == 1 or subtype == 2:
            ew = ((b[5] & 3) << 8) | b[6]
            ns = ((b[7] & 0x7F) << 3) | (b[8] >> 5)
            if ew and ns:
                scale = 4 if subtype == 2 else 1
                vx = (ew - 1) * scale * (-1 if b[5] & 4 else 1)
                vy = (ns - 1) * scale * (-1 if b[7] & 0x80 else 1)
                gs = math.hypot(vx, vy) * KNOTS_TO_KMH
                track = math.degrees(math.atan2(vx, vy)) % 360.0
        elif subtype != 3 and subtype != 4:
            return   # reserved subtypes: nothing trustworthy
        # Subtypes 3/4 carry airspeed and heading, not ground speed and track.
        ac.gs_kmh = gs
        ac.track = track
        ac.climb_ms = climb
        ac.vel_t = t

    @staticmethod
    def _identification(b: bytes, tc: int, ac: _Transponder) -> None:
        bits = int.from_bytes(b[5:11], "big")
        chars = _CALLSIGN_CHARS
        callsign = "".join(chars[(bits >> s) & 0x3F] for s in range(42, -1, -6)).strip()
        if callsign and "#" not in callsign:
            ac.callsign = callsign
        ac.aircraft_type = _AIRCRAFT_TYPE.get((tc, b[4] & 7), ac.aircraft_type)


def parse_modes_line(line: str) -> tuple[datetime, str] | None:
    """A replay line, ``{"timestamp": unix_s, "frame": "<hex>", ...}`` or ``<unix_s> <hex>``.

    Returns (received_at in UTC, lower-case hex) or None for blank, comment and
    malformed lines. Short frames (DF0-15) padded to 28 hex digits, as some
    recorders (rs1090/jet1090) write them, are cut to their 14 digits.
    """
    try:
        line = line.strip()
        if not line or line[0] == "#":
            return None
        if line[0] == "{":
            obj = json.loads(line)
            ts, frame = float(obj["timestamp"]), obj["frame"]
        else:
            ts_text, frame = line.split()
            ts = float(ts_text)
        frame = frame.strip("*;").lower()
        if len(frame) not in (14, 28) or not math.isfinite(ts):
            return None
        bytes.fromhex(frame)
        if len(frame) == 28 and int(frame[:2], 16) >> 3 < 16:
            frame = frame[:14]
        return datetime.fromtimestamp(ts, UTC), frame
    except (ValueError, TypeError, KeyError, OverflowError, OSError, AttributeError):
        return None
