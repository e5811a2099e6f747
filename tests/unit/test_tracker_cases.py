"""The hard cases of flight detection, each with synthetic fixes shaped like the real
thing (reporting intervals, GPS noise, wind), run through the in-memory tracker."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import pytest

from helpers.simulator import (
    FIELD,
    M_PER_DEG,
    Sim,
    aerotow,
    after_hole,
    airliner,
    copy_fix,
    creates,
    field_terrain,
    kinds,
    merge,
    run,
    winch_into_headwind,
)
from soar.tracker import ActiveFlight, CreateFlight, FlightTracker, TrackerConfig
from soar.tracker import ops as flight_ops
from soar.units import distance_m


def launch_method(ops, flight_id):
    """The launch_method the ops leave on a flight: from its row, a `launch` op or the
    UPDATE that ends it, the last one written."""
    method = None
    for op in ops:
        if op.flight_id != flight_id:
            continue
        values = op.row if isinstance(op, CreateFlight) else op.values
        method = values.get("launch_method", method)
    return method


def without_launch(ops):
    """The ops but the launch method's own writes (checked with launch_method())."""
    return [op for op in ops if op.kind != flight_ops.LAUNCH]

# -- winch launch -------------------------------------------------------------

@pytest.mark.parametrize("terrain", [None, field_terrain()], ids=["no_terrain", "terrain"])
def test_winch_launch_in_headwind_with_broken_rope_is_one_flight(terrain):
    g, liftoff, touchdown = winch_into_headwind()
    assert max(f.ground_speed_kmh for f in g.fixes) < 55      # never over the speed threshold
    ops = run(g.fixes, FlightTracker(TrackerConfig(), terrain))
    assert launch_method(ops, ops[0].flight_id) == flight_ops.WINCH
    ops = without_launch(ops)
    assert kinds(ops) == [flight_ops.START_TAKEOFF, flight_ops.END_LANDING]
    takeoff, landing = ops[0].row["takeoff_time"], ops[1].values["landing_time"]
    assert abs((takeoff - liftoff).total_seconds()) <= 3
    assert abs((landing - touchdown).total_seconds()) <= 6
    assert "spurious_reason" not in ops[1].values
    in_flight = [f for f in g.fixes if f.flight_id is not None]
    assert in_flight and all(takeoff <= f.time <= ops[1].values["last_fix_at"] for f in in_flight)


def test_landing_where_terrain_data_is_wrong_ends_after_standing_still():
    # The "terrain" says the field is 200 m lower than it is (a plateau beside a valley
    # airport): no fix ever looks landed, standing still for 10 minutes does.
    g, liftoff, touchdown = winch_into_headwind(seed=61)
    ops = without_launch(run(g.fixes, FlightTracker(TrackerConfig(), field_terrain(FIELD[2] - 200))))
    assert kinds(ops) == [flight_ops.START_TAKEOFF, flight_ops.END_LANDING]
    landing = ops[1].values["landing_time"]
    assert timedelta(0) <= landing - touchdown <= timedelta(seconds=30)
    assert ops[1].values["last_fix_at"] - landing >= timedelta(minutes=10)


# -- things on the ground that must not become flights ------------------------

def test_taxi_engine_runup_and_fast_taxi_are_not_flights():
    p = Sim(0x3E1001, 8, seed=5)
    p.stand(300, 10)                                    # engine start, warm-up
    p.accelerate(0, 20, 10, 2)                          # taxi out with turns
    p.straight(60, 2, 20, track=180, turn=15)
    p.straight(2, 2, 75, track=180)                     # one GPS speed spike
    p.straight(40, 2, 22, track=90)
    p.stand(120, 3)                                     # run-up: engine at full power
    p.fixes[-5].climb_rate_ms = 1.2                     # a climb spike from the vibration
    p.accelerate(20, 70, 10, 1, track=240)              # high-speed taxi test on the runway
    p.straight(12, 1, 70, track=240)
    p.accelerate(70, 15, 12, 1, track=240)
    p.straight(120, 3, 18, track=60)                    # taxi back
    p.stand(1800, 20)
    ops = run(p.fixes)
    assert ops == []
    assert all(f.flight_id is None for f in p.fixes)
    # The same generator does produce a flight when the aircraft really flies.
    p.accelerate(0, 110, 20, 1, track=240)
    p.straight(120, 2, 140, track=240, climb=3.5)
    assert kinds(run(p.fixes)) == [flight_ops.START_TAKEOFF]


