"""Mutated real SBS lines and random text through the SBS decoder.

`SbsDecoder.decode` turns any internal exception into PARSE_ERROR, so "nothing
escapes" alone would prove little. The invariants checked:
- every result is a Fix, None (state only) or a Reject: one outcome per line;
- a mutation that keeps a line well formed (22 fields, a MSG type 1-8, a 1-6 digit hex
  ident, a valid date and time, numbers where numbers go) is never PARSE_ERROR, which
  would be a hidden exception;
- every Fix fits the database columns (soar.columns) and passes the validator's
  physical limits except the ones the parser leaves to it (altitude above 25 km,
  speed above 1,500 km/h, 0,0): finite numbers within float4, a printable callsign of
  the Mode-S alphabet, a tz-aware UTC time, a 24-bit address;
- the fix's position is the mutated line's own latitude and longitude (no field is
  read from the wrong column).
"""

from __future__ import annotations

import math
import random
import re
from datetime import datetime, timedelta, timezone

from helpers.paths import TEST_DATA
from soar.columns import FLOAT4_MAX
from soar.feeds.sbs import SbsDecoder
from soar.ingest import validate
from soar.records import FUTURE, OUT_OF_RANGE, PARSE_ERROR, STALE, Fix, Reject

REFERENCE = TEST_DATA / "beast" / "ulss7-2018-04-03.reference-sbs.txt"
RECEIVED = datetime(2018, 4, 3, 19, 3, 0, tzinfo=timezone.utc)
_CALLSIGN = re.compile(r"[A-Z0-9]+(?: +[A-Z0-9]+)*")
_HEX = set("0123456789ABCDEFabcdef")
NUMBER_FIELDS = (11, 12, 13, 14, 15, 16)


def real_lines() -> list[str]:
    return [line for line in REFERENCE.read_text().splitlines() if line.startswith("MSG")]


def _number_text(rng: random.Random) -> str:
    return rng.choice(("0", "-0", "1e3", "-1e3", "1e308", "-1e308", "90", "-90", "180",
                       "-180", "90.000001", "360", "361", "6000", "130000", "-2000",
                       "0.0000001", str(rng.uniform(-1e6, 1e6)), str(rng.randint(-99999, 99999)),
                       ".5", "5."))


def _garbage(rng: random.Random) -> str:
    alphabet = "0123456789ABCDEFabcdef-+.eE:/ ~,\t\x00\x7f\u00e9\uffff#_nNaIif"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def mutate(rng: random.Random, line: str) -> tuple[str, bool]:
    """A mutated line and whether it stays well formed (see the module docstring)."""
    f = line.split(",")
    kind = rng.randrange(9) if len(f) == 22 else rng.choice((1, 2, 5))
    if kind == 0:                                      # a number field, numeric text
        f[rng.choice(NUMBER_FIELDS)] = _number_text(rng)
        return ",".join(f), True
    if kind == 1:                                      # any field, garbage
        f[rng.randrange(len(f))] = _garbage(rng)
        return ",".join(f), False
    if kind == 2:                                      # cut anywhere
        return line[:rng.randrange(len(line) or 1)], False
    if kind == 3:                                      # another address, 1-6 digits
        f[4] = "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randint(1, 6)))
        return ",".join(f), True
    if kind == 4:                                      # another transmission type
        f[1] = str(rng.randint(0, 12))
        return ",".join(f), 1 <= int(f[1]) <= 8
    if kind == 5:                                      # a field inserted or removed
        if rng.random() < 0.5:
            f.insert(rng.randrange(len(f)), _number_text(rng))
        else:
            del f[rng.randrange(len(f))]
        return ",".join(f), False
    if kind == 6:                                      # a position on any line type
        f[14] = f"{rng.uniform(-90, 90):.5f}"
        f[15] = f"{rng.uniform(-180, 180):.5f}"
        return ",".join(f), True
    if kind == 7:                                      # a random callsign
        f[10] = "".join(rng.choice("ABCXYZ0189 #abc\x07\u00e9,")
                        for _ in range(rng.randint(0, 10))).replace(",", "")
        return ",".join(f), True
    f[21] = rng.choice(("", "0", "-1", "1", "2", "true", " 0"))   # the ground flag
    return ",".join(f), f[21] in ("", "0", "-1", "1")


