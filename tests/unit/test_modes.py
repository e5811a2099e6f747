"""Mode-S decoding checked against other decoders on real data.

- ulss7 capture (tests/data/beast/) against the recorder's own SBS output.
- AFR34ZG, Paris CDG to Toulouse (traffic wheel sample, cached by soar.reference.samples)
  against the latitude/longitude another decoder wrote into the file.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from helpers.paths import TEST_DATA
from soar.feeds.beast import MODE_AC, BeastDecoder, signal_dbfs
from soar.feeds.modes import ModeSDecoder, crc_remainder, parse_modes_line
from soar.records import (
    BAD_CRC,
    DUPLICATE,
    NO_POSITION,
    OUT_OF_RANGE,
    PARSE_ERROR,
    UNSUPPORTED,
    AddressType,
    Fix,
    Source,
)
from soar.reference import samples

UTC = timezone.utc
DATA = TEST_DATA / "beast"
ULSS7 = DATA / "ulss7-2018-04-03.beast"
ULSS7_SBS = DATA / "ulss7-2018-04-03.reference-sbs.txt"
# The SBS file's time of the capture's first frame; later frames add MLAT ticks.
ULSS7_START = datetime(2018, 4, 3, 19, 2, 28, 136000, tzinfo=UTC)
CDG = (49.0097, 2.5479)
TOULOUSE = (43.6291, 1.3638)
AFR34ZG = 0x393322


def km(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def readdress(frame: bytes, icao: int) -> bytes:
    """The same DF17 content from another address, with a correct CRC."""
    data = frame[:1] + icao.to_bytes(3, "big") + frame[4:11]
    return data + crc_remainder(data + b"\0\0\0").to_bytes(3, "big")


def with_parity(data: bytes, xor: int = 0) -> bytes:
    return data + (crc_remainder(data + b"\0\0\0") ^ xor).to_bytes(3, "big")


# ---------------------------------------------------------------- ulss7 vs SBS

def decode_ulss7():
    frames = BeastDecoder().feed(ULSS7.read_bytes())
    decoder = ModeSDecoder("ulss7")
    results = []
    t0 = frames[0].mlat_ticks
    for f in frames:
        at = ULSS7_START + timedelta(seconds=(f.mlat_ticks - t0) / 12e6)
        results.append((f, decoder.decode(f.payload, at, signal_dbfs(f.signal))))
    return results


def read_sbs():
    """Unique SBS records by type (the recorder wrote every line twice)."""
    by_type = defaultdict(set)
    for line in ULSS7_SBS.read_text().splitlines():
        p = line.split(",")
        if len(p) < 22 or p[0] != "MSG":
            continue
        t = datetime.strptime(f"{p[6]} {p[7]}", "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=UTC)
        by_type[p[1]].add((p[4], t, *p[10:22]))
    return by_type


@pytest.fixture(scope="module")
def ulss7():
    return decode_ulss7(), read_sbs()


def test_ulss7_positions_match_reference_sbs(ulss7):
    results, sbs = ulss7
    fixes = [r for _, r in results if isinstance(r, Fix)]
    ref = [r for r in sbs["3"] if r[6]]   # MSG,3 with a position
    assert len(ref) == 728
    by_icao = defaultdict(list)
    for f in fixes:
        by_icao[f"{f.address:06X}"].append(f)
    matched = 0
    for icao, t, _cs, alt, _gs, _trk, lat, lon, *_ in ref:
        near = [f for f in by_icao[icao] if abs((f.time - t).total_seconds()) < 0.002]
        assert len(near) == 1, (icao, t)
        f = near[0]
        assert abs(f.latitude - float(lat)) < 1e-5 and abs(f.longitude - float(lon)) < 1e-5, (icao, t)
        assert round(f.altitude_m / 0.3048) == int(alt), (icao, t)
        matched += 1
    # Every reference position matched, and nothing decoded that the recorder did not.
    assert matched == len(ref) == len(fixes)
    assert {f"{f.address:06X}" for f in fixes} == {r[0] for r in ref} and len(by_icao) == 11


def test_ulss7_rejects_match_reference(ulss7):
    results, sbs = ulss7
    counts = Counter(r if isinstance(r, str) else type(r).__name__ for _, r in results)
    # Positions the recorder could not resolve yet (MSG,3 without lat/lon).
    assert counts[NO_POSITION] == len([r for r in sbs["3"] if not r[6]]) == 21
    assert counts[UNSUPPORTED] == sum(1 for f, _ in results if f.type == MODE_AC)
    # The recorder: "6 messages that might be valid, but we couldn't validate the CRC".
    assert counts[BAD_CRC] == 6
    # The capture holds every frame twice; the repeated positions are duplicates.
    assert counts[DUPLICATE] == 749
    assert counts[PARSE_ERROR] == 0


def test_ulss7_fix_fields(ulss7):
    results, sbs = ulss7
    fixes = [r for _, r in results if isinstance(r, Fix)]
    for f in fixes:
        assert f.source == Source.ADSB and f.address_type == AddressType.ICAO
        assert f.receiver == "ulss7" and f.time == f.received_at and f.time.tzinfo is not None
        assert f.on_ground is False    # the SBS ground flag is 0 or empty throughout
        assert f.signal_db is not None and -60 < f.signal_db <= 0


def test_ulss7_callsigns_match_reference(ulss7):
    results, sbs = ulss7
    ref = defaultdict(set)
    for r in sbs["1"]:
        ref[r[0]].add(r[2].strip())
    ours = defaultdict(set)
    for _, r in results:
        if isinstance(r, Fix) and r.callsign:
            ours[f"{r.address:06X}"].add(r.callsign)
    assert ours == ref
    assert len(ref) == 11 and ref["424263"] == {"UTA470"}


def test_ulss7_velocities_match_reference(ulss7):
    results, sbs = ulss7
    ref = defaultdict(list)
    for r in sbs["4"]:
        ref[r[0]].append((r[1], float(r[4]), float(r[5]), float(r[8])))
    checked = 0
    for _, f in results:
        if not isinstance(f, Fix) or f.ground_speed_kmh is None:
            continue
        kt, fpm = f.ground_speed_kmh / 1.852, f.climb_rate_ms / 0.00508
        icao = f"{f.address:06X}"
        # The recorder truncates the speed to whole knots and its track differs
        # from the textbook atan2 by -0.5..+1.5 degrees (checked frame by frame).
        assert any(0 <= (f.time - t).total_seconds() <= 10.01
                   and 0 <= kt - gs < 1.001 and abs((f.track_deg - trk + 180) % 360 - 180) <= 1.5
                   and abs(fpm - vr) < 0.5 for t, gs, trk, vr in ref[icao]), (icao, f.time, kt)
        checked += 1
    assert checked > 650


# ------------------------------------------------------------ AFR34ZG flight

@pytest.fixture(scope="module")
def afr_lines():
    path = samples.path("full_flight_short.jsonl")   # a missing sample is a failure, not a skip
    return path.read_text().splitlines()


@pytest.fixture(scope="module")
def afr(afr_lines):
    """decode_afr() results by receiver position, computed once per module."""
    cache = {}

    def get(receiver=(None, None)):
        if receiver not in cache:
            cache[receiver] = decode_afr(afr_lines, receiver)
        return cache[receiver]
    return get


def decode_afr(lines, receiver=(None, None)):
    decoder = ModeSDecoder("afr", *receiver)
    out = []
    for line in lines:
        parsed = parse_modes_line(line)
        assert parsed is not None
        out.append((json.loads(line), decoder.decode(parsed[1], parsed[0])))
    return out


@pytest.mark.parametrize("receiver", [(None, None), CDG])
def test_afr_positions_match_file(afr, receiver):
    out = afr(receiver)
    file_positions = sum(1 for row, _ in out if "latitude" in row)
    matched = 0
    for row, r in out:
        if isinstance(r, Fix):
            assert "latitude" in row, row      # no position the other decoder lacks
            assert abs(r.latitude - row["latitude"]) < 1e-5, row
            assert abs(r.longitude - row["longitude"]) < 1e-5, row
            if "altitude" in row:
                assert round(r.altitude_m / 0.3048) == row["altitude"]
            matched += 1
    counts = Counter(r for _, r in out if isinstance(r, str))
    assert counts[PARSE_ERROR] == counts[BAD_CRC] == counts[OUT_OF_RANGE] == 0
    if receiver == CDG:
        # Only the first two surface frames wait for their pair.
        assert counts[NO_POSITION] == 2
        assert matched == file_positions - counts[DUPLICATE] - counts[NO_POSITION] == 7730
    else:
        # Before lift-off nothing locates the surface frames at CDG.
        assert matched == file_positions - counts[DUPLICATE] - counts[NO_POSITION] == 6540


def test_afr_ground_and_air(afr):
    fixes = [r for _, r in afr(CDG) if isinstance(r, Fix)]
    ground = [f for f in fixes if f.on_ground]
    air = [f for f in fixes if not f.on_ground]
    at_cdg = [f for f in ground if km(*CDG, f.latitude, f.longitude) < 5]
    at_tls = [f for f in ground if km(*TOULOUSE, f.latitude, f.longitude) < 5]
    assert len(at_cdg) > 500 and len(at_tls) > 300 and len(at_cdg) + len(at_tls) == len(ground)
    # Taxi out, fly, taxi in: the ground/air flag changes exactly twice.
    assert max(f.time for f in at_cdg) < min(f.time for f in air)
    assert max(f.time for f in air) < min(f.time for f in at_tls)
    assert all(f.altitude_m is None and f.climb_rate_ms is None for f in ground)
    assert all(f.altitude_m is not None for f in air)
    assert max(f.altitude_m for f in air) > 10_000
    cruise = [f for f in air if f.altitude_m > 10_000]
    assert all(700 < f.ground_speed_kmh < 1000 and abs(f.climb_rate_ms) < 20 for f in cruise)
    # Heading south-south-west at cruise, CDG to Toulouse.
    assert 170 < sorted(f.track_deg for f in cruise)[len(cruise) // 2] < 220
    assert {f.callsign for f in fixes} == {"AFR34ZG"}
    assert {f.address for f in fixes} == {AFR34ZG}


def test_afr_toulouse_surface_without_receiver_position(afr):
    out = afr()
    fixes = [r for _, r in out if isinstance(r, Fix)]
    ground = [f for f in fixes if f.on_ground]
    assert ground and all(km(*TOULOUSE, f.latitude, f.longitude) < 5 for f in ground)
    first_air = min(f.time for f in fixes if not f.on_ground)
    waiting = [row for row, r in out if r == NO_POSITION]
    # Surface frames at CDG until lift-off, then the first airborne frames wait for a pair.
    assert all(row["timestamp"] < first_air.timestamp() for row in waiting)
    assert all(row["bds"] == "06" or row["timestamp"] > first_air.timestamp() - 10 for row in waiting)
    assert sum(row["bds"] == "06" for row in waiting) > 1000


def test_afr_bad_crc_rejected(afr_lines):
    decoder = ModeSDecoder("afr")
    rejected = accepted = 0
    for i, line in enumerate(afr_lines[:3000]):
        at, hexframe = parse_modes_line(line)
        if i % 3 == 0:
            decoder.decode(hexframe, at)
            continue
        frame = bytearray.fromhex(hexframe)
        # Any bit but the downlink format's five.
        bit = 5 + i % (len(frame) * 8 - 5)
        frame[bit // 8] ^= 0x80 >> (bit % 8)
        r = decoder.decode(bytes(frame), at)
        rejected += r == BAD_CRC
        accepted += isinstance(r, Fix)
    assert accepted == 0 and rejected == 2000


def test_address_parity_needs_a_known_address(afr_lines):
    rows = [parse_modes_line(line) for line in afr_lines[:200]]
    df4 = next(h for _, h in rows if h.startswith("2"))       # DF4
    df17 = next(h for _, h in rows if h.startswith("8f"))     # DF17 of the same aircraft
    at = rows[0][0]
    decoder = ModeSDecoder("x")
    assert decoder.decode(df4, at) == BAD_CRC
    assert decoder.decode(df17, at) in (None, NO_POSITION)
    assert decoder.decode(df4, at) is None
    assert decoder.decode(df4, at + timedelta(minutes=6)) == BAD_CRC   # forgotten


def test_df11_interrogator_code():
    at = datetime(2024, 1, 1, tzinfo=UTC)
    decoder = ModeSDecoder("x")
    with_ii = with_parity(bytes.fromhex("5d4ca2d1"), xor=0x05)
    squitter = with_parity(bytes.fromhex("5d4ca2d1"))
    assert decoder.decode(with_ii, at) == BAD_CRC
    assert decoder.decode(squitter, at) is None
    assert decoder.decode(with_ii, at) is None
    assert decoder.decode(with_parity(bytes.fromhex("5d4ca2d1"), xor=0x1234), at) == BAD_CRC


def test_implausible_jump_is_rejected_then_track_recovers(ulss7):
    results, _ = ulss7
    positions = defaultdict(list)
    for f, _ in results:
        if f.type != MODE_AC and f.payload[0] >> 3 == 17 and 9 <= f.payload[4] >> 3 <= 18:
            positions[f.payload[1:4].hex().upper()].append(f.payload)
    a = list(dict.fromkeys(positions["71BE34"]))[:20]   # the capture repeats every frame
    b = list(dict.fromkeys(positions["42460C"]))[:40]   # about 300 km away
    x = 0xABCDEF
    decoder = ModeSDecoder("x")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for i, frame in enumerate(a + b):
        out.append(decoder.decode(readdress(frame, x), start + timedelta(seconds=0.5 * i)))
    fixes_a = [r for r in out[:20] if isinstance(r, Fix)]
    fixes_b = [r for r in out[20:] if isinstance(r, Fix)]
    assert fixes_a and all(km(59.74, 32.0, f.latitude, f.longitude) < 20 for f in fixes_a)
    assert out[20:23] == [OUT_OF_RANGE] * 3
    assert len(fixes_b) > 20 and all(km(60.93, 37.16, f.latitude, f.longitude) < 20 for f in fixes_b)


def test_unsupported_and_malformed():
    at = datetime(2024, 1, 1, tzinfo=UTC)
    decoder = ModeSDecoder("x")
    assert decoder.decode(b"\x12\x34", at) == UNSUPPORTED                    # Mode-A/C
    assert decoder.decode(with_parity(bytes.fromhex("c0" + "00" * 10)), at) == UNSUPPORTED  # DF24
    df18_anon = with_parity(bytes.fromhex("914ca2d158c9017e6f54cb"))        # DF18 CF=1
    assert decoder.decode(df18_anon, at) == UNSUPPORTED
    assert decoder.decode(with_parity(bytes.fromhex("904ca2d158c9017e6f54cb")), at) == NO_POSITION
    for bad in ("zz" * 7, "8d4ca2", "8d4ca2d158c901", "20" * 14, "", None, 42, b"\x8d" * 14):
        assert decoder.decode(bad, at) in (PARSE_ERROR, BAD_CRC), bad


def test_identification_and_velocity_fields():
    """The worked examples of the 1090 MHz Riddle / pyModeS docs, moved to one address."""
    at = datetime(2024, 1, 1, tzinfo=UTC)
    x = 0x4840D6
    ident = with_parity(bytes.fromhex("8D4840D6" "23" "2CC371C32CE0"))   # KLM1023, category A3
    velocity = readdress(bytes.fromhex("8D485020994409940838175B284F"), x)   # 159 kt, -832 fpm
    odd = readdress(bytes.fromhex("8D40621D58C386435CC412692AD6"), x)
    even = readdress(bytes.fromhex("8D40621D58C382D690C8AC2863A7"), x)
    decoder = ModeSDecoder("x")
    assert decoder.decode(ident, at) is None
    assert decoder.decode(velocity, at) is None
    assert decoder.decode(odd, at) == NO_POSITION
    fix = decoder.decode(even, at + timedelta(seconds=1))
    assert isinstance(fix, Fix)
    assert fix.latitude == pytest.approx(52.25720, abs=1e-5)
    assert fix.longitude == pytest.approx(3.91937, abs=1e-5)
    assert fix.altitude_m == pytest.approx(38000 * 0.3048)
    assert fix.callsign == "KLM1023" and fix.aircraft_type == 9
    assert fix.ground_speed_kmh == pytest.approx(159.2 * 1.852, abs=0.2)
    assert fix.track_deg == pytest.approx(182.88, abs=0.01)
    assert fix.climb_rate_ms == pytest.approx(-832 * 0.00508)
    assert fix.on_ground is False and fix.address == x
    # Velocity older than 10 s is not attached; the callsign stays.
    later = decoder.decode(odd, at + timedelta(seconds=12))
    assert later.ground_speed_kmh is None and later.callsign == "KLM1023"


def test_state_is_bounded():
    decoder = ModeSDecoder("x", state_ttl=300)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(1000):
        decoder.decode(with_parity(bytes([0x5D]) + (0x100000 + i).to_bytes(3, "big")), start)
    assert decoder.tracked == 1000
    decoder.decode(with_parity(bytes.fromhex("5d4ca2d1")), start + timedelta(seconds=400))
    assert decoder.tracked == 1


def test_naive_time_is_utc():
    decoder = ModeSDecoder("x")
    frame = with_parity(bytes.fromhex("5d4ca2d1"))
    assert decoder.decode(frame, datetime(2024, 1, 1)) is None


def test_parse_modes_line():
    at, frame = parse_modes_line(
        '{"timestamp": 1720248189.525094, "frame": "8f393322384a02aea63afc43dcba"}')
    assert at == datetime.fromtimestamp(1720248189.525094, UTC) and at.tzinfo is not None
    assert frame == "8f393322384a02aea63afc43dcba"
    # Short frames padded to 28 digits by the recorder are cut to 14.
    line = '{"timestamp":1,"frame":"212800bf40f1ef7e5817e9cc428d","df":"4"}'
    assert parse_modes_line(line)[1] == "212800bf40f1ef"
    assert parse_modes_line("1720248190.5 *8D4840D6202CC371C32CE0576098;") == (
        datetime.fromtimestamp(1720248190.5, UTC), "8d4840d6202cc371c32ce0576098")
    for bad in ("", "# comment", "{", '{"timestamp": 1}', "1 2 3", "abc 8d4840d6202cc371c32ce0576098",
                "1 8d4840d6202cc371c32ce05760", "1 zz4840d6202cc371c32ce0576098", "nan 5d4ca2d1c8ab3a",
                '{"timestamp": null, "frame": "5d4ca2d1c8ab3a"}', "1e300 5d4ca2d1c8ab3a"):
        assert parse_modes_line(bad) is None, bad


def test_dump1090_sample_capture():
    """The small Beast capture from the traffic wheel (dump1090, near Toulouse)."""
    data = samples.path("sample_dump1090.bin").read_bytes()   # missing: a failure, not a skip
    framer = BeastDecoder()
    frames = framer.feed(data) + framer.flush()
    assert len(frames) == 239 and framer.garbage_bytes == 0
    decoder = ModeSDecoder("dump1090")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    results = [decoder.decode(f.payload,
                              start + timedelta(seconds=(f.mlat_ticks - frames[0].mlat_ticks) / 12e6))
               for f in frames]
    fixes = [r for r in results if isinstance(r, Fix)]
    assert len(fixes) == 3 and {f.address for f in fixes} == {0x48520A}
    assert all(km(43.65, 1.23, f.latitude, f.longitude) < 3 for f in fixes)
    assert fixes[-1].callsign == "TRA89M" and fixes[0].altitude_m == pytest.approx(38000 * 0.3048)
    assert Counter(r for r in results if isinstance(r, str)) == {BAD_CRC: 10, NO_POSITION: 1}