def test_a_single_noisy_fix_neither_starts_nor_ends_a_flight():
    g = Sim(0xDD4444, 1, seed=19)
    g.stand(600, 20)
    bad = g.fixes[15]
    bad.ground_speed_kmh, bad.climb_rate_ms, bad.altitude_m = 90, 4.0, bad.altitude_m + 40
    assert run(g.fixes) == []
    a = airliner(callsign="AFR2")
    a.straight(60, 0.5, 25, track=90, on_ground=True)
    a.fixes[50].on_ground = False                           # one airborne message while taxiing
    assert run(a.fixes) == []
    c = airliner(callsign="AFR3")
    c.straight(120, 0.5, 850, track=90, on_ground=False)
    c.fixes[100].on_ground = True                           # one surface message at cruise
    assert kinds(run(c.fixes)) == [flight_ops.START_AIRBORNE]
    f = Sim(0xDD4445, 1, alt=1500, seed=19)
    f.straight(300, 2, 100, track=90, climb=-0.8)
    f.fixes[80].ground_speed_kmh, f.fixes[80].climb_rate_ms = 0, 0.0   # one bogus "stopped"
    assert kinds(run(f.fixes)) == [flight_ops.START_AIRBORNE]


@pytest.mark.parametrize("terrain_offset", [None, -300.0], ids=["no_terrain", "terrain_300m_wrong"])
def test_tracker_standing_still_for_hours(terrain_offset):
    # Terrain 300 m too low (a hut above a valley airport) must not make it airborne.
    terrain = None if terrain_offset is None else field_terrain(FIELD[2] + terrain_offset)
    tr = FlightTracker(TrackerConfig(), terrain)
    s = Sim(0xDD5555, 1, seed=7)
    s.stand(6 * 3600, 20)
    assert run(s.fixes, tr) == []
    assert len(tr.aircraft) == 1
    st = tr.aircraft[s.fixes[0].aircraft_id]
    assert not st.airborne and not st.run                  # nothing pending, nothing growing
    assert tr.expire(s.t + timedelta(minutes=59)) == [] and len(tr.aircraft) == 1
    tr.expire(s.t + timedelta(minutes=61))
    assert tr.aircraft == {}                                # silent: forgotten


# -- slow aircraft ---------------------------------------------------------------

def mountain(lat, lon):
    """A ridge 2 km east of the field, 1200 m higher, sloping down to it."""
    d = distance_m(lat, lon, FIELD[0], FIELD[1] + 0.0266)
    return FIELD[2] + 1200.0 * max(0.0, 1 - d / 2000.0)


def paraglider_flight() -> tuple[Sim, datetime, datetime]:
    launch_alt = mountain(FIELD[0], FIELD[1] + 0.0266)
    pg = Sim(0x3E7007, 7, lat=FIELD[0], lon=FIELD[1] + 0.0266, alt=launch_alt, seed=11)
    pg.stand(900, 20)                                       # laying out the wing
    pg.accelerate(2, 15, 4, 1, track=270)                   # running launch
    launch = pg.t
    pg.straight(60, 2, 32, track=270, climb=-1.2, turn=0)   # away from the slope
    for leg in range(8):                                    # ridge soaring: level, slow
        pg.straight(40, 3, 27, track=0 if leg % 2 else 180, climb=0.0)
        pg.straight(9, 3, 15, track=270, climb=0.2, turn=15)
    for i in range(60):                                     # a thermal, 5 min, drifting
        a = math.radians(i * 30)
        pg.fly(5, 35 * math.sin(a) + 8, 35 * math.cos(a), climb=1.6, turn=12)
    pg.straight(900, 3, 30, track=270, climb=-1.3)          # glide out to the valley
    while pg.alt > FIELD[2] + 20:
        pg.straight(3, 3, 28, track=270, climb=-1.4)
    pg.straight(15, 3, 18, track=270, climb=-1.2)           # final, flare
    pg.alt = FIELD[2]
    touchdown = pg.t
    pg.straight(3, 3, 4, track=270)
    pg.stand(1500, 20)                                      # packing up
    return pg, launch, touchdown


