"""Parsing of OGN APRS lines into Fix / ReceiverBeacon records.

Pure functions. The common OGN shape (`/hhmmssh` position with a timestamp) goes
through one compiled regex and a token loop over the comment, which is several
times faster than aprslib; aprslib is only the fallback for the rarer APRS
position shapes (no timestamp, compressed, ambiguity...).

Clean at the edge: every record this module returns fits its database columns
(`soar.columns`), so one hostile line can never make PostgreSQL refuse a batch.
- Identities are rejected, never altered: a receiver name (the last APRS path element
  of a fix, the source call of a receiver beacon) with a non-printable character
  (control characters, NUL included) makes the message BAD_TEXT.
- Display-only text is cleaned: non-printable characters are removed from a fix's
  callsign, registration and model and from a receiver's version, platform and the
  `rf` and `comment` status texts; the record lists the fields in `cleaned`, which
  the router counts. Status keys are this module's own names.
- Lengths (`soar.columns.TEXT_MAX`): a receiver name over its limit makes the message
  TOO_LONG (an identity is never cut); a callsign, registration or model over its limit
  is dropped (a cut registration would name another aircraft), listed in `cleaned` as
  `<field>_too_long`; a receiver's version and platform, and its `rf` and `comment`
  status texts, are truncated, listed as `<field>_truncated`.
- A line a reader could not deliver (a recording line without a readable time, an
  APRS-IS line over the cap) arrives as its reason (soar.records.payload_reject) and is
  returned as it is, so the router counts it.
- Numbers: a climb rate, turn rate or signal token that is not finite or does not fit
  a `real` once converted makes the message OUT_OF_RANGE (a corrupted number casts
  doubt on the whole line), as does a receiver altitude out of `real` range; receiver
  status numbers go into jsonb and are kept only when finite (JSON has no NaN/inf).
  Positions, speeds and courses come from fixed-width fields and stay in range by
  construction; `soar.ingest.validate` then applies the physical limits.
Clean input pays one `isprintable()` per stored text field and one comparison per
number.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

import aprslib

from soar.columns import (
    CALLSIGN_MAX,
    MODEL_MAX,
    PLATFORM_MAX,
    REAL_MAX,
    REAL_MIN,
    REGISTRATION_MAX,
    STATUS_TEXT_MAX,
    VERSION_MAX,
    is_float4,
    printable,
)
from soar.records import (
    OUT_OF_RANGE,
    PARSE_ERROR,
    UNSUPPORTED,
    AddressType,
    Fix,
    ReceiverBeacon,
    Reject,
    Source,
    name_reject,
    payload_reject,
)
from soar.units import FEET_TO_M, FPM_TO_MS, KNOTS_TO_KMH, ROT_TO_DEGS, UTC

_DAY = timedelta(days=1)

# Tracker families that send no usable `id` token still carry the address in the
# callsign for these prefixes; other prefixes (FMT, AIR, ...) name no address type.
_CALLSIGN_ADDRESS_TYPES = {
    "FLR": int(AddressType.FLARM), "ICA": int(AddressType.ICAO),
    "OGN": int(AddressType.OGN), "RND": int(AddressType.RANDOM),
}
_UNSUPPORTED_DESTCALLS = frozenset({"OGNDVS"})   # receiver-side weather stations

# info field of a position with a timestamp: /hhmmssh DDMM.mmN T DDDMM.mmE S [ccc/sss][/A=aaaaaa]
_POSITION = re.compile(
    r"[/@](\d{6})([hz])(\d\d)(\d\d\.\d\d)([NS])(.)(\d{3})(\d\d\.\d\d)([EW])(.)"
    r"(?:(\d{3})/(\d{3}))?(?:/A=(-\d{5}|\d{6}))?(?: !W(\d)(\d)!)?", re.ASCII)
_ID = re.compile(r"id([0-9A-Fa-f]{2}|[0-9A-Fa-f]{4})([0-9A-Fa-f]{6})\Z", re.ASCII)
_DAO = re.compile(r"!W(\d)(\d)!\Z", re.ASCII)
_HEX6 = re.compile(r"[0-9A-Fa-f]{6}\Z", re.ASCII)
_TIMESTAMP = re.compile(r"(\d{6})([hz])", re.ASCII)
_VERSION = re.compile(r"v(\d+\.\d+\.\d+)(?:\.(\S+))?\Z", re.ASCII)
_VERSION_TOKEN = re.compile(r"v[0-9A-Z]", re.ASCII)   # v0.2.7.ARM, vMB101-ESP32-OGNbase
_SERVER_TIME = re.compile(
    r"(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) "
    r"(\d\d):(\d\d):(\d\d) GMT", re.ASCII)
_MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}
_ADSB_CATEGORY = re.compile(r"[A-D][0-7]:", re.ASCII)


def parse_capture_line(line: str) -> tuple[datetime, str] | None:
    """Split a recorded line into (receive time, raw APRS); None if blank or unreadable.

    Accepts `<ISO-8601> <raw>` and OGN's `YYYY-MM-DD HH:MM:SS.ffffff: <raw>`.
    """
    try:
        line = line.rstrip("\r\n")
        if not line.strip():
            return None
        # OGN's captures put a space inside the stamp; the raw line may contain ": " too.
        end = line.find(" ", 11 if line[10:11] == " " else 0)
        if end < 0:
            return None
        stamp, raw = line[:end].removesuffix(":"), line[end + 1:]
        if not raw.strip():
            return None
        t = datetime.fromisoformat(stamp)
        t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
        return t, raw
    except (ValueError, OverflowError, TypeError):
        return None


def parse_server_comment(raw: str) -> datetime | None:
    """The server time in `# aprsc 2.1.5 28 Nov 2026 12:00:00 GMT GLIDERN1 ...`, if any."""
    try:
        m = _SERVER_TIME.search(raw) if raw.startswith("#") else None
        if m is None:
            return None
        day, mon, year, hh, mm, ss = m.groups()
        return datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss),
                        tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def parse(raw: str, received_at: datetime) -> Fix | ReceiverBeacon | Reject | None:
    """One raw APRS line to a record or a Reject reason; None for `#` server lines.

    Never raises: anything unexpected in the input becomes PARSE_ERROR. A reader's
    reason in place of a line (soar.records.payload_reject) is returned as it is.
    """
    try:
        if (reason := payload_reject(raw)) is not None:
            return reason
        return _parse(raw, received_at)
    except Exception:   # noqa: BLE001 -- hostile input becomes a counted PARSE_ERROR
        return PARSE_ERROR


def _parse(raw: str, received_at: datetime):
    raw = raw.rstrip("\r\n")
    if raw.startswith("#"):
        return None
    head, sep, info = raw.partition(":")
    src, gt, rest = head.partition(">")
    if not sep or not gt or not src or not info or " " in head:
        return PARSE_ERROR
    path = rest.split(",")
    dst = path.pop(0)
    if not dst:
        return PARSE_ERROR
    receiver_side = dst == "OGNSDR" or "qAC" in path or "TCPIP*" in path
    if dst in _UNSUPPORTED_DESTCALLS:
        return UNSUPPORTED
    kind = info[0]
    if kind == ">":
        return _receiver_status(src, info, received_at) if receiver_side else UNSUPPORTED
    if kind not in "/@!=":
        return UNSUPPORTED            # objects, items, messages, Mic-E, telemetry...

    pos = _position(info, received_at)
    if isinstance(pos, str):
        return pos
    time, lat, lon, symbol, course, speed, alt, comment = pos
    if symbol == "_":
        return UNSUPPORTED            # weather report (e.g. FANET weather stations)
    if receiver_side:
        if alt is not None and not is_float4(alt):
            return OUT_OF_RANGE
        b = ReceiverBeacon(name=src, received_at=received_at, time=time, latitude=lat,
                           longitude=lon, altitude_m=alt)
        _status_tokens(comment.split(), b)
        return _clean_beacon(b)
    return _fix(src, path, received_at, time, lat, lon, course, speed, alt, comment)


def _position(info: str, received_at: datetime):
    """(time, lat, lon, symbol, course, speed_kmh, alt_m, comment) or a Reject."""
    m = _POSITION.match(info)
    if m is None:
        return _position_aprslib(info, received_at)
    ts, form, lat_d, lat_m, ns, _table, lon_d, lon_m, ew, symbol, cse, spd, alt, dao_lat, \
        dao_lon = m.groups()
    lat_min = float(lat_m)
    lon_min = float(lon_m)
    if lat_min >= 60.0 or lon_min >= 60.0:
        return PARSE_ERROR
    comment = info[m.end():]
    if dao_lat is None and "!W" in comment:   # not in its usual place right after A=
        i = comment.find("!W")
        d = _DAO.match(comment, i, i + 5)
        if d is not None:
            dao_lat, dao_lon = d.groups()
            comment = comment[:i] + comment[i + 5:]
    # !Wxy! adds a third decimal to the minutes; applied to the magnitude, before the sign.
    if dao_lat is not None:
        lat_min += int(dao_lat) * 0.001
        lon_min += int(dao_lon) * 0.001
    lat = int(lat_d) + lat_min / 60.0
    lon = int(lon_d) + lon_min / 60.0
    if ns == "S":
        lat = -lat
    if ew == "W":
        lon = -lon
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return OUT_OF_RANGE
    time = resolve_time(ts, form, received_at)
    if time is None:
        return PARSE_ERROR
    course = int(cse) % 360 if cse is not None else None
    speed = int(spd) * KNOTS_TO_KMH if spd is not None else None
    alt_m = int(alt) * FEET_TO_M if alt is not None else None
    return time, lat, lon, symbol, course, speed, alt_m, comment


def _position_aprslib(info: str, received_at: datetime):
    # Our own header split already happened; aprslib's header checks reject OGN's long
    # destcalls (e.g. OGEVARIO), so it only sees the info field behind a neutral header.
    try:
        p = aprslib.parse("N0CALL>APRS:" + info)
    except aprslib.exceptions.UnknownFormat:
        return UNSUPPORTED
    except Exception:   # noqa: BLE001 -- hostile input becomes a counted PARSE_ERROR
        return PARSE_ERROR
    lat, lon = p.get("latitude"), p.get("longitude")
    if lat is None or lon is None or p.get("format") not in ("uncompressed", "compressed"):
        return UNSUPPORTED
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return OUT_OF_RANGE
    raw_ts = p.get("raw_timestamp")
    if raw_ts and raw_ts[6] in "hz":
        time = resolve_time(raw_ts[:6], raw_ts[6], received_at)
        if time is None:
            return PARSE_ERROR
    else:                              # no (or local-time) timestamp: heard now
        time = received_at
    symbol = "_" if "weather" in p else p.get("symbol")
    course = p.get("course")
    return (time, float(lat), float(lon), symbol,
            course % 360 if course is not None else None,
            p.get("speed"), p.get("altitude"), p.get("comment") or "")


def resolve_time(ts: str, form: str, received_at: datetime) -> datetime | None:
    """Full UTC time of an APRS `hhmmss` + `h` or `ddhhmm` + `z` stamp, nearest received_at."""
    a, rest = divmod(int(ts), 10000)
    b, c = divmod(rest, 100)
    ref = received_at.astimezone(UTC) if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    if form == "h":
        if a > 23 or b > 59 or c > 59:
            return None
        t = datetime(ref.year, ref.month, ref.day, a, b, c, tzinfo=UTC)
        delta = (a - ref.hour) * 3600 + (b - ref.minute) * 60 + c - ref.second
        if delta > 43200:              # e.g. 23:59:58 received at 00:00:03: yesterday
            t -= _DAY
        elif delta < -43200:           # e.g. 00:00:02 received at 23:59:59: tomorrow
            t += _DAY
        return t
    if a < 1 or a > 31 or b > 23 or c > 59:
        return None
    best = None
    for months in (-1, 0, 1):          # the day of month may belong to an adjacent month
        y, mo = divmod(ref.year * 12 + ref.month - 1 + months, 12)
        try:
            t = datetime(y, mo + 1, a, b, c, tzinfo=UTC)
        except ValueError:
            continue
        if best is None or abs(t - ref) < abs(best - ref):
            best = t
    return best


def _num(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _fix(src, path, received_at, time, lat, lon, course, speed, alt, comment):
    receiver = path[-1] if path else None
    if receiver is not None and (bad := name_reject(receiver)) is not None:
        return bad
    climb = rot = db = id_match = callsign = registration = model = None
    for tok in comment.split():
        # Dispatch on the first/last character: most tokens are ones Fix has no column
        # for (`0e`, `-8.4kHz`, `gps2x3`...), so they must fall through cheaply.
        # float() also takes "nan"/"inf" and overflows to inf: range-checked below.
        first = tok[0]
        try:
            if first in "+-0123456789":
                last = tok[-1]
                if last == "m" and tok.endswith("fpm"):
                    climb = float(tok[:-3])
                elif last == "t" and tok.endswith("rot"):
                    rot = float(tok[:-3])
                elif last == "B" and tok.endswith("dB"):
                    db = float(tok[:-2])
            elif first == "i":
                if id_match is None:
                    id_match = _ID.match(tok)
            elif first == "f" and tok.startswith("fn"):   # ADS-B: fnRYR7YM, fnA3:RYR5VV
                callsign = tok[5:] if _ADSB_CATEGORY.match(tok, 2) else tok[2:]
            elif first == "r" and tok.startswith("reg"):
                registration = tok[3:].removeprefix(":")
            elif first == "m" and tok.startswith("model"):
                model = tok[5:].removeprefix(":")
            elif tok[2:3] == ":" and callsign is None and _ADSB_CATEGORY.match(tok):
                callsign = tok[3:]
        except ValueError:
            pass
    # bit errors (`e`), frequency offset (`kHz`), `gpsAxB`, `FLnnn.nn`, `dBm`, `s`/`h`/`r`
    # tokens are parse_comment() material: Fix has no columns for them.
    # Each must fit its `real` column once converted (the comparison is False for NaN too).
    if climb is not None:
        climb *= FPM_TO_MS
        if not REAL_MIN <= climb <= REAL_MAX:
            return OUT_OF_RANGE
    if rot is not None:
        rot *= ROT_TO_DEGS
        if not REAL_MIN <= rot <= REAL_MAX:
            return OUT_OF_RANGE
    if db is not None and not REAL_MIN <= db <= REAL_MAX:
        return OUT_OF_RANGE
    cleaned = ()
    if callsign is not None or registration is not None or model is not None:
        found: list = []               # rare: ADS-B relays and a few tracker families
        callsign = _identifying(callsign, "callsign", CALLSIGN_MAX, found)
        registration = _identifying(registration, "registration", REGISTRATION_MAX, found)
        model = _identifying(model, "model", MODEL_MAX, found)
        cleaned = tuple(found)

    if id_match is not None:
        hexflags, hexaddr = id_match.groups()
        bits, address = int(hexflags, 16), int(hexaddr, 16)
        if len(hexflags) == 2:         # STttttaa
            stealth, no_track = bool(bits & 0x80), bool(bits & 0x40)
            aircraft_type, address_type = (bits >> 2) & 0x0F, bits & 0x03
        else:                          # Naviter: STtt ttaa aaaa rrrr
            stealth, no_track = bool(bits & 0x8000), bool(bits & 0x4000)
            aircraft_type, address_type = (bits >> 10) & 0x0F, (bits >> 4) & 0x3F
    else:
        address_type = _CALLSIGN_ADDRESS_TYPES.get(src[:3])
        if address_type is None or len(src) != 9 or not _HEX6.match(src, 3):
            return UNSUPPORTED         # well-formed, but no address we could store it under
        address = int(src[3:], 16)
        stealth = no_track = False
        aircraft_type = None
    return Fix(
        time=time, received_at=received_at, source=Source.OGN,
        address_type=address_type, address=address, latitude=lat, longitude=lon,
        altitude_m=alt, ground_speed_kmh=speed, track_deg=course,
        climb_rate_ms=climb, turn_rate_degs=rot, receiver=receiver, signal_db=db,
        aircraft_type=aircraft_type, callsign=callsign or None,
        registration=registration or None,
        model=model if model and model != "UNKW" else None,
        stealth=stealth, no_tracking=no_track, cleaned=cleaned)


def _printable(value: str | None, name: str, cleaned: list) -> str | None:
    """`value` without the characters a text column must not hold; `cleaned` gets the
    field's name when something was removed."""
    if value is not None and not value.isprintable():
        cleaned.append(name)
        value = printable(value)
    return value


