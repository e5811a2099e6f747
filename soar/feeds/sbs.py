"""SBS (BaseStation) lines to `Fix` records, merged per aircraft.

The format: text lines of 22 comma-separated fields (dump1090/readsb/Virtual Radar
port 30003, the ADSBHub exchange), `MSG,<transmission type>,<session>,<aircraft>,
<hex ident>,<flight>,<date generated>,<time generated>,<date logged>,<time logged>,
<callsign>,<altitude ft>,<ground speed kt>,<track deg>,<lat>,<lon>,<vertical rate
ft/min>,<squawk>,<alert>,<emergency>,<SPI>,<is on ground>`. An empty field is "not
in this message". Transmission types: 1 identification (callsign), 2 surface
position, 3 airborne position (and altitude), 4 velocity (ground speed, track,
vertical rate), 5-8 altitude, squawk, air/ground (surveillance replies, all-call).

Merge (as soar.feeds.modes does for Beast): state per aircraft and per feed, so a
fix carries the latest velocity (heard within the last 10 s of data time), the
latest air/ground statement (30 s) and the callsign (kept while the aircraft is
heard: silent for `state_ttl`, default 5 min, its state is forgotten). State moves
forward only: a line older than what the aircraft's state already holds (feeds repeat
and reorder lines) does not overwrite it. Field 22 (-1 or 1: on the ground, 0: in
the air) feeds `Fix.on_ground`, which the tracker trusts; a surface position (type
2) is on the ground, an airborne one (type 3) in the air unless the aircraft said
otherwise within 30 s, as the Mode-S decoder reads the same frames. A fix's altitude
is its own line's, else (airborne) the latest heard within 10 s.

Time: the fix time is the *generated* date/time (fields 7-8), which carries no zone:
UTC unless the decoder is given the feed's zone (`soar run --sbs-timezone`, or
`--sbs HOST:PORT@ZONE` for one feed). The
logged date/time is when the feed's decoder wrote the line (for a replayed
recording, the replay's date), so it is not used.

Returns: a Fix for a line with a position; None for a valid line that only updates
the aircraft's state (types 1, 4-8 without a position), counted as state-only;
NO_POSITION for a position message (type 2 or 3) whose position the feed's decoder
had not resolved (empty latitude/longitude; Mode-S counts the same frame so);
UNSUPPORTED for the other message kinds (STA, ID, AIR, SEL, CLK), transmission types
outside 1-8 and non-ICAO addresses (readsb's `~` prefix: TIS-B, anonymous);
PARSE_ERROR for a MSG line without exactly 22 fields (cut short, or a decimal comma
shifting the fields), a hex ident that is not 1-6 hex
digits (fewer than six is an address written without its leading zeros), a date or
time that is not one, and any non-numeric number field; OUT_OF_RANGE for latitude,
longitude, altitude, speed, track or vertical rate outside the field's physical
range. Never raises: anything unexpected is PARSE_ERROR.

Clean at the edge (soar.columns): every number is checked finite and within its
range here; a callsign not made of the Mode-S alphabet (letters, digits, inner
spaces, at most 8) is not kept; a feed name with a non-printable character makes
every line BAD_TEXT, one over RECEIVER_NAME_MAX characters TOO_LONG, as for Beast
(soar.records.name_reject).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, tzinfo

from soar.feeds.memory import AircraftMemory
from soar.records import (
    NO_POSITION,
    OUT_OF_RANGE,
    PARSE_ERROR,
    UNSUPPORTED,
    AddressType,
    Fix,
    Reject,
    Source,
    name_reject,
)
from soar.units import FEET_TO_M, FPM_TO_MS, KNOTS_TO_KMH, UTC

FIELDS = 22
VELOCITY_TTL_S = 10.0       # as soar.feeds.modes: a takeoff roll changes speed fast
ALTITUDE_TTL_S = 10.0
GROUND_TTL_S = 30.0
# Physical ranges of the fields (Mode-S's own field limits, with room): beyond them a
# value is garbage, not an aircraft.
MIN_ALTITUDE_FT = -2_000.0
MAX_ALTITUDE_FT = 130_000.0
MAX_GROUND_SPEED_KT = 6_000.0
MAX_VERTICAL_RATE_FPM = 40_000.0

# The other BaseStation message kinds: well-formed, but they carry no aircraft data.
OTHER_KINDS = frozenset({"STA", "ID", "AIR", "SEL", "CLK"})
_HEX = "0123456789ABCDEFabcdef"
_CALLSIGN = re.compile(r"[A-Z0-9]+(?: +[A-Z0-9]+)*")
_EPOCH = datetime(1970, 1, 1)
_DAY_CACHE_MAX = 64


def address(hexid: str) -> int | None:
    """The 24-bit ICAO address of a hex ident, or None when it is not 1-6 hex digits."""
    if not 0 < len(hexid) <= 6 or hexid.strip(_HEX):
        return None
    return int(hexid, 16)


def line_address(line: str) -> int | None:
    """The address an SBS line is about without decoding it (for the ingest shards):
    None for what is not a MSG line with a valid ICAO hex ident (shard 0 rejects those)."""
    f = line.split(",", 5)
    if len(f) < 6 or f[0] != "MSG":
        return None
    return address(f[4])


class Clock:
    """SBS date and time fields to Unix seconds, in the feed's zone (UTC by default).

    The date's midnight is cached (a feed sends one date all day), so a UTC line costs
    a few slices and int() calls; another zone goes through zoneinfo for each line
    (its offset changes with daylight saving time)."""

    def __init__(self, tz: tzinfo | None = None) -> None:
        self.tz = None if tz is None or tz is UTC else tz
        self._days: dict[str, tuple[int, int, int, float]] = {}

    def seconds(self, date: str, time: str) -> float:
        """`YYYY/MM/DD` (or `-`) and `HH:MM:SS[.fff]`; ValueError when they are not."""
        day = self._days.get(date)
        if day is None:
            if len(date) != 10 or date[4] not in "/-" or date[7] != date[4]:
                raise ValueError(date)
            y, mo, d = int(date[0:4]), int(date[5:7]), int(date[8:10])
            if len(self._days) >= _DAY_CACHE_MAX:
                self._days.clear()
            day = self._days[date] = (y, mo, d,
                                      (datetime(y, mo, d) - _EPOCH).total_seconds())
        if len(time) < 8 or time[2] != ":" or time[5] != ":":
            raise ValueError(time)
        h, mi, s = int(time[0:2]), int(time[3:5]), float(time[6:])
        if not (0 <= h < 24 and 0 <= mi < 60 and 0.0 <= s < 60.0):
            raise ValueError(time)
        if self.tz is None:
            return day[3] + h * 3600 + mi * 60 + s
        whole = int(s)
        local = datetime(day[0], day[1], day[2], h, mi, whole, int((s - whole) * 1e6),
                         tzinfo=self.tz)
        return local.timestamp()

    def line_time(self, line: str) -> datetime | None:
        """A line's generated time in UTC, or None when it has none (replays use it as
        the receive time: data time drives a replay)."""
        f = line.split(",", 8)
        if len(f) < 9:
            return None
        try:
            return datetime.fromtimestamp(self.seconds(f[6], f[7]), UTC)
        except (ValueError, OverflowError, OSError):
            return None


class _Aircraft:
    __slots__ = ("last_seen", "callsign", "gs_kmh", "track", "climb_ms", "vel_t",
                 "alt_m", "alt_t", "ground", "ground_t")

    def __init__(self, t: float) -> None:
        self.last_seen = t
        self.callsign: str | None = None
        self.gs_kmh: float | None = None
        self.track: float | None = None
        self.climb_ms: float | None = None
        self.vel_t = -math.inf
        self.alt_m: float | None = None
        self.alt_t = -math.inf
        self.ground: bool | None = None
        self.ground_t = -math.inf


class SbsDecoder(AircraftMemory[_Aircraft]):
    """Stateful decoder for one SBS feed (one receiver name); not thread-safe (the
    router thread owns it)."""

    def __init__(self, receiver: str, tz: tzinfo | None = None, *,
                 state_ttl: float = 300.0) -> None:
        super().__init__(state_ttl)
        self.receiver = receiver
        self._name_reject = name_reject(receiver)
        self.clock = Clock(tz)

    def decode(self, line: str | bytes, received_at: datetime,
               signal_db: float | None = None) -> Fix | Reject | None:
        """`received_at`: when the line arrived (UTC); `signal_db` is unused (SBS has
        none), taken so the router calls every decoder alike."""
        if self._name_reject is not None:
            return self._name_reject
        try:
            return self._decode(line, received_at)
        except Exception:   # noqa: BLE001 -- never raise into the ingest loop: a PARSE_ERROR
            return PARSE_ERROR

    def advance(self, received_at: datetime) -> None:
        """Data time passes without a line to decode (another shard's line). Nothing to
        do: an aircraft silent for `state_ttl` is forgotten when it is next heard, so
        the result never depends on when the memory sweep ran."""

    def _decode(self, line, received_at):
        if type(line) is not str:
            line = bytes(line).decode("ascii", "replace")
        f = line.rstrip("\r\n").split(",")
        if f[0] != "MSG":
            return UNSUPPORTED if f[0] in OTHER_KINDS else PARSE_ERROR
        if len(f) != FIELDS:
            # Fewer: cut short. More: a comma inside a field (a decimal comma) would
            # shift every later field, e.g. the longitude into the vertical rate.
            return PARSE_ERROR
        tt = f[1]
        if len(tt) != 1 or tt not in "12345678":
            return UNSUPPORTED if tt.isdigit() else PARSE_ERROR
        hexid = f[4]
        if hexid[:1] == "~":
            return UNSUPPORTED        # readsb: a non-ICAO address (TIS-B, anonymous)
        icao = address(hexid)
        if icao is None:
            return PARSE_ERROR
        try:
            t = self.clock.seconds(f[6], f[7])
            # Most fields are empty on most lines: no call for those.
            alt_ft = float(f[11]) if f[11] else None
            gs_kt = float(f[12]) if f[12] else None
            track = float(f[13]) if f[13] else None
            lat = float(f[14]) if f[14] else None
            lon = float(f[15]) if f[15] else None
            vr_fpm = float(f[16]) if f[16] else None
        except ValueError:
            return PARSE_ERROR
        gnd = f[21]
        if not gnd:
            ground = None
        elif gnd == "0":
            ground = False
        elif gnd == "-1" or gnd == "1":
            ground = True
        else:
            return PARSE_ERROR
        if ((lat is not None and not -90.0 <= lat <= 90.0)
                or (lon is not None and not -180.0 <= lon <= 180.0)
                or (alt_ft is not None and not MIN_ALTITUDE_FT <= alt_ft <= MAX_ALTITUDE_FT)
                or (gs_kt is not None and not 0.0 <= gs_kt <= MAX_GROUND_SPEED_KT)
                or (track is not None and not 0.0 <= track <= 360.0)
                or (vr_fpm is not None and not -MAX_VERTICAL_RATE_FPM <= vr_fpm
                    <= MAX_VERTICAL_RATE_FPM)):
            # (NaN fails every range test: "nan" and "inf" are not numbers.)
            values = (alt_ft, gs_kt, track, lat, lon, vr_fpm)
            if any(v is not None and not math.isfinite(v) for v in values):
                return PARSE_ERROR
            return OUT_OF_RANGE

        self._maybe_sweep(t)
        ac = self._aircraft.get(icao)
        if ac is None or abs(t - ac.last_seen) > self.state_ttl:
            ac = self._aircraft[icao] = _Aircraft(t)
        elif t > ac.last_seen:
            ac.last_seen = t
        callsign = f[10].strip()
        if callsign and len(callsign) <= 8 and _CALLSIGN.fullmatch(callsign):
            ac.callsign = callsign
        if (gs_kt is not None or track is not None or vr_fpm is not None) and t >= ac.vel_t:
            ac.gs_kmh = gs_kt * KNOTS_TO_KMH if gs_kt is not None else None
            ac.track = track
            ac.climb_ms = vr_fpm * FPM_TO_MS if vr_fpm is not None else None
            ac.vel_t = t
        alt_m = alt_ft * FEET_TO_M if alt_ft is not None else None
        if alt_m is not None and t >= ac.alt_t:
            ac.alt_m, ac.alt_t = alt_m, t
        if ground is not None and t >= ac.ground_t:
            ac.ground, ac.ground_t = ground, t

        if lat is None or lon is None:
            return NO_POSITION if tt == "2" or tt == "3" else None
        surface = tt == "2"
        if ground is None:
            if surface:
                ground = True
            elif tt == "3":
                ground = ac.ground is True and t - ac.ground_t <= GROUND_TTL_S
            elif t - ac.ground_t <= GROUND_TTL_S:
                ground = ac.ground
        if alt_m is None and not surface and t - ac.alt_t <= ALTITUDE_TTL_S:
            alt_m = ac.alt_m
        fresh = t - ac.vel_t <= VELOCITY_TTL_S
        time = _EPOCH_UTC + timedelta(seconds=t)
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=UTC)
        return Fix(time, received_at, Source.SBS, AddressType.ICAO, icao, lat, lon, alt_m,
                   ac.gs_kmh if fresh else None, ac.track if fresh else None,
                   ac.climb_ms if fresh else None, None, self.receiver, None,
                   ground, None, ac.callsign)


_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