def test_paraglider_never_fast_with_terrain():
    pg, launch, touchdown = paraglider_flight()
    assert max(f.ground_speed_kmh for f in pg.fixes) < 55
    def terrain(lat, lon):
        return mountain(lat, lon)
    ops = run(pg.fixes, FlightTracker(TrackerConfig(), terrain))
    assert kinds(ops) == [flight_ops.START_TAKEOFF, flight_ops.END_LANDING]
    assert abs((ops[0].row["takeoff_time"] - launch).total_seconds()) <= 6
    assert abs((ops[1].values["landing_time"] - touchdown).total_seconds()) <= 10
    assert "spurious_reason" not in ops[1].values


def test_paraglider_never_fast_without_terrain():
    pg, launch, touchdown = paraglider_flight()
    ops = run(pg.fixes)
    assert kinds(ops) == [flight_ops.START_TAKEOFF, flight_ops.END_LANDING]
    assert abs((ops[0].row["takeoff_time"] - launch).total_seconds()) <= 6
    assert abs((ops[1].values["landing_time"] - touchdown).total_seconds()) <= 10


@pytest.mark.parametrize("terrain", [None, field_terrain(radius=50_000)], ids=["no_terrain", "terrain"])
def test_balloon_floating_slow_and_level_is_still_flying(terrain):
    b = Sim(0x3E1111, 11, seed=13)
    b.stand(1200, 20)                                       # inflation
    b.straight(300, 4, 6, track=100, climb=2.0)             # lift-off, 600 m up
    liftoff = b.fixes[-75].time
    b.straight(3600, 4, 9, track=100, climb=0.0)            # an hour floating level, slowly
    b.straight(600, 4, 8, track=100, climb=-1.0)
    b.straight(20, 4, 6, track=100, climb=-0.3)
    touchdown = b.t
    b.stand(1800, 20)
    ops = run(b.fixes, FlightTracker(TrackerConfig(), terrain))
    assert kinds(ops) == [flight_ops.START_TAKEOFF, flight_ops.END_LANDING]
    assert abs((ops[0].row["takeoff_time"] - liftoff).total_seconds()) <= 8
    assert abs((ops[1].values["landing_time"] - touchdown).total_seconds()) <= 30


# -- circling in strong wind --------------------------------------------------------

@pytest.mark.parametrize("turn_reported", [True, False], ids=["turn_rate", "no_turn_rate"])
def test_glider_circling_in_strong_wind_does_not_land(turn_reported):
    """80 km/h airspeed in a 75 km/h wind: ground speed swings between ~5 and ~155
    km/h every circle; climb varies, sometimes weak. First seen in the air (no
    takeoff, no terrain: the hardest case)."""
    g = Sim(0xDD7777, 1, alt=1800, seed=17)
    rng = random.Random(17)
    heading, wind = 0.0, 75.0
    for i in range(1500):                                   # ~37 min, 1-2 s interval
        dt = rng.choice((1, 1, 2))
        heading = (heading + 15 * dt) % 360
        climb = 1.2 + 1.1 * math.sin(i / 40) + rng.gauss(0, 0.2)   # 0.1 .. 2.3 m/s
        ve = 80 * math.sin(math.radians(heading)) + wind
        vn = 80 * math.cos(math.radians(heading))
        g.fly(dt, ve, vn, climb=climb, turn=15 if turn_reported else None)
    assert min(f.ground_speed_kmh for f in g.fixes) < 15
    ops = run(g.fixes)
    assert kinds(ops) == [flight_ops.START_AIRBORNE]
    assert ops[0].row["takeoff_time"] is None
    assert all(f.flight_id == ops[0].flight_id for f in g.fixes[3:])


# -- out of order, duplicated ----------------------------------------------------------

