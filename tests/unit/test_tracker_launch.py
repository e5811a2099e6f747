"""The launch method of each flight that took off, decided by the tracker's core:
aerotow (paired with a tow plane), winch (a steep climb from the field), self (a
powered aircraft, or a glider climbing with no tow plane), unknown (no evidence).
Rules and thresholds: docs/flight-detection.md, "Launch method"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpers.recordings import KOENIGSDORF, winch_fixes
from helpers.simulator import (
    FIELD,
    Sim,
    aerotow,
    creates,
    field_terrain,
    kinds,
    merge,
    run,
    winch_into_headwind,
)
from soar.reference.terrain import AirportElevations
from soar.tracker import ActiveFlight, CreateFlight, FlightTracker, TrackerConfig
from soar.tracker import ops as flight_ops


def launches(ops) -> dict:
    """flight id -> the launch_method the ops leave on it (row, `launch` op or the end's
    UPDATE; the last one written wins)."""
    out: dict = {}
    for op in ops:
        values = op.row if isinstance(op, CreateFlight) else op.values
        if "launch_method" in values:
            out[op.flight_id] = values["launch_method"]
        elif isinstance(op, CreateFlight):
            out.setdefault(op.flight_id, None)
    return out


def only_launch(ops):
    (method,) = launches(ops).values()
    return method


# -- winch ------------------------------------------------------------------------------

@pytest.mark.parametrize("with_terrain", [False, True], ids=["no_terrain", "koenigsdorf_elevation"])
def test_winch_launch_with_broken_rope_is_winch(data_dir, with_terrain):
    """The two real Königsdorf launches (OGN, ogn-python's fixtures): the rope broke at
    120-140 m, and the launches are still winch launches."""
    terrain = AirportElevations([KOENIGSDORF], radius_m=3000) if with_terrain else None
    fixes = winch_fixes(data_dir)
    tracker = FlightTracker(TrackerConfig(), terrain)
    ops = run(fixes, tracker)
    ops += tracker.expire(fixes[-1].time + timedelta(hours=2))
    got = {op.row["aircraft_id"] & 0xFFFFFF: launches(ops)[op.flight_id] for op in creates(ops)}
    assert got == {0xDDEFF7: flight_ops.WINCH, 0xDDAC7C: flight_ops.WINCH}
    # Decided as soon as the climb showed, well before the landing: one write each, in
    # the row or a `launch` op, never again at the landing.
    for op in ops:
        if op.kind == flight_ops.END_LANDING:
            assert "launch_method" not in op.values


@pytest.mark.parametrize("terrain", [None, field_terrain()], ids=["no_terrain", "terrain"])
def test_winch_launch_into_a_headwind_is_winch(terrain):
    g, _, _ = winch_into_headwind()
    assert only_launch(run(g.fixes, FlightTracker(TrackerConfig(), terrain))) == flight_ops.WINCH


def test_winch_decision_is_the_climb_not_the_speed():
    """An aircraft of unknown type climbing winch-steeply but faster than any winch
    (an airliner's 12 m/s at 300 km/h) is not a winch launch: it launched itself."""
    a = Sim(0x3C1234, None, seed=71)
    a.stand(120, 10)
    a.accelerate(0, 290, 35, 1, track=90)
    a.straight(120, 1, 320, track=90, climb=12)
    assert only_launch(run(a.fixes)) == flight_ops.SELF


# -- aerotow ----------------------------------------------------------------------------

def test_glider_towed_aloft_is_aerotow():
    tow, glider, _ = aerotow()
    ops = run(merge(tow, glider))
    by_aircraft = {op.row["aircraft_id"]: launches(ops)[op.flight_id] for op in creates(ops)}
    assert by_aircraft == {glider.fixes[0].aircraft_id: flight_ops.AEROTOW,
                           tow.fixes[0].aircraft_id: flight_ops.SELF}
    # The tow plane's method is known at takeoff (in its row); the glider's comes with
    # the tow link, right after it, and is not written again.
    t_create = next(op for op in creates(ops) if op.row["aircraft_id"] == tow.fixes[0].aircraft_id)
    assert t_create.row["launch_method"] == flight_ops.SELF
    tow_op = next(op for op in ops if op.kind == flight_ops.TOW)
    launch_ops = [op for op in ops if op.kind == flight_ops.LAUNCH]
    assert len(launch_ops) == 1 and ops.index(launch_ops[0]) == ops.index(tow_op) + 1
    assert launch_ops[0].values == {"launch_method": flight_ops.AEROTOW}


def test_tow_found_after_a_winch_decision_wins():
    """The glider climbs winch-steeply at first (decided: winch); the tow plane that took
    off beside it is confirmed only later. The pairing overrides the winch."""
    glider = Sim(0xDDA101, 1, seed=73)
    tow = Sim(0xDDB102, 2, lon=FIELD[1] + 0.0008, seed=79)
    glider.stand(300, 20)
    tow.stand(300, 20)
    glider.accelerate(0, 80, 6, 1, track=90)
    glider.straight(10, 1, 90, track=90, climb=12)         # steep: 120 m in 10 s
    glider.straight(240, 1, 110, track=90, climb=1.0)
    tow.t += timedelta(seconds=4)
    tow.accelerate(0, 110, 20, 1, track=90)
    tow.straight(240, 1, 120, track=90, climb=1.2)          # slow climb: confirmed late
    ops = run(merge(glider, tow), FlightTracker(TrackerConfig(), field_terrain()))
    g_id = next(op.flight_id for op in creates(ops)
                if op.row["aircraft_id"] == glider.fixes[0].aircraft_id)
    written = [(op.values if not isinstance(op, CreateFlight) else op.row).get("launch_method")
               for op in ops if op.flight_id == g_id]
    assert [m for m in written if m] == [flight_ops.WINCH, flight_ops.AEROTOW]
    assert launches(ops)[g_id] == flight_ops.AEROTOW


# -- self -------------------------------------------------------------------------------

@pytest.mark.parametrize("terrain", [None, field_terrain()], ids=["no_terrain", "terrain"])
def test_motor_glider_climbing_on_its_own_is_self(terrain):
    m = Sim(0xDDC201, 1, seed=83)
    m.stand(300, 20)
    m.accelerate(0, 75, 25, 1, track=270)                   # a normal ground roll
    m.straight(240, 2, 90, track=270, climb=2.0)            # 2 m/s on its engine
    ops = run(m.fixes, FlightTracker(TrackerConfig(), terrain))
    assert kinds(ops) == [flight_ops.START_TAKEOFF, flight_ops.LAUNCH]
    assert ops[1].values == {"launch_method": flight_ops.SELF}
    # Decided at the end of the window (a tow plane would have been paired by then).
    decided = next(f for f in m.fixes if f.time - ops[0].row["takeoff_time"] >= timedelta(seconds=90))
    assert tracker_state_after(m.fixes, decided, terrain) is None


def tracker_state_after(fixes, last, terrain):
    """The flight's launch state once `last` is processed (None: nothing kept)."""
    tr = FlightTracker(TrackerConfig(), terrain)
    for f in fixes:
        tr.process(f)
        if f is last:
            break
    return tr.aircraft[last.aircraft_id].flight.launch


@pytest.mark.parametrize("aircraft_type", [2, 3, 8, 9])
def test_powered_aircraft_is_self_from_its_takeoff(aircraft_type):
    p = Sim(0x3E2001, aircraft_type, seed=89)
    p.stand(300, 20)
    p.accelerate(0, 110, 25, 1, track=90)
    p.straight(120, 1, 140, track=90, climb=3.0)
    ops = run(p.fixes)
    assert kinds(ops) == [flight_ops.START_TAKEOFF]            # no second write
    assert ops[0].row["launch_method"] == flight_ops.SELF


# -- unknown ----------------------------------------------------------------------------

def test_glider_first_seen_airborne_is_unknown():
    g = Sim(0xDDD301, 1, alt=FIELD[2] + 800, seed=97)
    g.straight(600, 2, 100, track=0, climb=0.5)
    ops = run(g.fixes)
    assert kinds(ops) == [flight_ops.START_AIRBORNE]
    assert ops[0].row["launch_method"] == flight_ops.UNKNOWN


def test_glider_heard_too_little_after_takeoff_is_unknown():
    """The fixes of the takeoff, then out of coverage until well after the launch:
    nothing says how it got up."""
    g = Sim(0xDDD302, 1, seed=101)
    g.stand(300, 20)
    g.accelerate(0, 60, 4, 1, track=0)
    g.straight(8, 2, 95, track=0, climb=5.0)           # 4 fixes, 40 m up: takeoff confirmed
    g.t += timedelta(minutes=5)
    g.alt += 500
    g.straight(120, 2, 100, track=0, climb=0.5)
    ops = run(g.fixes)
    assert kinds(ops) == [flight_ops.START_TAKEOFF, flight_ops.LAUNCH]
    assert ops[1].values == {"launch_method": flight_ops.UNKNOWN}


def test_glider_landing_within_the_launch_window_is_decided_in_the_landing():
    """A hop on the runway (up 30 m, down again within a minute): no tow, no winch climb,
    not enough height to call it a self-launch. The landing's UPDATE carries it."""
    g = Sim(0xDDD303, 1, seed=103)
    g.stand(300, 20)
    g.accelerate(0, 75, 10, 1, track=0)
    g.straight(10, 1, 85, track=0, climb=3.0)
    g.straight(10, 1, 85, track=0, climb=-3.0)
    g.accelerate(60, 0, 12, 1, track=0)
    g.stand(120, 20)
    ops = run(g.fixes)
    assert kinds(ops) == [flight_ops.START_TAKEOFF, flight_ops.END_LANDING]
    assert ops[1].values["launch_method"] == flight_ops.UNKNOWN


@pytest.mark.parametrize("aircraft_type", [6, 7, 11])
def test_hang_glider_paraglider_and_balloon_are_unknown(aircraft_type):
    """Launched by none of aerotow, winch or self-power (foot, inflation): unknown."""
    b = Sim(0x3E3001, aircraft_type, seed=107)
    b.stand(300, 20)
    b.straight(60, 2, 10, track=0, climb=2.0)
    ops = run(b.fixes)
    assert creates(ops)[0].row["launch_method"] == flight_ops.UNKNOWN


def test_launch_state_is_gone_once_decided():
    """Hot path: the few numbers kept while judging are dropped with the decision."""
    g, _, _ = winch_into_headwind()
    tr = FlightTracker()
    for f in g.fixes:
        tr.process(f)
        st = tr.aircraft[f.aircraft_id]
        if st.flight is not None and st.flight.launch_method is not None:
            assert st.flight.launch is None


# -- after a restart ----------------------------------------------------------------------

def restarted(before, aircraft_type, launch_method=None):
    """A new tracker restored from the flight the ops of `before` created, as the store
    loads it (launch_method as stored), with its last fixes; and what restore() wrote."""
    ops = run(before)
    row = creates(ops)[0].row
    stored = ActiveFlight(row["id"], row["aircraft_id"], row["source"], None, row["started_at"],
                          row["takeoff_time"], aircraft_type=aircraft_type,
                          launch_method=launch_method,
                          takeoff_altitude_m=row.get("takeoff_altitude_m"))
    fresh = FlightTracker()
    recent = [f for f in before if f.flight_id == row["id"]][-20:]
    return ops, fresh, fresh.restore([stored], {row["aircraft_id"]: recent})


def test_a_restart_in_the_middle_of_a_winch_launch_still_finds_the_winch():
    g, liftoff, _ = winch_into_headwind(seed=59)
    before = [f for f in g.fixes if f.time <= liftoff + timedelta(seconds=3)]
    after = [f for f in g.fixes if f.time > liftoff + timedelta(seconds=3)]
    ops, fresh, restored = restarted(before, aircraft_type=1)
    assert only_launch(ops) is None                       # not decided when it stopped
    assert only_launch(ops + restored + run(after, fresh)) == flight_ops.WINCH


def test_a_launch_decided_before_a_restart_is_not_judged_again():
    g, liftoff, _ = winch_into_headwind(seed=59)
    cut = liftoff + timedelta(seconds=3)
    ops, fresh, restored = restarted([f for f in g.fixes if f.time <= cut], aircraft_type=1,
                                     launch_method=flight_ops.AEROTOW)
    rest = run([f for f in g.fixes if f.time > cut], fresh)
    assert [op for op in restored + rest if op.kind == flight_ops.LAUNCH] == []
    assert fresh.aircraft[g.fixes[0].aircraft_id].flight is None      # landed, once
    assert kinds(rest) == [flight_ops.END_LANDING]


def test_a_powered_flight_stored_without_a_launch_method_is_self_at_a_restart():
    """Flights written before launch methods existed (migration 0008) have none."""
    p = Sim(0x3E2002, 8, seed=89)
    p.stand(300, 20)
    p.accelerate(0, 110, 25, 1, track=90)
    p.straight(120, 1, 140, track=90, climb=3.0)
    liftoff = next(f.time for f in p.fixes if f.ground_speed_kmh and f.ground_speed_kmh > 100)
    before = [f for f in p.fixes if f.time <= liftoff + timedelta(seconds=30)]
    _, _, restored = restarted(before, aircraft_type=8)
    assert [(op.kind, op.values) for op in restored] == [
        (flight_ops.LAUNCH, {"launch_method": flight_ops.SELF})]


def test_a_flight_first_seen_airborne_stored_without_a_launch_method_is_unknown_at_a_restart():
    g = Sim(0xDDD302, 1, alt=FIELD[2] + 800, seed=97)
    g.straight(120, 2, 100, track=0, climb=0.5)
    ops, fresh, restored = restarted(g.fixes, aircraft_type=1)
    assert ops[0].row["takeoff_time"] is None
    assert [(op.kind, op.values) for op in restored] == [
        (flight_ops.LAUNCH, {"launch_method": flight_ops.UNKNOWN})]