def _display(value: str | None, name: str, cleaned: list, limit: int) -> str | None:
    """A display-only text, printable (`_printable`), cut to `limit` characters;
    `cleaned` gets `<name>_truncated` when it was cut."""
    value = _printable(value, name, cleaned)
    if value is None:
        return None
    if len(value) > limit:
        cleaned.append(name + "_truncated")
        value = value[:limit]
    return value or None


def _identifying(value: str | None, name: str, limit: int, cleaned: list) -> str | None:
    """A text that names the aircraft (callsign, registration, model), printable
    (`_printable`); over `limit` characters it is dropped (`<name>_too_long`), never cut
    into another name."""
    value = _printable(value, name, cleaned)
    if value is None:
        return None
    if len(value) > limit:
        cleaned.append(name + "_too_long")
        return None
    return value or None


def _clean_beacon(b: ReceiverBeacon) -> ReceiverBeacon | Reject:
    """The receiver's name is its identity (rejected when not printable); the texts
    it reports about itself are display-only (cleaned)."""
    bad = name_reject(b.name)
    if bad is not None:
        return bad
    cleaned: list = []
    b.version = _display(b.version, "version", cleaned, VERSION_MAX)
    b.platform = _display(b.platform, "platform", cleaned, PLATFORM_MAX)
    st = b.status
    for key in ("rf", "comment"):
        text = st.get(key)
        if text is not None and (len(text) > STATUS_TEXT_MAX or not text.isprintable()):
            text = _display(text, key, cleaned, STATUS_TEXT_MAX)
            if text:
                st[key] = text
            else:
                del st[key]
    if cleaned:
        b.cleaned = tuple(cleaned)
    return b


