"""Mutated real OGN lines and random strings through soar.feeds.ogn: nothing escapes, and
whatever comes out as a Fix satisfies the invariants the database relies on.

Deterministic (fixed seed; set SOAR_FUZZ_SEED to explore other corpora)."""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from helpers.paths import SHARED_DATA
from soar.feeds import ogn
from soar.records import (
    BAD_CRC,
    DUPLICATE,
    FUTURE,
    NO_POSITION,
    NO_TRACKING,
    OUT_OF_RANGE,
    PARSE_ERROR,
    STALE,
    UNSUPPORTED,
    Fix,
    ReceiverBeacon,
    Reject,
)

_SHARED = SHARED_DATA
SHARED_DATA = _SHARED if _SHARED.exists() else Path(
    os.environ.get("SOAR_SHARED_DATA", "../shared/data")).resolve()
SEED = int(os.environ.get("SOAR_FUZZ_SEED", "20240706"))
N_MUTANTS = 60_000
N_RANDOM = 8_000
REASONS = {PARSE_ERROR, BAD_CRC, OUT_OF_RANGE, DUPLICATE, STALE, FUTURE, NO_TRACKING,
           UNSUPPORTED, NO_POSITION}
RECEIVED = datetime(2024, 12, 31, 23, 59, 30, tzinfo=timezone.utc)   # near rollovers

# Characters that matter to the parser, plus some that should never appear.
ALPHABET = ("0123456789ABCDEFabcdef/\\:>,!*#^'&_ -+.=hzNSEWidfmrotBkHzgpsxFL"
            "\x00\t\r\n\x7f\u00e9\u00ff\u0663\u2028\ufffd\U0001f6e9")
TOKENS = ["id06DD89C9", "idFFFFFFFF", "id1C4007220E", "idZZ123456", "!W99!", "!W0", "nanrot",
          "infdB", "+1e308fpm", "-0.0rot", "fnA3:", "reg", "model:", "A3:X", "/A=-99999",
          "/A=999999", "999/999", "TCPIP*", "qAC", "OGNSDR", ">", ":", "9959.99N", "18059.99W",
          "v0.2.7.", "CPU:nan", "RAM:/MB", "NTP:ms/ppm", "0/0Acfts[1h]", "235959h", "000000z",
          "\u0663\u0663"]


def real_lines() -> list[str]:
    lines = []
    for path in sorted((SHARED_DATA / "ogn" / "valid_messages").glob("*.txt")):
        lines += [ln for ln in path.read_text(encoding="utf-8").splitlines()
                  if ln.strip() and not ln.startswith("#")]
    assert len(lines) > 300
    return lines


def mutate(rng: random.Random, line: str) -> str:
    op = rng.randrange(9)
    i = rng.randrange(len(line) + 1)
    if op == 0:                                   # character flips
        chars = list(line)
        for _ in range(rng.randint(1, 4)):
            if chars:
                chars[rng.randrange(len(chars))] = rng.choice(ALPHABET)
        return "".join(chars)
    if op == 1:                                   # truncation
        return line[:i]
    if op == 2:                                   # insertion of random characters
        return line[:i] + "".join(rng.choices(ALPHABET, k=rng.randint(1, 8))) + line[i:]
    if op == 3:                                   # insertion of a meaningful token
        return line[:i] + rng.choice([" ", ""]) + rng.choice(TOKENS) + line[i:]
    if op == 4:                                   # swap two space-separated fields
        parts = line.split(" ")
        if len(parts) > 1:
            a, b = rng.randrange(len(parts)), rng.randrange(len(parts))
            parts[a], parts[b] = parts[b], parts[a]
        return " ".join(parts)
    if op == 5:                                   # swap header and body pieces
        parts = line.split(rng.choice([",", ":", ">", "/"]))
        rng.shuffle(parts)
        return rng.choice([",", ":", ">", "/"]).join(parts)
    if op == 6:                                   # digits replaced: out-of-range values
        return "".join(rng.choice("09") if c.isdigit() and rng.random() < 0.3 else c
                       for c in line)
    if op == 7:                                   # byte-level damage, decoded as a reader would
        data = bytearray(line.encode("utf-8"))
        for _ in range(rng.randint(1, 3)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        return data.decode("utf-8", errors="replace")
    return line[:i] + line[i:][::-1]              # reversed tail


def random_string(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choices(ALPHABET, k=rng.randint(0, 120)))
    return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(0, 60))
                   ).encode("utf-8", "replace").decode("utf-8", "replace")


