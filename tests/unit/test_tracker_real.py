"""The tracker on real recordings: two winch launches with a broken rope at
Königsdorf (OGN, from ogn-python's fixtures) and Air France AFR34ZG, Paris CDG to
Toulouse on 2024-07-06 (raw Mode-S frames with another decoder's fields, from the
`traffic` package's samples)."""

from __future__ import annotations

import pytest

from helpers.recordings import KOENIGSDORF, afr34zg_fixes, utc, winch_fixes
from soar.records import Fix, split_aircraft_id
from soar.reference.terrain import AirportElevations
from soar.tracker import CreateFlight, FlightTracker, TrackerConfig
from soar.tracker import ops as flight_ops

# The expected times follow from the rules in docs/flight-detection.md: takeoff is the
# first fix of the confirmed airborne run (the 55 km/h crossing, as in OGN's logbook),
# landing the touchdown. DDEFF7: from 10:49:51 (607 m, level, 74 km/h) its fixes stay
# within 4 m of where it stops (603-604 m) and slow by 1.0-1.5 m/s^2, more than a
# glider's drag gives in the air; the fix before sinks at 1.3 m/s 3 m higher (2 s
# away). DDAC7C: 09:24:19 at 598 m sinking 0.7 m/s, 2 m above its roll (596-597 m):
# down 3 s later, and by 09:24:24 it slowed from 89 to 59 km/h. The first fixes under
# 40 km/h (10:50:04, 09:24:28) came 13 and 6 s after.
EXPECTED = {
    0xDDEFF7: (utc("2016-07-02 10:48:26"), utc("2016-07-02 10:49:51")),
    0xDDAC7C: (utc("2019-04-13 09:22:42"), utc("2019-04-13 09:24:22")),
}


@pytest.mark.parametrize("with_terrain", [False, True], ids=["no_terrain", "koenigsdorf_elevation"])
def test_winch_launches_with_broken_rope_are_one_flight_each(data_dir, with_terrain):
    terrain = AirportElevations([KOENIGSDORF], radius_m=3000) if with_terrain else None
    tracker = FlightTracker(TrackerConfig(), terrain)
    fixes = winch_fixes(data_dir)
    ops = []
    for f in fixes:
        ops += tracker.process(f)
    ops += tracker.expire(fixes[-1].time + (fixes[-1].time - fixes[0].time))
    by_aircraft: dict[int, list] = {}
    for op in ops:
        aid = op.row["aircraft_id"] if isinstance(op, CreateFlight) else None
        fid = op.flight_id
        key = aid if aid is not None else next(
            o.row["aircraft_id"] for o in ops if isinstance(o, CreateFlight) and o.flight_id == fid)
        by_aircraft.setdefault(split_aircraft_id(key)[1], []).append(op)
    assert set(by_aircraft) == set(EXPECTED)
    for address, (takeoff, landing) in EXPECTED.items():
        aircraft_ops = by_aircraft[address]
        # Broken ropes, still winch launches: decided in the row when the climb was in
        # the takeoff's confirmation window (with terrain), else by a `launch` op.
        methods = [op.row.get("launch_method") if isinstance(op, CreateFlight)
                   else op.values.get("launch_method") for op in aircraft_ops]
        assert [m for m in methods if m] == [flight_ops.WINCH], hex(address)
        aircraft_ops = [op for op in aircraft_ops if op.kind != flight_ops.LAUNCH]
        assert [op.kind for op in aircraft_ops] == [flight_ops.START_TAKEOFF,
                                                    flight_ops.END_LANDING], hex(address)
        create, land = aircraft_ops
        assert create.row["takeoff_time"] == takeoff
        assert land.values["landing_time"] == landing
        assert land.flight_id == create.flight_id
        assert "spurious_reason" not in land.values       # short, but a real flight
        mine = [f for f in fixes if f.address == address]
        tagged = [f for f in mine if f.flight_id == create.flight_id]
        assert tagged[0].time == takeoff                   # the window was tagged in place
        assert all(f.flight_id is None for f in mine if f.time < takeoff or f.time > tagged[-1].time)
        assert [f.time for f in mine if takeoff <= f.time <= tagged[-1].time] == [f.time for f in tagged]