def parse_comment(comment: str) -> dict:
    """All known tokens of an OGN aircraft comment, converted to SI-ish units.

    Not on the hot path: `parse` only extracts what Fix stores. Useful for
    diagnostics and for the fields Fix has no column for.
    """
    out: dict = {}
    for tok in comment.split():
        m = _ID.match(tok)
        d = _DAO.match(tok)
        if m:
            out["id_flags"], out["address"] = int(m.group(1), 16), int(m.group(2), 16)
        elif d:
            out["dao"] = (int(d.group(1)), int(d.group(2)))
        elif tok.endswith("fpm") and _num(tok[:-3]) is not None:
            out["climb_rate_ms"] = _num(tok[:-3]) * FPM_TO_MS
        elif tok.endswith("rot") and _num(tok[:-3]) is not None:
            out["turn_rate_degs"] = _num(tok[:-3]) * ROT_TO_DEGS
        elif tok.endswith("dBm") and _num(tok[:-3]) is not None:
            out["signal_power_dbm"] = _num(tok[:-3])
        elif tok.endswith("dB") and _num(tok[:-2]) is not None:
            out["signal_db"] = _num(tok[:-2])
        elif tok.endswith("kHz") and _num(tok[:-3]) is not None:
            out["frequency_offset_khz"] = _num(tok[:-3])
        elif tok.endswith("e") and tok[:-1].isdigit():
            out["bit_errors"] = int(tok[:-1])
        elif tok.startswith("gps") and "x" in tok:
            h, _, v = tok[3:].partition("x")
            if h.isdigit() and v.isdigit():
                out["gps_accuracy"] = (int(h), int(v))
        elif tok.startswith("FL") and _num(tok[2:]) is not None:
            out["flight_level"] = _num(tok[2:])
    return out


