"""The simulator's Mode-S encoder, checked by decoding its output with pyModeS and with
soar's own decoder (soar.feeds.modes): CPR even/odd global decode, surface decode
with a reference, CRC parity, identification, velocity, and Beast escaping."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pyModeS
import pytest
from pyModeS.position import (
    airborne_position_pair,
    cprNL,
    surface_position_pair,
    surface_position_with_ref,
)

from soar.feeds import modes
from soar.feeds.beast import MODE_S_LONG, BeastDecoder, Frame, encode_frame
from soar.feeds.modes import crc_remainder
from soar.records import Fix
from soar.simulate import modes_encode as enc
from soar.units import FEET_TO_M, KNOTS_TO_KMH, distance_m

T0 = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)
# CPR quanta: airborne 360/60/2^17 deg of latitude (5.1 m), surface a quarter of that;
# longitude zones are wider by 1/cos(lat) at most twice here (|lat| < 60).
AIRBORNE_M = 12.0
SURFACE_M = 3.0


def random_positions(n: int, seed: int = 1, max_lat: float = 60.0):
    rng = random.Random(seed)
    return [(rng.uniform(-max_lat, max_lat), rng.uniform(-180.0, 180.0)) for _ in range(n)]


def test_nl_matches_pymodes_everywhere():
    rng = random.Random(3)
    lats = [rng.uniform(-90.0, 90.0) for _ in range(20_000)] + [0.0, 87.0, -87.0, 89.9, 10.47]
    for lat in lats:
        assert enc.cpr_nl(lat) == cprNL(lat), lat


EDGES = [(48.3538, 11.7861), (0.0, 0.0), (-33.94, 151.18), (51.47, -0.45), (59.9, 179.99),
         (-59.9, -179.99), (10.47, 0.0)]


def test_airborne_even_odd_pairs_decode_globally():
    for lat, lon in random_positions(2000) + EDGES:
        even = enc.cpr_airborne(lat, lon, 0)
        odd = enc.cpr_airborne(lat, lon, 1)
        for even_is_newer in (True, False):
            pos = airborne_position_pair(*even, *odd, even_is_newer=even_is_newer)
            assert pos is not None, (lat, lon)
            assert distance_m(lat, lon, *pos) < AIRBORNE_M, (lat, lon, pos)


def test_surface_positions_decode_with_a_reference_and_as_a_pair():
    for lat, lon in random_positions(2000, seed=2) + EDGES:
        ref = (lat + 0.3, lon - 0.3)               # a receiver ~40 km away
        for odd in (0, 1):
            y, x = enc.cpr_surface(lat, lon, odd)
            pos = surface_position_with_ref(odd, y, x, *ref)
            assert distance_m(lat, lon, *pos) < SURFACE_M, (lat, lon, pos)
        even, odd = enc.cpr_surface(lat, lon, 0), enc.cpr_surface(lat, lon, 1)
        pos = surface_position_pair(*even, *odd, lat_ref=ref[0], lon_ref=ref[1],
                                    even_is_newer=True)
        assert pos is not None and distance_m(lat, lon, *pos) < SURFACE_M, (lat, lon, pos)


def test_frames_carry_a_valid_crc_and_pymodes_reads_every_field():
    icao = 0x3C4B2A
    ident = enc.identification(icao, "DLH4AB", category=3)
    assert crc_remainder(ident) == 0
    d = pyModeS.decode(ident.hex())
    assert d["crc_valid"] and d["icao"] == "3C4B2A" and d["typecode"] == 4
    assert d["callsign"] == "DLH4AB" and d["category"] == 3

    pos = enc.airborne_position(icao, 48.35, 11.78, 35_012.0, 0)
    assert crc_remainder(pos) == 0
    d = pyModeS.decode(pos.hex(), reference=(48.0, 11.0))
    assert d["typecode"] == 11 and d["altitude"] == 35_000      # 25 ft steps
    assert distance_m(48.35, 11.78, d["latitude"], d["longitude"]) < AIRBORNE_M

    vel = enc.velocity(icao, 451.0, 123.4, -1500.0)
    d = pyModeS.decode(vel.hex())
    assert d["crc_valid"] and d["typecode"] == 19
    assert d["groundspeed"] == pytest.approx(451.0, abs=1.0)
    assert d["track"] == pytest.approx(123.4, abs=0.3)
    assert d["vertical_rate"] == pytest.approx(-1500.0, abs=64.0)

    surf = enc.surface_position(icao, 48.35, 11.78, 12.3, 77.0, 1)
    assert crc_remainder(surf) == 0
    d = pyModeS.decode(surf.hex(), surface_ref=(48.3, 11.7))
    assert d["typecode"] == 7 and d["groundspeed"] == pytest.approx(12.3, abs=0.5)
    assert d["track"] == pytest.approx(77.0, abs=360 / 128)
    assert distance_m(48.35, 11.78, d["latitude"], d["longitude"]) < SURFACE_M

    call = enc.all_call(icao, enc.CA_AIRBORNE)
    assert crc_remainder(call) == 0
    assert pyModeS.decode(call.hex())["icao"] == "3C4B2A"
    # Surveillance replies: the parity is the CRC XOR the address (address/parity).
    alt = enc.altitude_reply(icao, 35_000.0, False)
    assert crc_remainder(alt) == icao
    d = pyModeS.decode(alt.hex())
    assert d["df"] == 4 and d["icao"] == "3C4B2A" and d["altitude"] == 35_000
    sq = enc.identity_reply(icao, "7421", True)
    d = pyModeS.decode(sq.hex())
    assert d["df"] == 5 and d["squawk"] == "7421" and d["icao"] == "3C4B2A"


@pytest.mark.parametrize("kt", [0.0, 0.1, 0.3, 0.9, 1.6, 5.0, 14.8, 15.0, 42.0, 69.6, 71.0, 99.0,
                                 101.0, 150.0, 174.0, 180.0])
def test_surface_movement_is_the_nearest_code(kt):
    frame = enc.surface_position(0x4CA123, 53.42, -6.27, kt, 270.0, 0)
    decoded = pyModeS.decode(frame.hex())["groundspeed"]
    step = 0.125 if kt < 1 else 0.25 if kt < 2 else 0.5 if kt < 15 else 1 if kt < 70 else \
        2 if kt < 100 else 5 if kt < 175 else 0
    assert decoded == pytest.approx(min(kt, 175.0), abs=step / 2 + 1e-9)


def test_soar_decoder_reads_a_simulated_airliner_back():
    """A stream as the engine sends it (identification, velocity, alternating even and
    odd positions) through soar's ModeSDecoder: callsign, speed, track, climb,
    altitude and positions within the CPR quantum."""
    icao, callsign = 0x4CA123, "EIN123"
    dec = modes.ModeSDecoder("sim")
    lat, lon, alt_ft, kt, trk = 53.0, -6.0, 24_000.0, 420.0, 80.0
    fixes = []
    for i in range(40):
        t = T0 + timedelta(seconds=0.5 * i)
        lat += 0.0002
        lon += 0.0016
        frames = [enc.velocity(icao, kt, trk, 1200.0),
                  enc.airborne_position(icao, lat, lon, alt_ft, i % 2)]
        if i % 10 == 0:
            frames.insert(0, enc.identification(icao, callsign))
        for f in frames:
            out = dec.decode(f, t, -10.0)
            if isinstance(out, Fix):
                fixes.append((out, lat, lon))
    assert len(fixes) >= 38      # all but the first (waiting for the other parity)
    for fix, tlat, tlon in fixes:
        assert fix.callsign == callsign and fix.address == icao and fix.on_ground is False
        assert distance_m(tlat, tlon, fix.latitude, fix.longitude) < AIRBORNE_M
        assert fix.altitude_m == pytest.approx(alt_ft * FEET_TO_M, abs=12.5 * FEET_TO_M)
        assert fix.ground_speed_kmh == pytest.approx(kt * KNOTS_TO_KMH, abs=1.5 * KNOTS_TO_KMH)
        assert fix.track_deg == pytest.approx(trk, abs=0.5)
        assert fix.climb_rate_ms == pytest.approx(1200.0 * FEET_TO_M / 60.0, abs=0.35)


def test_soar_decoder_places_a_standing_aircraft_from_a_surface_pair():
    icao = 0x3C6544
    lat, lon = 48.3538, 11.7861
    dec = modes.ModeSDecoder("sim", 49.0, 8.0)      # a receiver position far away: any in 45 deg
    out = [dec.decode(enc.surface_position(icao, lat, lon, 0.0, None, i % 2),
                      T0 + timedelta(seconds=5 * i)) for i in range(4)]
    fixes = [f for f in out if isinstance(f, Fix)]
    assert len(fixes) == 3 and all(f.on_ground for f in fixes)
    for f in fixes:
        assert distance_m(lat, lon, f.latitude, f.longitude) < SURFACE_M
        assert f.ground_speed_kmh == 0.0


def test_beast_escaping_with_0x1a_in_the_payload_and_the_counter():
    icao = 0x1A1A1A                      # every address byte needs escaping
    payload = enc.airborne_position(icao, 26.1, 26.1, 1_000.0, 0)
    assert b"\x1a" in payload
    frame = Frame(MODE_S_LONG, 0x1A1A_1A1A_1A1A, 0x1A, payload)
    wire = encode_frame(frame)
    assert wire.count(b"\x1a\x1a") >= 3 + 6 // 2
    dec = BeastDecoder()
    got = dec.feed(wire + encode_frame(frame._replace(mlat_ticks=5))) + dec.flush()
    assert got[0] == frame and got[1].payload == payload and dec.garbage_bytes == 0
    assert crc_remainder(got[0].payload) == 0
