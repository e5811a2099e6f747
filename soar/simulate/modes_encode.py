"""Mode-S / ADS-B encoding: DF17 extended squitters, DF11/DF4/DF5 replies, CPR.

Written here because no library encodes Mode-S; every encoder is checked by
decoding its output with pyModeS and with soar's own decoder (tests/unit/
test_simulate_modes.py). The rule this module keeps: a frame leaves here with a
correct CRC-24 parity (DF17/DF11 parity is the CRC itself; DF4/DF5 parity is the
CRC XOR the aircraft address, as a transponder sends it), and every field is
quantised the way the standard does (CPR 17 bits, altitude 25 ft, speeds 1 kt,
vertical rate 64 fpm), so the decoded value is within that quantum of the truth.

CPR (DO-260B A.1.7): airborne zones are 360/(4*NZ - i) degrees of latitude,
surface zones a quarter of that (the 19-bit encoding whose 17 low bits are sent),
NZ = 15, i = 0 even / 1 odd; longitude zones follow NL(latitude).
"""

from __future__ import annotations

import math
from bisect import bisect_right

from soar.feeds.modes import crc_remainder

NZ = 15
_CPR_SCALE = 1 << 17
_CPR_MASK = _CPR_SCALE - 1

# Latitudes where NL (number of longitude zones) drops by one, from the DO-260B formula:
# NL changes at acos(sqrt((1 - cos(pi/(2 NZ))) / (1 - cos(2 pi / nl)))).
_NL_BOUNDARIES = tuple(
    math.degrees(math.acos(math.sqrt((1 - math.cos(math.pi / (2 * NZ)))
                                     / (1 - math.cos(2 * math.pi / nl)))))
    for nl in range(59, 1, -1))


def cpr_nl(lat: float) -> int:
    """Number of longitude zones at this latitude (1..59)."""
    a = abs(lat)
    if a >= 87.0:
        return 1 if a > 87.0 else 2
    return 59 - bisect_right(_NL_BOUNDARIES, a)


def _cpr(lat: float, lon: float, odd: int, span: float) -> tuple[int, int]:
    """17-bit CPR latitude and longitude of one parity; span 360 airborne, 90 surface."""
    dlat = span / (4 * NZ - odd)
    yz = math.floor(_CPR_SCALE * (lat % dlat) / dlat + 0.5)
    rlat = dlat * (yz / _CPR_SCALE + math.floor(lat / dlat))
    ni = cpr_nl(rlat) - odd
    dlon = span / ni if ni > 0 else span
    xz = math.floor(_CPR_SCALE * (lon % dlon) / dlon + 0.5)
    return yz & _CPR_MASK, xz & _CPR_MASK


def cpr_airborne(lat: float, lon: float, odd: int) -> tuple[int, int]:
    return _cpr(lat, lon, odd, 360.0)


def cpr_surface(lat: float, lon: float, odd: int) -> tuple[int, int]:
    return _cpr(lat, lon, odd, 90.0)


# -- frames ------------------------------------------------------------------------------

CA_GROUND = 4      # capability: level 2+ transponder, on the ground
CA_AIRBORNE = 5    # ... airborne

_CALLSIGN_CHARS = "#ABCDEFGHIJKLMNOPQRSTUVWXYZ##### ###############0123456789######"
_CHAR_CODE = {c: i for i, c in enumerate(_CALLSIGN_CHARS) if c != "#"}


def _df17(ca: int, icao: int, me: int) -> bytes:
    head = bytes(((17 << 3) | ca, icao >> 16, (icao >> 8) & 0xFF, icao & 0xFF))
    data = head + me.to_bytes(7, "big")
    return data + crc_remainder(data + b"\0\0\0").to_bytes(3, "big")


def identification(icao: int, callsign: str, category: int = 3, tc: int = 4,
                   ca: int = CA_AIRBORNE) -> bytes:
    """TC 1-4 identification: emitter category and 8 callsign characters."""
    text = callsign.upper()[:8].ljust(8)
    bits = 0
    for c in text:
        code = _CHAR_CODE.get(c)
        if code is None:
            raise ValueError(f"callsign {callsign!r}: only A-Z, 0-9 and space")
        bits = (bits << 6) | code
    return _df17(ca, icao, (tc << 51) | ((category & 7) << 48) | bits)


def altitude_code(alt_ft: float) -> int:
    """12-bit altitude field with the Q bit set (25 ft steps, -1,000 to 50,175 ft)."""
    n = max(0, min(2047, round((alt_ft + 1000) / 25)))
    return ((n & 0x7F0) << 1) | 0x10 | (n & 0x0F)


def airborne_position(icao: int, lat: float, lon: float, alt_ft: float, odd: int,
                      tc: int = 11, ca: int = CA_AIRBORNE) -> bytes:
    """TC 9-18 airborne position with barometric altitude."""
    yz, xz = cpr_airborne(lat, lon, odd)
    me = ((tc << 51) | (altitude_code(alt_ft) << 36) | (odd << 34) | (yz << 17) | xz)
    return _df17(ca, icao, me)