def test_fixes_out_of_order_and_duplicated_through_several_receivers():
    g, liftoff, touchdown = winch_into_headwind(wind_kmh=10, seed=23)
    clean = without_launch(run([copy_fix(f) for f in g.fixes]))
    rng = random.Random(23)
    noisy = []
    for f in g.fixes:
        for r in range(3):                  # heard by three receivers, positions jitter
            c = copy_fix(f, receiver=f"R{r}")
            c.latitude += rng.gauss(0, 2) / M_PER_DEG
            noisy.append((f.time.timestamp() + rng.uniform(0, 4), c))  # delivery delay
    noisy = [c for _, c in sorted(noisy, key=lambda x: x[0])]
    assert any(a.time > b.time for a, b in zip(noisy, noisy[1:], strict=False))  # really out of order
    ops = run(noisy)
    assert launch_method(ops, ops[0].flight_id) == flight_ops.WINCH
    ops = without_launch(ops)
    assert kinds(ops) == kinds(clean) == [flight_ops.START_TAKEOFF, flight_ops.END_LANDING]
    assert abs((ops[0].row["takeoff_time"] - clean[0].row["takeoff_time"]).total_seconds()) <= 2
    assert abs((ops[1].values["landing_time"] - clean[1].values["landing_time"]).total_seconds()) <= 2
    fid = ops[0].flight_id
    start, end = ops[0].row["takeoff_time"], ops[1].values["landing_time"]
    # Every copy inside the flight carries its id, late ones included.
    assert all(c.flight_id == fid for c in noisy if start + timedelta(seconds=3) <= c.time <= end)
    assert all(c.flight_id is None for c in noisy if c.time < liftoff - timedelta(seconds=5))


def test_position_glitch_does_not_split_or_end_a_flight():
    g = Sim(0xDD8888, 1, alt=1500, seed=29)
    g.straight(300, 2, 100, track=90, climb=0.5)
    bad = g.fly(2, 100 / math.sqrt(2), 100 / math.sqrt(2))
    bad.latitude += 0.5                                     # 55 km away: address collision
    g.straight(300, 2, 100, track=90, climb=0.5)
    ops = run(g.fixes)
    assert kinds(ops) == [flight_ops.START_AIRBORNE]


# -- timeouts, resume, splits ---------------------------------------------------------

def test_timeout_uses_data_time_not_wall_clock():
    a = airliner()
    a.straight(600, 1, 850, track=90, on_ground=False)
    tr = FlightTracker()
    ops = run(a.fixes, tr)
    assert kinds(ops) == [flight_ops.START_AIRBORNE]
    assert tr.expire(a.t + timedelta(minutes=59)) == []
    out = tr.expire(a.t + timedelta(minutes=61))
    assert kinds(out) == [flight_ops.END_TIMEOUT]
    assert out[0].values["timed_out_at"] == a.t + timedelta(hours=1)   # deterministic
    assert out[0].values["last_fix_at"] == a.t


def test_airliner_through_coverage_hole_resumes_its_flight():
    a = after_hole(90, 850 * 1.5 * 0.95)                 # flew on at its speed
    ops = run(a.fixes)
    assert kinds(ops) == [flight_ops.START_AIRBORNE, flight_ops.END_TIMEOUT, flight_ops.RESUME]
    assert ops[2].flight_id == ops[0].flight_id
    assert ops[2].values == {"timed_out_at": None, "end_reason": None}
    assert ops[1].values["end_reason"] == "timeout"
    assert {f.flight_id for f in a.fixes} == {ops[0].flight_id}
    # Same whether the timeout came from expire() or from the late fix itself.
    assert kinds(run(after_hole(90, 850 * 1.5 * 0.95).fixes, expire_every=None)) == kinds(ops)


@pytest.mark.parametrize("gap_min,distance_km", [
    (90, 100),          # barely moved in 90 min: it landed and left again
    (90, 3000),         # could not have flown that far
    (200, 2800),        # beyond the resume window
], ids=["too_close", "too_far", "too_late"])
def test_reappearing_where_it_could_not_have_flown_on_is_a_new_flight(gap_min, distance_km):
    a = after_hole(gap_min, distance_km)
    ops = run(a.fixes)
    assert kinds(ops) == [flight_ops.START_AIRBORNE, flight_ops.END_TIMEOUT, flight_ops.START_AIRBORNE]
    assert ops[2].flight_id != ops[0].flight_id


