"""The landing time is the touchdown (soar.tracker.rules.rolling and touchdown;
docs/flight-detection.md, "Recorded times"), not the first fix slow enough to confirm
the landing: synthetic fixes shaped like OGN's (rounded, with GPS noise) through the
in-memory tracker."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from helpers.simulator import FIELD, Sim, field_terrain, kinds, run, winch_into_headwind
from soar.tracker import FlightTracker, TrackerConfig
from soar.tracker import ops as flight_ops
from soar.units import distance_m

SINK_MS = 2.5          # on final
DECEL_MS2 = 1.0        # a glider's roll-out on grass


def approach(g: Sim, dt: float, speed_kmh: float, fixes: int) -> datetime:
    """Down a straight final at SINK_MS with a fix every dt, the last one SINK_MS * dt/2
    above the field; returns the touchdown time, dt/2 after that fix."""
    g.alt = FIELD[2] + SINK_MS * dt * (fixes + 0.5)
    g.straight(fixes * dt, dt, speed_kmh, climb=-SINK_MS)
    return g.t + timedelta(seconds=dt / 2)


def roll_out(g: Sim, dt: float, touchdown_kmh: float, first_after_s: float) -> None:
    """On the ground from the touchdown, braking at DECEL_MS2, a fix every dt (the first
    `first_after_s` after touchdown), then standing."""
    g.alt = FIELD[2]
    t = first_after_s
    while (v := touchdown_kmh - DECEL_MS2 * 3.6 * t) > 0:
        g.straight(dt, dt, v)
        t += dt
    g.stand(120, dt)


def the_landing(ops):
    ends = [op for op in ops if op.kind == flight_ops.END_LANDING]
    assert len(ends) == 1, kinds(ops)
    return ends[0].values


@pytest.mark.parametrize("dt", [1.0, 4.0], ids=["fix_every_1s", "fix_every_4s"])
@pytest.mark.parametrize("terrain", [None, field_terrain()], ids=["no_terrain", "terrain"])
def test_a_glider_touching_down_at_70_kmh_lands_at_its_touchdown_not_when_under_40_kmh(dt, terrain):
    g = Sim(0xDD7001, 1, seed=5)
    touchdown = approach(g, dt, 90.0, fixes=30)
    roll_out(g, dt, 70.0, first_after_s=dt / 2)
    slow = next(f for f in g.fixes if f.time > touchdown and f.ground_speed_kmh < 40)
    assert (slow.time - touchdown).total_seconds() >= 8       # where the old rule dated it

    landing = the_landing(run(g.fixes, FlightTracker(TrackerConfig(), terrain)))
    assert abs((landing["landing_time"] - touchdown).total_seconds()) <= 2
    # Where it touched down (the fixes around it are 25-100 m apart), on the ground.
    near = min(g.fixes, key=lambda f: abs((f.time - touchdown).total_seconds()))
    assert distance_m(landing["landing_latitude"], landing["landing_longitude"],
                      near.latitude, near.longitude) < 110
    assert abs(landing["landing_altitude_m"] - FIELD[2]) <= 6


def test_a_roll_out_that_turns_round_and_back_tracks_is_dated_at_its_touchdown():
    # Slowing to 8 km/h, a turn on the spot, then taxiing back faster than that: the
    # landed run starts again after the turn, the roll does not.
    g = Sim(0x3E7003, 8, seed=7)
    touchdown = approach(g, 1.0, 110.0, fixes=40)
    g.alt = FIELD[2]
    for v in range(100, 7, -6):
        g.straight(1, 1, v)
    g.straight(1, 1, 20, track=90.0, turn=180.0)
    g.straight(40, 1, 22, track=90.0)
    g.stand(120, 1)
    landing = the_landing(run(g.fixes))
    assert abs((landing["landing_time"] - touchdown).total_seconds()) <= 2


def test_a_touch_and_go_is_not_a_landing_and_the_landing_after_it_is_dated_at_its_own_touchdown():
    g = Sim(0x3E7002, 8, seed=11)
    first_touch = approach(g, 4.0, 110.0, fixes=30)
    g.alt = FIELD[2]
    g.straight(12, 4, 85)                      # on the runway, never under 40 km/h ...
    g.straight(64, 4, 110, climb=4.0)          # ... and off again
    g.straight(120, 4, 150)
    touchdown = approach(g, 4.0, 110.0, fixes=30)
    roll_out(g, 4.0, 90.0, first_after_s=2.0)
    ops = run(g.fixes)
    assert kinds(ops) == [flight_ops.START_AIRBORNE, flight_ops.END_LANDING]
    landing = ops[1].values["landing_time"]
    assert abs((landing - touchdown).total_seconds()) <= 2
    assert landing - first_touch > timedelta(minutes=3)


def test_standing_still_where_terrain_is_wrong_still_lands_where_it_stopped():
    # Nothing looks landed (terrain 200 m too low); 10 minutes standing still end the
    # flight at the start of the standstill, as before: the last fix that moved.
    g, _, touchdown = winch_into_headwind(seed=61)
    ops = run(g.fixes, FlightTracker(TrackerConfig(), field_terrain(FIELD[2] - 200)))
    landing = the_landing(ops)
    stopped = [f for f in g.fixes if f.time >= touchdown and f.ground_speed_kmh >= 5][-1]
    assert landing["landing_time"] == stopped.time
    assert (landing["landing_latitude"], landing["landing_longitude"]) == (stopped.latitude,
                                                                          stopped.longitude)
