"""Mutated real frames and random bytes through the framer and the decoder.

`ModeSDecoder.decode` turns any internal exception into PARSE_ERROR, so "nothing
escapes" alone would prove little: well-formed input (valid length and DF) must
also never come back as PARSE_ERROR, which would be a hidden exception.

Every Fix must also fit the database columns (soar.columns): text printable (the
callsign from the Mode-S alphabet), every float finite and within float4, every
integer within its column. Mutations set the bit fields to their extremes and
identification frames to random characters (reserved ones included), so the
numbers and the callsign do take their hostile values.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from helpers.paths import TEST_DATA
from soar.columns import FLOAT4_MAX
from soar.feeds.beast import MODE_AC, PAYLOAD_LEN, BeastDecoder, Frame, encode_frame, signal_dbfs
from soar.feeds.modes import ModeSDecoder, crc_remainder
from soar.ingest import validate
from soar.records import BAD_TEXT, OUT_OF_RANGE, PARSE_ERROR, Fix, Reject

ULSS7 = TEST_DATA / "beast" / "ulss7-2018-04-03.beast"
START = datetime(2018, 4, 3, 19, 2, 28, tzinfo=timezone.utc)


def real_frames() -> list[Frame]:
    return [f for f in BeastDecoder().feed(ULSS7.read_bytes()) if f.type != MODE_AC]


def with_crc(b: bytearray) -> bytes:
    """Make a mutated frame pass the CRC (DF17) so that deeper code runs on it."""
    b[-3:] = crc_remainder(bytes(b[:-3]) + b"\0\0\0").to_bytes(3, "big")
    return bytes(b)


def mutate(rng: random.Random, frame: bytes, icaos: list[bytes]) -> bytes:
    b = bytearray(frame)
    kind = rng.randrange(6)
    if kind == 0:                                   # a few bit errors
        for _ in range(rng.randint(1, 3)):
            bit = rng.randrange(len(b) * 8)
            b[bit // 8] ^= 0x80 >> (bit % 8)
        return bytes(b)
    if kind == 1:                                   # random ME field, CRC fixed up
        b[4:11] = rng.randbytes(7) if len(b) == 14 else b[4:11]
    elif kind == 2:                                 # same type code, random rest
        if len(b) == 14:
            b[4] = (b[4] & 0xF8) | rng.randrange(8)
            b[5:11] = rng.randbytes(6)
    elif kind == 3:                                 # another aircraft's address
        if len(b) == 14:
            b[1:4] = rng.choice(icaos)
    elif kind == 4:                                 # extreme field values
        if len(b) == 14:
            b[4:11] = bytes(rng.choice((0x00, 0xFF)) if rng.random() < 0.7 else rng.randrange(256)
                            for _ in range(7))
    else:                                           # wrong lengths, any DF
        return rng.randbytes(rng.choice((0, 1, 2, 6, 7, 8, 13, 14, 15, 28)))
    return with_crc(b) if rng.random() < 0.9 else bytes(b)


_CALLSIGN = re.compile(r"[A-Z0-9]+(?: +[A-Z0-9]+)*")


def check_fix(fix: Fix) -> None:
    assert -90.0 <= fix.latitude <= 90.0 and -180.0 <= fix.longitude <= 180.0
    assert math.isfinite(fix.latitude) and math.isfinite(fix.longitude)
    assert 0 <= fix.address < 1 << 24 and fix.address_type == 1
    assert fix.aircraft_type is None or 0 <= fix.aircraft_type <= 15
    assert fix.time.tzinfo is not None and fix.time.utcoffset() == timedelta(0)
    for v in (fix.altitude_m, fix.ground_speed_kmh, fix.track_deg, fix.climb_rate_ms,
              fix.turn_rate_degs, fix.signal_db):
        assert v is None or (math.isfinite(v) and abs(v) <= FLOAT4_MAX), v
    assert fix.ground_speed_kmh is None or 0 <= fix.ground_speed_kmh < 20_000
    assert fix.track_deg is None or 0 <= fix.track_deg <= 360
    assert fix.climb_rate_ms is None or abs(fix.climb_rate_ms) < 200
    assert fix.on_ground in (True, False)
    assert fix.receiver is None or fix.receiver.isprintable()
    assert fix.callsign is None or _CALLSIGN.fullmatch(fix.callsign), fix.callsign
    assert fix.registration is None and fix.model is None and fix.cleaned == ()


def test_mutated_real_frames():
    rng = random.Random(20240706)
    frames = real_frames()
    icaos = sorted({f.payload[1:4] for f in frames if f.type != MODE_AC and f.payload[0] >> 3 == 17})
    decoder = ModeSDecoder("fuzz", 59.9, 30.3, max_range_km=400)
    fixes = well_formed = 0
    for i in range(30_000):
        frame = frames[i % len(frames)].payload
        msg = mutate(rng, frame, icaos) if rng.random() < 0.8 else frame
        at = START + timedelta(seconds=i * 0.002)
        if rng.random() < 0.5:
            msg = msg.hex()
        result = decoder.decode(msg, at, -10.0)
        raw = bytes.fromhex(msg) if isinstance(msg, str) else msg
        if len(raw) in (7, 14) and (raw[0] >> 3 >= 16) == (len(raw) == 14):
            well_formed += 1
            assert result != PARSE_ERROR, msg
        assert result is None or isinstance(result, (Fix, Reject))
        if isinstance(result, Fix):
            fixes += 1
            check_fix(result)
    assert well_formed > 22_500 and fixes > 250


def test_random_bytes_through_framer_and_decoder():
    rng = random.Random(99)
    decoder = ModeSDecoder("fuzz")
    framer = BeastDecoder()
    # Random bytes with many 0x1a and type bytes, so frames do get cut out of noise.
    alphabet = bytes(range(256)) + b"\x1a" * 40 + b"123" * 10
    frames_seen = 0
    for i in range(400):
        chunk = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 2000)))
        for frame in framer.feed(chunk):
            frames_seen += 1
            assert len(frame.payload) == PAYLOAD_LEN[frame.type]
            assert 0 <= frame.mlat_ticks < 1 << 48 and 0 <= frame.signal < 256
            result = decoder.decode(frame.payload, START + timedelta(seconds=i),
                                    signal_dbfs(frame.signal))
            if frame.type != MODE_AC and (frame.payload[0] >> 3 >= 16) == (frame.type == 0x33):
                assert result != PARSE_ERROR
            if isinstance(result, Fix):
                check_fix(result)
    assert frames_seen > 1000
    assert framer.garbage_bytes > 100_000


def test_corrupted_beast_stream_keeps_framing():
    rng = random.Random(5)
    wire = bytearray(ULSS7.read_bytes())
    for _ in range(3000):                       # flip, delete and insert bytes
        pos = rng.randrange(len(wire))
        op = rng.randrange(3)
        if op == 0:
            wire[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            del wire[pos]
        else:
            wire.insert(pos, rng.choice((0x1A, 0x31, 0x33, rng.randrange(256))))
    framer = BeastDecoder()
    decoder = ModeSDecoder("fuzz", 59.9, 30.3)
    frames = []
    pos = 0
    while pos < len(wire):
        n = rng.randint(1, 4096)
        frames += framer.feed(bytes(wire[pos:pos + n]))
        pos += n
    frames += framer.flush()
    # Most frames survive; each damaged spot costs about one frame.
    assert 13_954 - 4000 < len(frames) < 13_954 + 500
    assert all(encode_frame(f) for f in frames)
    for i, f in enumerate(frames):
        result = decoder.decode(f.payload, START + timedelta(milliseconds=4 * i))
        if isinstance(result, Fix):
            check_fix(result)
            # The capture was recorded near Saint Petersburg.
            assert 55 < result.latitude < 65 and 25 < result.longitude < 42


def identification(rng: random.Random, icao: bytes) -> bytes:
    """A DF17 identification frame (TC 1-4) with 8 random 6-bit characters, any of
    them reserved ('#' in the Mode-S alphabet), CRC fixed up."""
    chars = rng.getrandbits(48)
    me = bytes([(rng.randint(1, 4) << 3) | rng.randrange(8)]) + chars.to_bytes(6, "big")
    return with_crc(bytearray(b"\x8d" + icao + me + b"\0\0\0"))


def test_random_callsigns_stay_in_the_mode_s_alphabet():
    rng = random.Random(7)
    frames = real_frames()
    positions = [f.payload for f in frames if f.payload[0] >> 3 == 17 and 9 <= f.payload[4] >> 3 <= 18]
    decoder = ModeSDecoder("fuzz", 59.9, 30.3)
    callsigns = Counter()
    for i, frame in enumerate(positions * 3):
        at = START + timedelta(seconds=i * 0.05)
        decoder.decode(identification(rng, frame[1:4]), at)
        result = decoder.decode(frame, at)
        if isinstance(result, Fix):
            check_fix(result)
            callsigns[result.callsign is not None] += 1
    # Random identifications did reach the fixes (those without a reserved character).
    assert callsigns[True] > 500, callsigns


@pytest.mark.parametrize("name", ["feed\x00", "a\x1bb", "\u2028", "x\udc80"])
def test_a_feed_name_that_is_not_printable_is_refused_not_altered(name):
    decoder = ModeSDecoder(name, 59.9, 30.3)
    results = Counter(decoder.decode(f.payload, START) for f in real_frames()[:500])
    assert results == Counter({BAD_TEXT: 500})


@pytest.mark.parametrize("signal", [math.nan, math.inf, -math.inf, 1e39, -1e300])
def test_a_signal_beyond_float4_is_refused_by_validation(signal):
    """The signal level comes with the frame from the feed reader, not from the frame's
    bits: validation is the gate that keeps +Infinity out of `real`."""
    decoder = ModeSDecoder("fuzz", 59.9, 30.3)
    fixes = [r for i, f in enumerate(real_frames()[:3000])
             if isinstance(r := decoder.decode(f.payload, START + timedelta(seconds=i * 0.02),
                                               signal), Fix)]
    assert fixes
    assert {validate.check(f) for f in fixes} == {OUT_OF_RANGE}


def test_long_incompressible_input_is_a_counted_rejection():
    """4,000-6,000 random hex digits, bytes or letters as a frame, and a feed name of
    that length: parse_error and too_long, never a Fix."""
    from soar.records import TOO_LONG
    rng = random.Random(21)
    t = datetime(2018, 4, 3, 19, 3, tzinfo=timezone.utc)
    decoder = ModeSDecoder("feed")
    for _ in range(30):
        n = rng.randint(4000, 6000)
        for frame in ("".join(rng.choices("0123456789abcdef", k=n)),
                      bytes(rng.randrange(256) for _ in range(n)),
                      "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=n))):
            assert decoder.decode(frame, t) == PARSE_ERROR
    long_name = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=5000))
    assert ModeSDecoder(long_name).decode("8d4ca1fa9909a3b8b0044f9d7d0e", t) == TOO_LONG
