"""Mutated real OGN lines and random strings through soar.feeds.ogn: nothing escapes, and
whatever comes out as a Fix or ReceiverBeacon fits the database columns (soar.columns):
no control character (NUL included) in any text, every float finite and within float4,
every integer within its column's range, receiver status serialisable as JSON.

The mutations aim hostile values at the fields that are stored: control characters into
receiver names, callsigns, registrations, models, versions and status texts, and
numbers such as 1e308, 1e39, nan, inf and huge integers into the number tokens; the
tests assert those mutations did reach the parser's stored fields, so the invariants
are not checked on harmless input only.

Deterministic (fixed seed; set SOAR_FUZZ_SEED to explore other corpora, and
SOAR_FUZZ_SCALE=4 for the larger corpus these tests were first tuned on)."""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from helpers.paths import TEST_DATA
from soar.columns import (
    CALLSIGN_MAX,
    FLOAT4_MAX,
    MODEL_MAX,
    PLATFORM_MAX,
    RECEIVER_NAME_MAX,
    REGISTRATION_MAX,
    SMALLINT_MAX,
    STATUS_TEXT_MAX,
    VERSION_MAX,
)
from soar.feeds import ogn
from soar.records import (
    BAD_CRC,
    BAD_TEXT,
    DUPLICATE,
    FUTURE,
    NO_POSITION,
    NO_TRACKING,
    OUT_OF_RANGE,
    PARSE_ERROR,
    STALE,
    TOO_LONG,
    UNSUPPORTED,
    Fix,
    ReceiverBeacon,
    Reject,
)

SEED = int(os.environ.get("SOAR_FUZZ_SEED", "20240706"))
# The corpus size: every mutation kind is drawn hundreds of times at scale 1, and the
# path counts below are asserted, so a smaller corpus cannot pass vacuously.
SCALE = float(os.environ.get("SOAR_FUZZ_SCALE", "1"))
N_MUTANTS = int(15_000 * SCALE)
N_RANDOM = int(2_000 * SCALE)
N_CAPTURE = int(5_000 * SCALE)
REASONS = {PARSE_ERROR, BAD_CRC, OUT_OF_RANGE, DUPLICATE, STALE, FUTURE, NO_TRACKING,
           UNSUPPORTED, NO_POSITION, BAD_TEXT, TOO_LONG}
RECEIVED = datetime(2024, 12, 31, 23, 59, 30, tzinfo=timezone.utc)   # near rollovers

# Characters no text column may hold: C0 and C1 controls (NUL first), DEL, format
# characters, a lone surrogate, private use, line/paragraph separators, no-break space.
CONTROL = ("\x00\x01\x07\x08\x0b\x0c\x1b\x1f\x7f\x80\x85\x9f\u00ad\u200b\u200e"
           "\u2028\u2029\ufeff\udc80\ue000\xa0")
# Characters that matter to the parser, plus some that should never appear.
ALPHABET = ("0123456789ABCDEFabcdef/\\:>,!*#^'&_ -+.=hzNSEWidfmrotBkHzgpsxFL"
            "\t\r\n\u00e9\u00ff\u0663\ufffd\U0001f6e9" + CONTROL)
# Numbers beyond float4 / non-finite / beyond any integer column, signed so that the
# parser's first-character dispatch takes them as numbers.
HOSTILE_NUMBERS = ["1e308", "+1e308", "1e39", "+1e39", "-1e39", "3.5e38", "-3.5e38", "+nan",
                   "-nan", "+inf", "-inf", "1e309", "+Infinity", "99999999999999999999",
                   "-99999999999999999999", "2147483648", "-2147483649", "32768", "1e-46"]