# Surface movement codes 1..124 and the ground speed (kt) each stands for (DO-260B):
# 1 stopped, 2-8 0.125 kt steps, 9-12 0.25, 13-38 0.5, 39-93 1, 94-108 2, 109-123 5,
# 124 175 kt or more.
def _movement_table() -> list[float]:
    kt = [0.0]
    for first, last, base, step in ((2, 8, 0.125, 0.125), (9, 12, 1.0, 0.25), (13, 38, 2.0, 0.5),
                                    (39, 93, 15.0, 1.0), (94, 108, 70.0, 2.0),
                                    (109, 123, 100.0, 5.0)):
        kt += [base + (code - first) * step for code in range(first, last + 1)]
    return kt + [175.0]


_MOVEMENT_KT = _movement_table()    # index + 1 = movement code


def movement_code(speed_kt: float) -> int:
    """Ground speed to the 7-bit surface movement field: the nearest code."""
    i = bisect_right(_MOVEMENT_KT, speed_kt)
    if i == len(_MOVEMENT_KT):
        return len(_MOVEMENT_KT)
    if i > 0 and speed_kt - _MOVEMENT_KT[i - 1] <= _MOVEMENT_KT[i] - speed_kt:
        return i
    return i + 1


def surface_position(icao: int, lat: float, lon: float, speed_kt: float,
                     track_deg: float | None, odd: int, tc: int = 7) -> bytes:
    """TC 5-8 surface position: movement, ground track (when moving), CPR."""
    yz, xz = cpr_surface(lat, lon, odd)
    mov = movement_code(speed_kt)
    if track_deg is None:
        trk = 0
    else:
        trk = 0x80 | (round(track_deg * 128 / 360.0) & 0x7F)
    me = (tc << 51) | (mov << 44) | (trk << 36) | (odd << 34) | (yz << 17) | xz
    return _df17(CA_GROUND, icao, me)


def velocity(icao: int, speed_kt: float, track_deg: float, vrate_fpm: float,
             ca: int = CA_AIRBORNE) -> bytes:
    """TC 19 subtype 1: ground speed east/north (1 kt), vertical rate (64 fpm)."""
    r = math.radians(track_deg)
    vx = round(speed_kt * math.sin(r))
    vy = round(speed_kt * math.cos(r))
    ew = min(abs(vx) + 1, 1023)
    ns = min(abs(vy) + 1, 1023)
    vr = min(round(abs(vrate_fpm) / 64) + 1, 511)
    me = ((19 << 51) | (1 << 48) | ((1 if vx < 0 else 0) << 42) | (ew << 32)
          | ((1 if vy < 0 else 0) << 31) | (ns << 21) | (1 << 20)   # vertical rate: baro
          | ((1 if vrate_fpm < 0 else 0) << 19) | (vr << 10))
    return _df17(ca, icao, me)


def all_call(icao: int, ca: int) -> bytes:
    """DF11 acquisition squitter (interrogator code 0: parity is the CRC itself)."""
    data = bytes(((11 << 3) | ca, icao >> 16, (icao >> 8) & 0xFF, icao & 0xFF))
    return data + crc_remainder(data + b"\0\0\0").to_bytes(3, "big")


def _address_parity(head: bytes, icao: int) -> bytes:
    """Surveillance replies carry address/parity: CRC XOR the aircraft address."""
    crc = crc_remainder(head + b"\0\0\0")
    return head + (crc ^ icao).to_bytes(3, "big")


def altitude_reply(icao: int, alt_ft: float, on_ground: bool) -> bytes:
    """DF4 surveillance altitude reply; flight status 0 airborne / 1 on the ground."""
    ac12 = altitude_code(alt_ft)
    # The 13-bit AC field is the 12-bit code with the M bit (0: feet) inserted at bit 6.
    ac13 = ((ac12 & 0xFC0) << 1) | (ac12 & 0x3F)
    head = bytes(((4 << 3) | (1 if on_ground else 0), 0, (ac13 >> 8) & 0x1F, ac13 & 0xFF))
    return _address_parity(head, icao)


def squawk_code(squawk: str) -> int:
    """Four octal digits to the 13-bit Mode-A identity field (C1 A1 C2 A2 C4 A4 X B1 D1 B2 D2 B4 D4)."""
    a, b, c, d = (int(ch, 8) for ch in squawk)
    bits = {"A1": a & 1, "A2": a >> 1 & 1, "A4": a >> 2 & 1, "B1": b & 1, "B2": b >> 1 & 1,
            "B4": b >> 2 & 1, "C1": c & 1, "C2": c >> 1 & 1, "C4": c >> 2 & 1,
            "D1": d & 1, "D2": d >> 1 & 1, "D4": d >> 2 & 1, "X": 0}
    order = ("C1", "A1", "C2", "A2", "C4", "A4", "X", "B1", "D1", "B2", "D2", "B4", "D4")
    out = 0
    for name in order:
        out = (out << 1) | bits[name]
    return out


def identity_reply(icao: int, squawk: str, on_ground: bool) -> bytes:
    """DF5 surveillance identity reply."""
    code = squawk_code(squawk)
    head = bytes(((5 << 3) | (1 if on_ground else 0), 0, (code >> 8) & 0x1F, code & 0xFF))
    return _address_parity(head, icao)