def check_fix(fix: Fix, line: str) -> None:
    f = line.split(",")
    assert (fix.latitude, fix.longitude) == (float(f[14]), float(f[15])), line
    assert -90.0 <= fix.latitude <= 90.0 and -180.0 <= fix.longitude <= 180.0
    assert 0 <= fix.address < 1 << 24 and fix.address == int(f[4], 16)
    assert fix.address_type == 1 and fix.source == 3
    assert fix.time.tzinfo is not None and fix.time.utcoffset() == timedelta(0)
    for v in (fix.altitude_m, fix.ground_speed_kmh, fix.track_deg, fix.climb_rate_ms):
        assert v is None or (math.isfinite(v) and abs(v) <= FLOAT4_MAX), v
    assert fix.track_deg is None or 0 <= fix.track_deg <= 360
    assert fix.ground_speed_kmh is None or fix.ground_speed_kmh >= 0
    assert fix.callsign is None or (_CALLSIGN.fullmatch(fix.callsign)
                                    and len(fix.callsign) <= 8), fix.callsign
    assert fix.on_ground in (True, False, None)
    assert fix.registration is None and fix.model is None and fix.cleaned == ()
    # What the validator still rejects is physics the parser leaves to it, never a
    # value that would make the database refuse the batch.
    assert validate.check(fix) in (None, OUT_OF_RANGE, FUTURE, STALE)


def test_mutated_real_lines():
    rng = random.Random(20240706)
    lines = real_lines()
    decoder = SbsDecoder("fuzz")
    fixes = well_formed = 0
    for i in range(25_000):
        line = lines[i % len(lines)]
        ok = True
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.8:
                line, still = mutate(rng, line)
                ok = ok and still
        result = decoder.decode(line, RECEIVED)
        assert result is None or isinstance(result, (Fix, Reject)), result
        if ok:
            well_formed += 1
            assert result != PARSE_ERROR, line
        if isinstance(result, Fix):
            fixes += 1
            check_fix(result, line)
    assert well_formed > 10_000 and fixes > 2_500


def test_random_text_and_bytes():
    rng = random.Random(99)
    decoder = SbsDecoder("fuzz")
    for _ in range(5_000):
        n = rng.randint(0, 300)
        if rng.random() < 0.5:
            payload: str | bytes = rng.randbytes(n)
        else:
            payload = ",".join(_garbage(rng) for _ in range(rng.randint(0, 25)))
            if rng.random() < 0.5:
                payload = "MSG," + payload
        result = decoder.decode(payload, RECEIVED)
        assert result is None or isinstance(result, (Fix, Reject))
        if isinstance(result, Fix):
            check_fix(result, payload if isinstance(payload, str) else payload.decode())


def test_unmutated_lines_decode_the_same_after_the_fuzzing():
    """State from hostile lines must not leak into a fresh aircraft's fixes: the real
    stream through a decoder that saw garbage first gives the same fixes."""
    lines = real_lines()
    clean = SbsDecoder("fuzz")
    expected = [clean.decode(line, RECEIVED) for line in lines]
    dirty = SbsDecoder("fuzz")
    rng = random.Random(1)
    for _ in range(5000):
        dirty.decode(",".join(_garbage(rng) for _ in range(22)), RECEIVED)
    assert [dirty.decode(line, RECEIVED) for line in lines] == expected


def _long_text(rng: random.Random) -> str:
    return "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                               k=rng.randint(4000, 6000)))


def test_long_incompressible_text_in_any_field_is_never_stored():
    """4,000-6,000 random letters and digits in each field of real lines: the line is
    a Fix with its own values (the callsign not kept), None or a Reject; never a
    stored text longer than its column allows."""
    from soar.columns import CALLSIGN_MAX
    rng = random.Random(7)
    outcomes = set()
    for line in real_lines()[:400]:
        f = line.split(",")
        i = rng.randrange(len(f))
        f[i] = _long_text(rng)
        result = SbsDecoder("feed").decode(",".join(f), RECEIVED)
        assert result is None or isinstance(result, (Fix, Reject)), result
        if isinstance(result, Fix):
            assert result.callsign is None or len(result.callsign) <= CALLSIGN_MAX
            assert result.receiver == "feed"
        outcomes.add((i, type(result).__name__ if not isinstance(result, Reject) else result))
    assert (10, "Fix") in outcomes or (10, "NoneType") in outcomes   # the callsign field hit


def test_a_feed_name_too_long_rejects_every_line_as_too_long():
    from soar.records import TOO_LONG
    rng = random.Random(8)
    decoder = SbsDecoder("sbs:" + _long_text(rng))
    assert {decoder.decode(line, RECEIVED) for line in real_lines()[:50]} == {TOO_LONG}