TOKENS = ["id06DD89C9", "idFFFFFFFF", "id1C4007220E", "idZZ123456", "!W99!", "!W0", "nanrot",
          "infdB", "+1e308fpm", "-0.0rot", "fnA3:", "reg", "model:", "A3:X", "/A=-99999",
          "/A=999999", "999/999", "TCPIP*", "qAC", "OGNSDR", ">", ":", "9959.99N", "18059.99W",
          "v0.2.7.", "CPU:nan", "RAM:/MB", "NTP:ms/ppm", "0/0Acfts[1h]", "235959h", "000000z",
          "\u0663\u0663", "+1e39dB", "-1e39rot", "1e300dB", "+nanfpm", "+infrot", "reg\x00D-1",
          "modelA\x00B", "fnAB\x01C", "RF:\x00", "v0.2.\x007", "CPU:1e308", "+1e39C",
          "1e400V", "RAM:1e39/inf" + "MB", "+1e308Acfts[1h]"]
# Number tokens the parser reads (aircraft: fpm, rot, dB; receiver status: C, V, A, MB,
# ms/ppm, s, Acfts) and the stored text tokens and fields.
_NUMBER_TOKEN = re.compile(
    r"(?<![^\s:/])([+-]?\d+(?:\.\d+)?)(?=fpm|rot|dB|C\b|V\b|A\b|MB|ms/|ppm|s\b|/)")
_TEXT_FIELD = re.compile(r"(?:\b(?:reg|model|fn|v|RF:)|[A-D][0-7]:)(\S+)|,([^,:>]+):|^([^>]+)>")


def real_lines() -> list[str]:
    lines = []
    for path in sorted((TEST_DATA / "ogn" / "valid_messages").glob("*.txt")):
        lines += [ln for ln in path.read_text(encoding="utf-8").splitlines()
                  if ln.strip() and not ln.startswith("#")]
    assert len(lines) > 300
    return lines


def poison_number(rng: random.Random, line: str) -> str:
    """One number token's digits replaced by a hostile number."""
    spots = list(_NUMBER_TOKEN.finditer(line))
    if not spots:
        return line
    m = rng.choice(spots)
    return line[:m.start(1)] + rng.choice(HOSTILE_NUMBERS) + line[m.end(1):]


def poison_text(rng: random.Random, line: str) -> str:
    """A control character inside a stored text: receiver name (last path element or
    a receiver's source call), callsign, registration, model, version, RF status."""
    spots = [(m.start(g), m.end(g)) for m in _TEXT_FIELD.finditer(line)
             for g in (1, 2, 3) if m.group(g)]
    if not spots:
        return line
    start, end = rng.choice(spots)
    i = rng.randint(start, end)
    return line[:i] + "".join(rng.choices(CONTROL, k=rng.randint(1, 3))) + line[i:]


def mutate(rng: random.Random, line: str) -> str:
    op = rng.randrange(13)
    if op >= 11:
        return poison_text(rng, line)
    if op >= 9:
        return poison_number(rng, line)
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
        data = bytearray(line.encode("utf-8", "surrogatepass"))
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


def clean_text(v) -> bool:
    """Fits a text column: printable (no control character, NUL included) and UTF-8."""
    if not isinstance(v, str) or not v.isprintable() or "\x00" in v:
        return False
    v.encode("utf-8")                  # raises on a lone surrogate
    return True


def real(v) -> bool:
    """Fits a `real` (float4) column: finite and within float4's range."""
    return isinstance(v, (int, float)) and math.isfinite(v) and abs(v) <= FLOAT4_MAX