# -- AFR34ZG --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def afr34zg() -> list[Fix]:
    fixes = afr34zg_fixes()
    assert len(fixes) > 8000
    return fixes


def test_afr34zg_is_one_flight_cdg_to_toulouse(afr34zg):
    tracker = FlightTracker()
    ops = []
    for f in afr34zg:
        ops += tracker.process(f)
    ops += tracker.expire(afr34zg[-1].time)
    assert [op.kind for op in ops] == [flight_ops.START_TAKEOFF, flight_ops.LAUNCH,
                                       flight_ops.END_LANDING]
    create, launch, land = ops
    # No emitter category in this sample's fixes: an unknown type, but lifting off at
    # 280 km/h, faster than any winch or tow: it launched itself.
    assert launch.values == {"launch_method": flight_ops.SELF}
    takeoff, landing = create.row["takeoff_time"], land.values["landing_time"]
    assert abs((takeoff - utc("2024-07-06 06:59:21")).total_seconds()) <= 10
    assert abs((landing - utc("2024-07-06 07:58:42")).total_seconds()) <= 10
    assert create.row["callsign"] == "AFR34ZG"
    assert abs(create.row["takeoff_latitude"] - 49.0) < 0.05          # Paris CDG
    assert abs(land.values["landing_latitude"] - 43.63) < 0.05        # Toulouse-Blagnac
    assert "spurious_reason" not in land.values
    # Taxiing before and after is not part of the flight.
    assert all(f.flight_id is None for f in afr34zg if f.time < takeoff)
    assert all(f.flight_id is None for f in afr34zg if f.time > land.values["last_fix_at"])
    assert all(f.flight_id == create.flight_id for f in afr34zg if takeoff <= f.time <= landing)
    taxi_in = [f for f in afr34zg if f.time > landing and f.on_ground]
    assert len(taxi_in) > 100                                          # several minutes of it


def test_a_fresh_tracker_finds_the_same_flight_on_every_replay_of_afr34zg(afr34zg):
    """The state machine keeps no state outside the tracker: five replays of AFR34ZG,
    each through a new tracker, give the same operations. (Its speed is measured in
    bench/, never asserted here.)"""
    runs = []
    for _ in range(5):
        for f in afr34zg:
            f.flight_id = None
        tracker = FlightTracker()
        ops = []
        for f in afr34zg:
            ops += [type(op).__name__ for op in tracker.process(f)]
        runs.append((ops, dict(tracker.stats.counts)))
    assert runs[0][0].count("CreateFlight") == 1
    assert all(run == runs[0] for run in runs)


def test_ogn_fixes_with_terrain_at_fleet_scale(data_dir):
    """OGN fixes need height above ground: the winch launches fanned out to 500
    aircraft, with an airport-elevation lookup over a synthetic 20,000-airport grid:
    every aircraft's two launches found."""
    import random
    rng = random.Random(1)
    airports = [(rng.uniform(35, 60), rng.uniform(-10, 30), rng.uniform(0, 2000))
                for _ in range(20_000)] + [KOENIGSDORF]
    terrain = AirportElevations(airports)
    base = winch_fixes(data_dir)
    fixes = []
    for i in range(500):
        for f in base:
            fixes.append(Fix(**{s: getattr(f, s) for s in Fix.__slots__} | {"address": i}))
    fixes.sort(key=lambda f: f.time)
    tracker = FlightTracker(TrackerConfig(), terrain)
    for f in fixes:
        tracker.process(f)
    assert tracker.stats.counts[flight_ops.START_TAKEOFF] == 1000