def test_seen_on_the_ground_after_a_timeout_is_never_resumed():
    a = airliner(seed=39)
    a.straight(600, 1, 850, track=90, on_ground=False)
    a.t += timedelta(minutes=80)                            # landed out of coverage ...
    a.lon += 1100 * 1000 / (M_PER_DEG * math.cos(math.radians(a.lat)))
    a.straight(120, 1, 20, track=90, on_ground=True)        # ... is heard taxiing out ...
    a.straight(60, 1, 300, track=90, on_ground=False)       # ... and takes off again
    ops = run(a.fixes)
    assert kinds(ops) == [flight_ops.START_AIRBORNE, flight_ops.END_TIMEOUT, flight_ops.START_TAKEOFF]


def test_long_gap_within_timeout_splits_only_when_distance_does_not_fit():
    def glider_gap(distance_km):
        g = Sim(0xDD9999, 1, alt=1500, seed=41)
        g.straight(600, 2, 100, track=0, climb=0.3)
        g.t += timedelta(minutes=30)
        g.lat += distance_km * 1000 / M_PER_DEG
        g.straight(300, 2, 100, track=0, climb=0.3)
        return run(g.fixes)
    assert kinds(glider_gap(40)) == [flight_ops.START_AIRBORNE]                       # 80 km/h: fits
    split = glider_gap(400)                                                  # 800 km/h: no
    assert kinds(split) == [flight_ops.START_AIRBORNE, flight_ops.END_GAP, flight_ops.START_AIRBORNE]
    assert split[1].values["timed_out_at"] > split[1].values["last_fix_at"]


def test_callsign_change_while_continuously_heard_updates_the_flight():
    a = airliner(callsign=None)
    a.straight(30, 1, 850, track=90, on_ground=False)
    a.callsign = "EIN123"
    a.straight(30, 1, 850, track=90, on_ground=False)       # callsign learnt: an update
    a.callsign = "EIN12E"
    a.straight(1, 1, 850, track=90, on_ground=False)        # one garbled copy: ignored
    a.callsign = "EIN123"
    a.straight(30, 1, 850, track=90, on_ground=False)
    a.callsign = "EIN456"
    a.straight(60, 1, 850, track=90, on_ground=False)
    ops = run(a.fixes)
    assert kinds(ops) == [flight_ops.START_AIRBORNE, flight_ops.CALLSIGN,
                          flight_ops.CALLSIGN_CHANGE]
    assert ops[1].values == {"callsign": "EIN123"}
    assert ops[2].values == {"callsign": "EIN456", "previous_callsign": "EIN123"}
    assert {op.flight_id for op in ops} == {ops[0].flight_id}
    assert all(f.flight_id == ops[0].flight_id for f in a.fixes)


def test_airliner_taking_off_with_its_previous_legs_callsign_is_one_flight():
    """The issue's case: it lifts off still sending the last leg's callsign and the crew
    sets the new one 16 s later. One flight, under the new callsign, the old one kept."""
    a = airliner(callsign="DLH4AB")
    a.alt = 100
    a.straight(120, 1, 30, track=90, on_ground=True)          # taxiing out
    a.accelerate(30, 280, 30, 1, track=90, on_ground=True)   # take-off roll
    a.straight(16, 1, 300, track=90, climb=12, on_ground=False)
    a.callsign = "DLH5CD"
    a.straight(300, 1, 400, track=90, climb=10, on_ground=False)
    ops = run(a.fixes)
    assert kinds(ops) == [flight_ops.START_TAKEOFF, flight_ops.CALLSIGN_CHANGE, flight_ops.LAUNCH]
    create, change, launch = ops
    assert create.row["callsign"] == "DLH4AB"
    assert change.values == {"callsign": "DLH5CD", "previous_callsign": "DLH4AB"}
    # Type unknown here (no emitter category), but faster than any winch or tow: self.
    assert launch.values == {"launch_method": flight_ops.SELF}
    assert all(f.flight_id == create.flight_id for f in a.fixes if f.time >= create.row["takeoff_time"])


def _silent_then_renamed(gap_min: float, distance_km: float):
    a = airliner(callsign="EIN123", seed=43)
    a.straight(600, 1, 850, track=90, on_ground=False)
    a.t += timedelta(minutes=gap_min)
    a.lon += distance_km * 1000 / (M_PER_DEG * math.cos(math.radians(a.lat)))
    a.callsign = "EIN456"
    a.straight(120, 1, 850, track=90, on_ground=False)
    return a, run(a.fixes)


