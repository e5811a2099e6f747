"""OGN APRS lines, shaped exactly like the real feed (soar.reference.samples
"oneminute.txt", shared/data/ogn/valid_messages/OGFLR_Flarm.txt):

    FLRDDABFF>OGFLR,qAS,EDFS:/110445h4959.82N/01013.24E'357/037/A=003451 !W30! id06DDABFF
        -177fpm +2.9rot 13.0dB 0e -5.2kHz gps3x5

The rule: values are quantised as the devices do (position to a thousandth of a
minute via the !Wxy! digits, course 1 degree, speed 1 kt, altitude 1 ft, climb in
0.1 m/s steps written in fpm, turn rate in 0.1 rot), so soar.feeds.ogn.parse gives
back the state within those quanta. The part every receiver shares is formatted
once per fix (`AircraftLine.body`); a receiver only adds its name and signal.
"""

from __future__ import annotations

from datetime import datetime

from soar.simulate.flights import State
from soar.units import FEET_TO_M, KNOTS_TO_KMH, ROT_TO_DEGS, UTC

_MS_TO_FPM = 196.850393700787      # 1 m/s in feet per minute
_ROT_TENTHS = 10.0 / ROT_TO_DEGS     # deg/s to tenths of a rot
_REST = "%02d%02d.%02d%s%s%03d%02d.%02d%s%s%03d/%03d/A=%06d !W%d%d!%s %+04dfpm %s%d.%drot"


def latitude(lat: float) -> tuple[str, int]:
    """`DDMM.mmN` and the third decimal of the minutes (the !Wx! digit)."""
    m = round(abs(lat) * 60000.0)
    d, rem = divmod(m, 60000)
    return f"{d:02d}{rem // 1000:02d}.{rem % 1000 // 10:02d}{'S' if lat < 0 else 'N'}", rem % 10


def longitude(lon: float) -> tuple[str, int]:
    m = round(abs(lon) * 60000.0)
    d, rem = divmod(m, 60000)
    return f"{d:03d}{rem // 1000:02d}.{rem % 1000 // 10:02d}{'W' if lon < 0 else 'E'}", rem % 10


def hhmmss(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H%M%S")


# APRS symbol (table, code) per OGN aircraft type: gliders and tow planes "/'" (small
# aircraft), powered aircraft and jets "\^", helicopters "/X" (as the real feed uses).
SYMBOLS = {1: ("/", "'"), 2: ("/", "'"), 3: ("/", "X"), 8: ("\\", "^"), 9: ("\\", "^")}
SOURCE_PREFIX = {0: "RND", 1: "ICA", 2: "FLR", 3: "OGN"}


class AircraftLine:
    """The constant parts of one aircraft's beacons."""
    __slots__ = ("head", "table", "code", "ident", "tail")

    def __init__(self, address_type: int, address: int, aircraft_type: int, destcall: str,
                 gps: str, stealth: bool = False, no_tracking: bool = False):
        flags = ((0x80 if stealth else 0) | (0x40 if no_tracking else 0)
                 | (aircraft_type & 0x0F) << 2 | (address_type & 0x03))
        self.head = f"{SOURCE_PREFIX[address_type]}{address:06X}>{destcall},qAS,"
        self.table, self.code = SYMBOLS.get(aircraft_type, ("/", "'"))
        self.ident = f" id{flags:02X}{address:06X}"
        self.tail = f" {gps}"

    def rest(self, st: State) -> str:
        """Everything after the `/hhmmssh` time up to the turn rate: the part of a beacon
        that all receivers share and that stays the same while the aircraft stands.
        (%-formatting: about twice as fast as the equivalent f-string here.)"""
        lat, lon = st[0], st[1]
        d, r = divmod(int(abs(lat) * 60000.0 + 0.5), 60000)
        e, q = divmod(int(abs(lon) * 60000.0 + 0.5), 60000)
        kt = int(st[3] / KNOTS_TO_KMH + 0.5)
        crs = (int(st[4] + 0.5) % 360 or 360) if kt else 0
        rot = round(st[6] * _ROT_TENTHS)
        return _REST % (
            d, r // 1000, r % 1000 // 10, "S" if lat < 0 else "N", self.table,
            e, q // 1000, q % 1000 // 10, "W" if lon < 0 else "E", self.code,
            crs, kt, round(st[2] / FEET_TO_M), r % 10, q % 10, self.ident,
            round(round(st[5] * 10.0) * _MS_TO_FPM / 10.0),
            "-" if rot < 0 else "+", abs(rot) // 10, abs(rot) % 10)

    def body(self, hms: str, st: State) -> str:
        """Everything after the receiver name up to the signal: ':/hhmmssh...rot'."""
        return f":/{hms}h{self.rest(st)}"


def receiver_position(name: str, hms: str, lat: float, lon: float, alt_m: float) -> str:
    la, _ = latitude(lat)
    lo, _ = longitude(lon)
    return f"{name}>OGNSDR,TCPIP*,qAC,GLIDERN2:/{hms}h{la}I{lo}&/A={round(alt_m / 0.3048):06d}"


def receiver_status(name: str, hms: str, cpu: float, temp_c: float, aircraft: int) -> str:
    return (f"{name}>OGNSDR,TCPIP*,qAC,GLIDERN2:>{hms}h v0.2.8.RPI-GPU CPU:{cpu:.1f} "
            f"RAM:770.2/968.2MB NTP:1.8ms/-3.3ppm {temp_c:+.1f}C {aircraft}/{aircraft}Acfts[1h] "
            "RF:+54-1.1ppm/-0.16dB/+7.1dB@10km[19481]/+16.8dB@10km[7/13]")


def server_line(t: float, port: int = 14580) -> str:
    """What aprsc sends every ~20 s: its version and UTC time (read by the router)."""
    stamp = datetime.fromtimestamp(t, UTC).strftime("%d %b %Y %H:%M:%S").lstrip("0")
    return f"# aprsc 2.1.15-soarsim {stamp} GMT SOARSIM 127.0.0.1:{port}"