def check(raw: str, result, received_at: datetime = RECEIVED) -> str:
    if result is None:
        assert raw.rstrip("\r\n").startswith("#"), raw
        return "None"
    if isinstance(result, Fix):
        assert -90.0 <= result.latitude <= 90.0, raw
        assert -180.0 <= result.longitude <= 180.0, raw
        assert isinstance(result.address, int) and 0 <= result.address < 1 << 24, raw
        assert 0 <= result.address_type < 64 and 0 <= result.aircraft_id < 1 << 31, raw
        assert result.time.tzinfo is not None and result.time.utcoffset().total_seconds() == 0
        assert result.received_at is received_at
        for v in (result.altitude_m, result.ground_speed_kmh, result.track_deg,
                  result.climb_rate_ms, result.turn_rate_degs, result.signal_db):
            assert v is None or math.isfinite(v), raw
        assert result.track_deg is None or 0 <= result.track_deg < 360, raw
        return "Fix"
    if isinstance(result, ReceiverBeacon):
        assert result.name, raw
        if result.latitude is not None:
            assert -90.0 <= result.latitude <= 90.0 and -180.0 <= result.longitude <= 180.0
        assert result.time is None or result.time.utcoffset().total_seconds() == 0, raw
        return "ReceiverBeacon"
    assert isinstance(result, Reject) and result in REASONS, (raw, result)
    return str(result)


def test_mutated_real_lines_never_escape_and_fixes_are_valid():
    rng = random.Random(SEED)
    corpus = real_lines()
    counts = Counter()
    for n in range(N_MUTANTS):
        raw = mutate(rng, rng.choice(corpus))
        if n % 3 == 0:                            # pile a second mutation on a third of them
            raw = mutate(rng, raw)
        counts[check(raw, ogn.parse(raw, RECEIVED))] += 1
    # The corpus must exercise every path, or the invariants above prove nothing.
    assert counts["Fix"] > N_MUTANTS * 0.2, counts
    assert counts["ReceiverBeacon"] > 1000, counts
    assert counts[PARSE_ERROR] > 1000 and counts[UNSUPPORTED] > 1000, counts
    assert counts[OUT_OF_RANGE] > 100, counts


def test_random_strings_never_escape():
    rng = random.Random(SEED + 1)
    counts = Counter()
    for _ in range(N_RANDOM):
        raw = random_string(rng)
        counts[check(raw, ogn.parse(raw, RECEIVED))] += 1
    assert counts[PARSE_ERROR] > N_RANDOM // 2, counts


def test_capture_lines_never_escape():
    rng = random.Random(SEED + 2)
    corpus = real_lines()
    stamps = ["2020-05-30 11:04:52.421701: ", "2024-07-06T06:59:21.123Z ",
              "2024-07-06T23:59:59+14:00 ", "2024-07-06 06:59:21 ", ""]
    parsed = 0
    for _ in range(20_000):
        line = rng.choice(stamps) + rng.choice(corpus)
        if rng.random() < 0.7:
            line = mutate(rng, line)
        pair = ogn.parse_capture_line(line)
        if pair is None:
            continue
        parsed += 1
        t, raw = pair
        assert t.tzinfo is not None and t.utcoffset().total_seconds() == 0, line
        assert isinstance(raw, str) and raw.strip(), line
        check(raw, ogn.parse(raw, t), t)
    assert parsed > 5_000