def test_callsign_change_after_a_silence_it_flew_through_updates_the_flight():
    # 20 minutes unheard, 270 km further on at 850 km/h: it flew on all along.
    a, ops = _silent_then_renamed(20, 270)
    assert kinds(ops) == [flight_ops.START_AIRBORNE, flight_ops.CALLSIGN_CHANGE]
    assert ops[1].values == {"callsign": "EIN456", "previous_callsign": "EIN123"}
    assert all(f.flight_id == ops[0].flight_id for f in a.fixes)


def test_callsign_change_after_a_silence_it_could_have_landed_in_is_a_new_flight():
    # 40 minutes unheard but only 60 km further (it would have flown 570 km): it may
    # have landed and left again on another leg. Reachable, so the gap rule alone would
    # have continued the flight; the new callsign ends it.
    a, ops = _silent_then_renamed(40, 60)
    assert kinds(ops) == [flight_ops.START_AIRBORNE, flight_ops.END_CALLSIGN,
                          flight_ops.START_CALLSIGN]
    first, end, new = ops
    assert end.values["end_reason"] == "callsign_change"
    assert end.values["timed_out_at"] == new.row["started_at"]
    assert new.row["callsign"] == "EIN456" and new.row["takeoff_time"] is None
    assert new.row["launch_method"] == flight_ops.UNKNOWN
    assert "previous_callsign" not in new.row                 # another flight, not a rename
    assert a.fixes[0].flight_id == first.flight_id and a.fixes[-1].flight_id == new.flight_id
    # Without the new callsign the same silence continues the flight.
    same = airliner(callsign="EIN123", seed=43)
    same.straight(600, 1, 850, track=90, on_ground=False)
    same.t += timedelta(minutes=40)
    same.lon += 60_000 / (M_PER_DEG * math.cos(math.radians(same.lat)))
    same.straight(120, 1, 850, track=90, on_ground=False)
    assert kinds(run(same.fixes)) == [flight_ops.START_AIRBORNE]


def test_new_callsign_after_a_timeout_is_a_new_flight_not_a_resume():
    a = after_hole(90, 850 * 1.5 * 0.95)          # flew on: resumed with its own callsign
    assert kinds(run(a.fixes)) == [flight_ops.START_AIRBORNE, flight_ops.END_TIMEOUT,
                                   flight_ops.RESUME]
    b = after_hole(90, 850 * 1.5 * 0.95)
    hole = next(i for i, (x, y) in enumerate(zip(b.fixes, b.fixes[1:], strict=False))
                if (y.time - x.time).total_seconds() > 3600)
    for f in b.fixes[hole + 1:]:
        f.callsign = "EIN999"
    ops = run(b.fixes)
    assert kinds(ops) == [flight_ops.START_AIRBORNE, flight_ops.END_TIMEOUT,
                          flight_ops.START_AIRBORNE]
    assert ops[2].row["callsign"] == "EIN999"


# -- spurious flights --------------------------------------------------------------------

def test_transponder_glitch_makes_a_spurious_short_flight():
    a = airliner(callsign="AFR1")
    a.alt = 100
    a.straight(60, 0.5, 30, track=90, on_ground=True)            # taxiing
    a.straight(2, 0.5, 30, track=90, on_ground=False)            # flag flickers for 2 s
    a.straight(60, 0.5, 30, track=90, on_ground=True)
    ops = run(a.fixes)
    assert kinds(ops) == [flight_ops.START_TAKEOFF, flight_ops.END_LANDING]
    assert ops[1].values["spurious_reason"] == "too_short"


def test_car_on_a_highway():
    def drive():
        c = Sim(0xDDCAFE, 1, seed=43)
        c.straight(600, 3, 110, track=45, turn=0.0)              # first heard at speed
        c.accelerate(110, 0, 30, 3, track=45)
        c.stand(600, 20)
        return c
    # With terrain there is no height: never a flight.
    assert run(drive().fixes, FlightTracker(TrackerConfig(), field_terrain(radius=100_000))) == []
    # Without terrain it cannot be told from a low pass: a flight, marked spurious.
    ops = run(drive().fixes)
    assert kinds(ops) == [flight_ops.START_AIRBORNE, flight_ops.END_LANDING]
    assert ops[1].values["spurious_reason"] == "no_altitude_change"