def _receiver_status(src: str, info: str, received_at: datetime):
    body = info[1:]
    time = None
    m = _TIMESTAMP.match(body)
    if m is not None:
        time = resolve_time(m.group(1), m.group(2), received_at)
        if time is None:
            return PARSE_ERROR
        body = body[m.end():]
    b = ReceiverBeacon(name=src, received_at=received_at, time=time)
    _status_tokens(body.split(), b)
    return _clean_beacon(b)


def _status_tokens(tokens: list[str], b: ReceiverBeacon) -> None:
    """Receiver status tokens (`v0.2.7.RPI-GPU CPU:0.7 RAM:770.2/968.2MB NTP:...`).

    Key names follow python-ogn-client (e.g. RAM is free/total); free text and unknown
    tokens end up in status["comment"].
    """
    st = b.status
    other = []
    for tok in tokens:
        key, colon, val = tok.partition(":")
        if b.version is None and _VERSION_TOKEN.match(tok):
            m = _VERSION.match(tok)
            b.version, b.platform = (m.group(1), m.group(2)) if m else (tok[1:], None)
        elif colon and key == "CPU" and _num(val) is not None:
            st["cpu_load"] = _num(val)
        elif colon and key == "RAM" and val.endswith("MB") and "/" in val:
            free, _, total = val[:-2].partition("/")
            st["ram_free_mb"], st["ram_total_mb"] = _num(free), _num(total)
        elif colon and key == "NTP" and "ms/" in val and val.endswith("ppm"):
            ms, _, ppm = val[:-3].partition("ms/")
            st["ntp_offset_ms"], st["ntp_ppm"] = _num(ms), _num(ppm)
        elif colon and key == "RF":
            st["rf"] = val
        elif colon and key == "Lat" and val.endswith("s"):
            st["latency_s"] = _num(val[:-1])
        elif tok.endswith("C") and tok[0] in "+-" and _num(tok[:-1]) is not None:
            st["cpu_temp_c"] = _num(tok[:-1])
        elif tok.endswith("Acfts[1h]") and "/" in tok:
            visible, _, total = tok[:-9].partition("/")
            st["senders_visible"], st["senders_total"] = _num(visible), _num(total)
        elif tok.endswith("V") and _num(tok[:-1]) is not None:
            st["voltage"] = _num(tok[:-1])
        elif tok.endswith("A") and _num(tok[:-1]) is not None:
            st["amperage"] = _num(tok[:-1])
        else:
            other.append(tok)
    if other:
        st["comment"] = " ".join(other)