def check(raw: str, result, received_at: datetime = RECEIVED) -> str:
    if result is None:
        assert raw.rstrip("\r\n").startswith("#"), raw
        return "None"
    if isinstance(result, Fix):
        assert -90.0 <= result.latitude <= 90.0, raw
        assert -180.0 <= result.longitude <= 180.0, raw
        # integer (address), smallint with CHECK 0..63 (address_type), smallint
        # (aircraft_type, source), bigint (aircraft id).
        assert isinstance(result.address, int) and 0 <= result.address < 1 << 24, raw
        assert 0 <= result.address_type < 64 and 0 <= result.aircraft_id < 1 << 31, raw
        assert result.aircraft_type is None or 0 <= result.aircraft_type <= 15, raw
        assert 0 < int(result.source) <= SMALLINT_MAX
        assert result.time.tzinfo is not None and result.time.utcoffset().total_seconds() == 0
        assert result.received_at is received_at
        for v in (result.altitude_m, result.ground_speed_kmh, result.track_deg,
                  result.climb_rate_ms, result.turn_rate_degs, result.signal_db):
            assert v is None or real(v), (raw, v)
        assert result.track_deg is None or 0 <= result.track_deg < 360, raw
        for v, limit in ((result.receiver, RECEIVER_NAME_MAX), (result.callsign, CALLSIGN_MAX),
                         (result.registration, REGISTRATION_MAX), (result.model, MODEL_MAX)):
            assert v is None or (clean_text(v) and len(v) <= limit), (raw, v)
        assert set(result.cleaned) <= {f"{f}{s}" for f in ("callsign", "registration", "model")
                                       for s in ("", "_too_long")}, raw
        return "Fix"
    if isinstance(result, ReceiverBeacon):
        assert result.name and clean_text(result.name), raw
        assert len(result.name) <= RECEIVER_NAME_MAX, raw
        if result.latitude is not None:
            assert -90.0 <= result.latitude <= 90.0 and -180.0 <= result.longitude <= 180.0
        assert result.altitude_m is None or real(result.altitude_m), raw
        assert result.time is None or result.time.utcoffset().total_seconds() == 0, raw
        for v, limit in ((result.version, VERSION_MAX), (result.platform, PLATFORM_MAX)):
            assert v is None or (clean_text(v) and len(v) <= limit), (raw, v)
        for key, v in result.status.items():
            assert clean_text(key), (raw, key)
            assert v is None or (clean_text(v) and len(v) <= STATUS_TEXT_MAX) or (
                type(v) is float and math.isfinite(v)), (raw, v)
        json.dumps(result.status, allow_nan=False)   # the jsonb column: no NaN/Infinity
        assert set(result.cleaned) <= {f"{f}{s}" for f in ("version", "platform", "rf", "comment")
                                       for s in ("", "_truncated")}, raw
        return "ReceiverBeacon"
    assert isinstance(result, Reject) and result in REASONS, (raw, result)
    return str(result)


def hostile(raw: str) -> bool:
    return not raw.isprintable() or any(n in raw for n in ("e308", "e39", "nan", "inf", "Inf"))


@pytest.mark.parametrize("bad", [
    {"registration": "D-\x00KABC"}, {"model": "Ka\x078"}, {"callsign": "\udc80"},
    {"receiver": "ED\x00FS"}, {"signal_db": math.inf}, {"signal_db": 1e300},
    {"turn_rate_degs": math.nan}, {"climb_rate_ms": -1e39}, {"altitude_m": 3.5e38},
    {"aircraft_type": 1 << 15}, {"address_type": 64}, {"receiver": "E" * 65},
    {"registration": "D" * 17}, {"callsign": "C" * 17}, {"model": "M" * 65}])
def test_the_invariants_catch_what_the_database_refuses_or_mangles(bad):
    """The checks above are not vacuous: each kind of value the issue found stored
    (NUL in text, +Infinity from 1e300dB, out-of-range integers) fails them."""
    base = next(r for r in (ogn.parse(ln, RECEIVED) for ln in real_lines()) if isinstance(r, Fix))
    assert check("", base) == "Fix"
    with pytest.raises(AssertionError):
        check("", replace(base, **bad))


@pytest.mark.parametrize("bad", [
    {"name": "EDFS\x00"}, {"version": "0.2\x007"}, {"status": {"comment": "a\x00b"}},
    {"status": {"cpu_load": math.nan}}, {"altitude_m": math.inf}, {"name": "E" * 65},
    {"version": "1" * 33}, {"platform": "P" * 65}, {"status": {"rf": "r" * 257}}])
