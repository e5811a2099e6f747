"""The simulator's OGN APRS output: the real feed's line shape, parsed by soar.feeds.ogn
back to the true state within the format's quanta (knots, feet, fpm, rot), duplicates
across receivers, receiver beacons and server lines, the recording files (capture
lines, modes JSON lines, Beast with its start time), and the rate option."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from soar.feeds import modes, ogn, recordings
from soar.records import Fix, ReceiverBeacon
from soar.simulate import Profile, SimConfig, Simulation, record
from soar.units import FEET_TO_M, KNOTS_TO_KMH, distance_m

T0 = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)
SHORT = Profile(glider_flight_s=(300.0, 900.0), powered_flight_s=(300.0, 900.0),
                wait_s=(60.0, 300.0))
# The brief's line shape, as in the one-minute capture (FLARM and OGN trackers).
LINE = re.compile(
    r"(FLR|ICA|OGN)[0-9A-F]{6}>(OGFLR|APRS|OGNTRK),qAS,[A-Za-z0-9]{1,9}:/\d{6}h"
    r"\d{4}\.\d\d[NS][/\\]\d{5}\.\d\d[EW]['^]\d{3}/\d{3}/A=(\d{6}|-\d{5}) !W\d\d! "
    r"id[0-9A-F]{8} [+-]\d{3,4}fpm [+-]\d+\.\drot \d+\.\ddB \de [+-]\d+\.\dkHz gps\dx\d\Z")


@pytest.fixture(scope="module")
def traffic():
    sim = Simulation(SimConfig(start=T0, duration_s=900, aircraft=30, seed=5,
                               airborne_fraction=0.5, aircraft_per_field=15, profile=SHORT))
    states = {}
    seconds = []
    for s in sim.seconds():
        seconds.append(s)
        for a in sim.aircraft:
            states[(a.address, s.second)] = a.state
    return sim, states, seconds


def test_aircraft_lines_have_the_real_feed_shape(traffic):
    _, _, seconds = traffic
    lines = [raw for s in seconds for _, raw in s.aprs if not raw.startswith("#")
             and "TCPIP*" not in raw]
    assert len(lines) > 20_000
    bad = [raw for raw in lines if not LINE.match(raw)]
    assert bad == []


def test_lines_parse_back_to_the_true_state(traffic):
    _, states, seconds = traffic
    checked = 0
    for s in seconds:
        for rt, raw in s.aprs:
            received = datetime.fromtimestamp(rt, timezone.utc)
            fix = ogn.parse(raw, received)
            if raw.startswith("#") or "TCPIP*" in raw:
                continue
            assert isinstance(fix, Fix), raw
            st = states[(fix.address, int(fix.time.timestamp()))]
            assert 0.3 <= (received - fix.time).total_seconds() < 2.1
            # !Wxy!: a thousandth of a minute (1.85 m) in each axis.
            assert distance_m(st.lat, st.lon, fix.latitude, fix.longitude) < 2.0
            assert fix.altitude_m == pytest.approx(st.alt_m, abs=0.5 * FEET_TO_M + 1e-6)
            assert fix.ground_speed_kmh == pytest.approx(st.gs_kmh, abs=0.5 * KNOTS_TO_KMH + 1e-6)
            if fix.ground_speed_kmh >= 1.0:
                assert abs((fix.track_deg - st.track_deg + 180) % 360 - 180) <= 0.5
            # Climb in 0.1 m/s steps written in fpm; turn in 0.1 rot (0.15 deg/s).
            assert fix.climb_rate_ms == pytest.approx(st.climb_ms, abs=0.05 + 0.003)
            assert fix.turn_rate_degs == pytest.approx(st.turn_degs, abs=0.075 + 1e-6)
            assert fix.aircraft_type in (1, 2, 8) and fix.signal_db is not None
            checked += 1
    assert checked > 20_000


def test_receivers_report_the_same_fix_with_their_own_signal_and_time(traffic):
    _, _, seconds = traffic
    heard = defaultdict(list)
    for s in seconds:
        for rt, raw in s.aprs:
            if raw.startswith("#") or "TCPIP*" in raw:
                continue
            fix = ogn.parse(raw, datetime.fromtimestamp(rt, timezone.utc))
            heard[(fix.address, fix.time)].append((fix.receiver, fix.signal_db, rt))
    dupes = [v for v in heard.values() if len(v) > 1]
    assert len(dupes) > 0.3 * len(heard)
    assert max(len(v) for v in heard.values()) <= 4
    for copies in dupes:
        assert len({r for r, _, _ in copies}) == len(copies)      # one per receiver
    assert sum(len({db for _, db, _ in v}) > 1 for v in dupes) > 0.9 * len(dupes)
    assert sum(len({rt for _, _, rt in v}) > 1 for v in dupes) == len(dupes)


def test_receiver_beacons_and_server_lines(traffic):
    sim, _, seconds = traffic
    beacons, servers = [], []
    for s in seconds:
        for rt, raw in s.aprs:
            received = datetime.fromtimestamp(rt, timezone.utc)
            if raw.startswith("#"):
                assert ogn.parse(raw, received) is None
                servers.append((ogn.parse_server_comment(raw), s.second))
            elif "TCPIP*" in raw:
                beacons.append(ogn.parse(raw, received))
    names = {rx.name for rx in sim.all_receivers()}
    assert all(isinstance(b, ReceiverBeacon) for b in beacons)
    positions = [b for b in beacons if b.latitude is not None]
    statuses = [b for b in beacons if b.version is not None]
    assert {b.name for b in positions} == names == {b.name for b in statuses}
    assert all(b.status.get("cpu_load") is not None for b in statuses)
    assert len(servers) == 900 // 20
    assert all(t is not None and t.timestamp() == second for t, second in servers)


def test_recording_files_replay_with_the_same_times(tmp_path):
    meta = record(SimConfig(start=T0, duration_s=120, aircraft=10, beast_aircraft=4, seed=2,
                            airborne_fraction=0.5, profile=SHORT), tmp_path)
    aprs = list(recordings.aprs_messages(tmp_path / "aprs.txt"))
    assert len(aprs) == meta["aprs_lines"] > 1000
    assert all(a.received_at <= b.received_at for a, b in zip(aprs, aprs[1:], strict=False))
    assert aprs[0].received_at >= T0 and aprs[-1].received_at < T0 + timedelta(seconds=120)
    lines = (tmp_path / "modes.jsonl").read_text().splitlines()
    parsed = [modes.parse_modes_line(x) for x in lines]
    assert len(parsed) == meta["frames"] > 1000 and None not in parsed
    assert json.loads(lines[0])["timestamp"] == parsed[0][0].timestamp()
    # Beast: times from the 12 MHz counter and the start time written in the metadata.
    start = datetime.fromisoformat(meta["beast_start"].replace("Z", "+00:00"))
    beast = list(recordings.beast_messages(tmp_path / "beast.bin", "sim", start))
    assert [m.payload.hex() for m in beast] == [hexa for _, hexa in parsed]
    assert max(abs((m.received_at - t).total_seconds())
               for m, (t, _) in zip(beast, parsed, strict=True)) < 2e-6
    truth = [json.loads(x) for x in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert sum(r["event"] == "aircraft" for r in truth) == 14
    assert json.loads((tmp_path / "simulation.json").read_text())["frames"] == meta["frames"]


def test_rate_sets_the_number_of_aircraft():
    sim = Simulation(SimConfig(start=T0, duration_s=60, rate=2000.0, seed=3))
    lines = sum(len(s.aprs) for s in sim.seconds())
    assert 0.8 * 2000 <= lines / 60 <= 1.2 * 2000