def test_impossible_mean_speed_is_spurious():
    a = airliner()
    a.straight(120, 1, 2500, track=90, on_ground=False)
    a.straight(30, 1, 20, track=90, on_ground=True)
    ops = run(a.fixes, FlightTracker(TrackerConfig(glitch_max_rejects=0)))
    assert kinds(ops) == [flight_ops.START_AIRBORNE, flight_ops.END_LANDING]
    assert ops[1].values["spurious_reason"] == "impossible_speed"


# -- aerotow ------------------------------------------------------------------------------

def test_aerotow_is_paired_and_release_detected_oldest_first():
    tow, glider, peak = aerotow()
    ops = run(merge(tow, glider))
    c = {op.row["aircraft_id"]: op for op in creates(ops)}
    g_id = c[glider.fixes[0].aircraft_id].flight_id
    t_id = c[tow.fixes[0].aircraft_id].flight_id
    tows = [op for op in ops if op.kind == flight_ops.TOW]
    assert len(tows) == 1 and tows[0].flight_id == g_id
    assert tows[0].values == {"towed_by_flight_id": t_id,
                              "towed_by_aircraft_id": tow.fixes[0].aircraft_id}
    # The tow row is written after both flight rows exist (foreign key).
    assert ops.index(tows[0]) > max(ops.index(op) for op in creates(ops))
    rel = [op for op in ops if op.kind == flight_ops.TOW_RELEASE]
    assert len(rel) == 1 and rel[0].flight_id == g_id
    assert abs((rel[0].values["tow_release_time"] - peak).total_seconds()) <= 3
    assert abs(rel[0].values["tow_release_altitude_m"] - (FIELD[2] + 720)) <= 25


def test_no_tow_for_gliders_launched_a_minute_apart():
    tow, glider, _ = aerotow(glider_delay_s=60)
    ops = run(merge(tow, glider))
    assert len(creates(ops)) == 2
    assert not [op for op in ops if op.kind in (flight_ops.TOW, flight_ops.TOW_RELEASE)]


# -- determinism, memory, restore ----------------------------------------------------------

def test_replaying_the_same_fixes_gives_the_same_flight_ids():
    first = run([copy_fix(f) for f in winch_into_headwind()[0].fixes])
    again = run([copy_fix(f) for f in winch_into_headwind()[0].fixes])
    assert [op.flight_id for op in first] == [op.flight_id for op in again]
    assert first[0].row == again[0].row


def test_memory_is_bounded_by_silence():
    tr = FlightTracker()
    for i in range(1000):
        s = Sim(0x100000 + i, 1, seed=i)
        s.stand(20, 20)
        tr.process(s.fixes[0])
    a = airliner()
    a.straight(60, 1, 850, track=90, on_ground=False)
    run(a.fixes, tr)
    assert len(tr.aircraft) == 1001
    tr.expire(a.t + timedelta(hours=2))
    assert list(tr.aircraft) == [a.fixes[0].aircraft_id]   # timed out, may still resume
    assert tr.stats.active_aircraft == 1
    tr.expire(a.t + timedelta(hours=3, minutes=1))
    assert tr.aircraft == {}


def test_restore_continues_the_flight_without_a_new_one():
    g, liftoff, touchdown = winch_into_headwind(seed=59)
    before = [f for f in g.fixes if f.time < touchdown - timedelta(seconds=20)]
    after = [f for f in g.fixes if f.time >= touchdown - timedelta(seconds=20)]
    ops = without_launch(run(before))
    assert kinds(ops) == [flight_ops.START_TAKEOFF]
    row = ops[0].row
    fresh = FlightTracker()
    flight = ActiveFlight(row["id"], row["aircraft_id"], row["source"], None, row["started_at"],
                          row["takeoff_time"], aircraft_type=1)
    recent = [f for f in before if f.flight_id == row["id"]][-20:]
    assert fresh.restore([flight], {row["aircraft_id"]: recent}) == []
    rest = run(after, fresh)
    assert kinds(rest) == [flight_ops.END_LANDING]
    assert rest[0].flight_id == row["id"]
    assert abs((rest[0].values["landing_time"] - touchdown).total_seconds()) <= 6