def test_the_receiver_invariants_catch_what_the_database_refuses(bad):
    base = next(r for r in (ogn.parse(ln, RECEIVED) for ln in real_lines())
                if isinstance(r, ReceiverBeacon))
    assert check("", base) == "ReceiverBeacon"
    with pytest.raises((AssertionError, ValueError)):
        check("", replace(base, **bad))


def test_mutated_real_lines_never_escape_and_fixes_are_valid():
    rng = random.Random(SEED)
    corpus = real_lines()
    counts = Counter()
    for n in range(N_MUTANTS):
        raw = mutate(rng, rng.choice(corpus))
        if n % 3 == 0:                            # pile a second mutation on a third of them
            raw = mutate(rng, raw)
        result = ogn.parse(raw, RECEIVED)
        outcome = check(raw, result)
        counts[outcome] += 1
        if hostile(raw):
            counts["hostile " + outcome] += 1
        if isinstance(result, (Fix, ReceiverBeacon)) and result.cleaned:
            counts["cleaned " + outcome] += 1
    # The corpus must exercise every path, or the invariants above prove nothing.
    k = N_MUTANTS / 60_000               # the thresholds are per 60,000 mutants
    assert counts["Fix"] > N_MUTANTS * 0.2, counts
    assert counts["ReceiverBeacon"] > 1000 * k, counts
    assert counts[PARSE_ERROR] > 1000 * k and counts[UNSUPPORTED] > 1000 * k, counts
    assert counts[OUT_OF_RANGE] > 100 * k, counts
    # Hostile text and numbers did reach the stored fields: records came out cleaned,
    # identities and numbers were refused, and many hostile lines still became records
    # (so the invariants were checked on them, not only on harmless input).
    assert counts["cleaned Fix"] > 100 * k and counts["cleaned ReceiverBeacon"] > 400 * k, counts
    assert counts["hostile " + BAD_TEXT] > 2000 * k, counts
    assert counts["hostile " + OUT_OF_RANGE] > 700 * k, counts
    assert counts["hostile Fix"] > 3000 * k and counts["hostile ReceiverBeacon"] > 1200 * k, counts


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
    for _ in range(N_CAPTURE):
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
    assert parsed > N_CAPTURE // 4


def long_text(rng: random.Random) -> str:
    """Incompressible text: 4,000-6,000 random letters and digits (a TOAST-compressed
    value would slip under the btree row limit; this one does not)."""
    return "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                               k=rng.randint(4000, 6000)))


FIX = ("ICA4CA4EB>OGADSB,qAS,LEMDadsb:/142346h4034.03N\\00315.64W^008/370/A=038000 id254CA4EB "
       "+000fpm 0.0rot fnRYR4057 regEI-DPG modelB738")
FIX_A3 = FIX.replace("fnRYR4057", "A3:RYR4057")
POSITION = ("Cordoba>APRS,TCPIP*,qAC,GLIDERN3:/194847h3112.85SI06409.56W&/A=001712 v0.2.5.ARM "
            "CPU:0.4 RAM:755.4/970.8MB NTP:6.7ms/-0.1ppm +45.5C RF:+48+18.3ppm/+3.45dB")
STATUS = ("Cordoba>APRS,TCPIP*,qAC,GLIDERN3:>194847h v0.2.5.ARM CPU:0.4 RAM:755.4/970.8MB "
          "NTP:6.7ms/-0.1ppm +45.5C 0/0Acfts[1h] RF:+48+18.3ppm/+3.45dB")
RECEIVED_2016 = datetime(2016, 3, 1, 19, 48, 50, tzinfo=timezone.utc)


