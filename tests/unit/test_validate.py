"""soar.ingest.validate: the last gate before the database, for every decoder. A value
that would make PostgreSQL refuse the batch (NUL in text, NaN/inf or beyond-float4 in a
`real`, integers beyond their CHECK) or store nonsense (+Infinity) is rejected, counted
by its reason; a clean real fix passes."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from helpers.paths import TEST_DATA
from soar.columns import FLOAT4_MAX
from soar.feeds import ogn
from soar.ingest import validate
from soar.records import BAD_TEXT, FUTURE, OUT_OF_RANGE, STALE, Fix, ReceiverBeacon

RECEIVED = datetime(2024, 7, 6, 12, 0, 0, tzinfo=timezone.utc)
VALID = TEST_DATA / "ogn" / "valid_messages"


def first(name: str, needle: str):
    line = next(ln for ln in (VALID / name).read_text().splitlines() if needle in ln)
    return ogn.parse(line, RECEIVED)


@pytest.fixture(scope="module")
def fix() -> Fix:
    f = first("OGADSB_ADSB.txt", "fnA3:RYR5VV")       # every text field set
    assert isinstance(f, Fix) and f.registration and f.model and f.callsign
    return replace(f, time=RECEIVED)


@pytest.fixture(scope="module")
def beacon() -> ReceiverBeacon:
    b = first("OGNSDR_TCPIPmsgs.txt", "LILH>OGNSDR,TCPIP*,qAC,GLIDERN2:>")
    assert isinstance(b, ReceiverBeacon) and b.status
    return replace(b, latitude=44.9, longitude=9.0, altitude_m=128.9)


def test_a_real_fix_passes(fix):
    assert validate.check(fix) is None


@pytest.mark.parametrize("field,value", [
    ("receiver", "LE\x00MD"), ("receiver", "LEMD\x1b"), ("receiver", "\udc80"),
    ("callsign", "RYR\x005VV"), ("registration", "EI-\x7fDYO"), ("model", "B7\u202838")])
def test_text_that_a_column_must_not_hold_is_refused(fix, field, value):
    assert validate.check(replace(fix, **{field: value})) == BAD_TEXT


@pytest.mark.parametrize("field,value", [
    ("signal_db", math.inf), ("signal_db", -math.inf), ("signal_db", math.nan),
    ("signal_db", 1e300), ("signal_db", -FLOAT4_MAX * 1.0001),
    ("turn_rate_degs", 1e39), ("turn_rate_degs", math.nan),
    ("track_deg", 360.5), ("track_deg", -1.0), ("track_deg", math.nan),
    ("climb_rate_ms", math.nan), ("climb_rate_ms", -1e39), ("ground_speed_kmh", math.nan),
    ("altitude_m", math.nan), ("altitude_m", math.inf), ("latitude", math.nan),
    ("longitude", math.inf), ("address", 1 << 24), ("address", -1), ("address_type", 64),
    ("aircraft_type", 16), ("aircraft_type", 1 << 15), ("aircraft_type", -1)])
def test_numbers_beyond_their_column_are_refused(fix, field, value):
    assert validate.check(replace(fix, **{field: value})) == OUT_OF_RANGE


@pytest.mark.parametrize("field,value", [
    ("signal_db", FLOAT4_MAX), ("signal_db", -FLOAT4_MAX), ("turn_rate_degs", 3e38),
    ("track_deg", 360.0), ("track_deg", 0.0), ("address_type", 63), ("aircraft_type", 15)])
def test_numbers_at_the_edge_of_their_column_pass(fix, field, value):
    assert validate.check(replace(fix, **{field: value})) is None


def test_data_time_limits_still_apply(fix):
    assert validate.check(replace(fix, time=RECEIVED + timedelta(seconds=11))) == FUTURE
    assert validate.check(replace(fix, time=RECEIVED - timedelta(minutes=31))) == STALE


def test_a_real_receiver_beacon_passes(beacon):
    assert validate.check_receiver(beacon) is None


@pytest.mark.parametrize("change,reason", [
    ({"name": "LI\x00LH"}, BAD_TEXT), ({"name": ""}, BAD_TEXT),
    ({"version": "0.2\x00.7"}, BAD_TEXT), ({"platform": "RPI\x1b"}, BAD_TEXT),
    ({"status": {"comment": "a\x00b"}}, BAD_TEXT), ({"status": {"rf\x00": "x"}}, BAD_TEXT),
    ({"status": {"cpu_load": math.nan}}, OUT_OF_RANGE),
    ({"status": {"cpu_temp_c": math.inf}}, OUT_OF_RANGE),
    ({"altitude_m": 1e39}, OUT_OF_RANGE), ({"altitude_m": math.nan}, OUT_OF_RANGE),
    ({"latitude": 90.5}, OUT_OF_RANGE), ({"longitude": math.nan}, OUT_OF_RANGE)])
def test_receiver_values_a_row_cannot_hold_are_refused(beacon, change, reason):
    assert validate.check_receiver(replace(beacon, **change)) == reason