@pytest.mark.parametrize("line, old, new, outcome", [
    # identities: the message is rejected, counted as too_long
    (FIX, "LEMDadsb", "{}", TOO_LONG),
    (POSITION, "Cordoba", "{}", TOO_LONG),
    (STATUS, "Cordoba", "{}", TOO_LONG),
    # names of the aircraft: dropped, never cut into another name
    (FIX, "regEI-DPG", "reg{}", ("registration", None, "registration_too_long")),
    (FIX, "regEI-DPG", "reg:{}", ("registration", None, "registration_too_long")),
    (FIX, "modelB738", "model{}", ("model", None, "model_too_long")),
    (FIX, "fnRYR4057", "fn{}", ("callsign", None, "callsign_too_long")),
    (FIX, "fnRYR4057", "fnA3:{}", ("callsign", None, "callsign_too_long")),
    (FIX_A3, "A3:RYR4057", "A3:{}", ("callsign", None, "callsign_too_long")),
    # tokens Fix has no column for: the fix is stored as if they were absent
    (FIX, "+000fpm", "+000fpm {}", ("callsign", "RYR4057", None)),
    (FIX, "+000fpm", "{}fpm", ("climb_rate_ms", None, None)),
    # a receiver's own texts: truncated
    (POSITION, "v0.2.5.ARM", "v0.2.5.{}", ("platform", PLATFORM_MAX, "platform_truncated")),
    (STATUS, "v0.2.5.ARM", "v0{}", ("version", VERSION_MAX, "version_truncated")),
    (STATUS, "RF:+48+18.3ppm/+3.45dB", "RF:{}", ("rf", STATUS_TEXT_MAX, "rf_truncated")),
    (POSITION, "CPU:0.4", "{} CPU:0.4", ("comment", STATUS_TEXT_MAX, "comment_truncated")),
])
def test_long_incompressible_text_in_every_stored_field_is_rejected_dropped_or_cut(
        line, old, new, outcome):
    rng = random.Random(SEED + len(new))
    text = long_text(rng)
    raw = line.replace(old, new.format(text), 1)
    assert raw != line and len(raw) > 4000
    result = ogn.parse(raw, RECEIVED_2016)
    check(raw, result, RECEIVED_2016)
    if isinstance(outcome, Reject):
        assert result == outcome
        return
    field, expect, cleaned = outcome
    assert isinstance(result, (Fix, ReceiverBeacon)), result
    undisturbed = ogn.parse(line, RECEIVED_2016)
    assert (result.latitude, result.longitude, result.time) == (
        undisturbed.latitude, undisturbed.longitude, undisturbed.time)  # the good part kept
    value = result.status.get(field) if field in ("rf", "comment") else getattr(result, field)
    if isinstance(expect, int):        # truncated: the first `limit` characters
        assert len(value) == expect and value in raw and value[-9:] in text, value
    else:
        assert value == expect
    assert list(result.cleaned) == ([cleaned] if cleaned else []), result.cleaned


def test_long_text_at_random_places_never_escapes():
    """Long text spliced into random stored-text spots of every real line (and
    anywhere): every outcome fits the columns, and the lengths did reach the fields."""
    rng = random.Random(SEED + 3)
    counts = Counter()
    for raw_line in real_lines() * 3:
        spots = [(m.start(g), m.end(g)) for m in _TEXT_FIELD.finditer(raw_line)
                 for g in (1, 2, 3) if m.group(g)]
        start, end = rng.choice(spots) if spots and rng.random() < 0.8 else (
            (i := rng.randrange(len(raw_line) + 1)), i)
        raw = raw_line[:start] + long_text(rng) + raw_line[end:]
        result = ogn.parse(raw, RECEIVED)
        counts[check(raw, result)] += 1
        if isinstance(result, (Fix, ReceiverBeacon)) and result.cleaned:
            counts["cut or dropped"] += 1
    assert counts[TOO_LONG] > 100 and counts["cut or dropped"] > 50, counts
