"""Simulated traffic through soar's parsers and the flight tracker, no database: every
takeoff and landing of the ground truth is found within seconds, nothing extra, aerotows
paired with the right tow plane, winch launches never, and each takeoff's launch method
right. (The same with the whole pipeline and PostgreSQL:
tests/integration/test_simulate_replay.py, tests/integration/test_tracker_products.py.)"""

from __future__ import annotations

from datetime import datetime, timezone

from helpers.sim_tracker import track
from soar.simulate import Profile, SimConfig, Simulation, score
from soar.simulate.truth import record

T0 = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)


def test_the_tracker_finds_every_simulated_takeoff_landing_and_tow():
    # 40 min of short flights and short waits: enough launches of each kind for every
    # check below, for two thirds of the messages an hour of longer ones took.
    cfg = SimConfig(start=T0, duration_s=2400, aircraft=40, beast_aircraft=6, seed=21,
                    airborne_fraction=0.3, aircraft_per_field=20,
                    profile=Profile(glider_flight_s=(300.0, 600.0),
                                    powered_flight_s=(300.0, 600.0), wait_s=(60.0, 300.0)))
    sim = Simulation(cfg)
    flights = track(sim, (49.5, 7.5))
    truth = [record(d) for d in sim.describe()] + [record(e) for e in sim.events]
    s = score(truth, flights, T0, T0.timestamp() + cfg.duration_s, tolerance_s=60.0)
    for event in ("takeoff", "landing"):
        assert s[event]["truth"] >= 40, s
        assert s[event]["missed"] == 0 and s[event]["extra"] == 0, s[event]
    assert s["takeoff"]["error_s_p95"] <= 8.0
    # A landing is confirmed by slow fixes after touchdown: a roll-out's worth later.
    assert s["landing"]["error_s_p95"] <= 30.0
    tows = s["tow"]
    assert tows["truth"] >= 5 and tows["paired"] == tows["aerotow_takeoffs_found"] >= tows["truth"]
    assert tows["false_tow"] == 0 and tows["wrong_tow_plane"] == 0
    assert tows["release_found"] == tows["truth"] and tows["release_error_s_p95"] <= 5.0
    # Launch methods: every decided one right; undecided only where the recording ends
    # before the launch window (90 s) does; flights first seen in the air: unknown.
    launch = s["launch"]
    print("launch methods:", launch)
    m = launch["matrix"]
    assert m["aerotow"]["aerotow"] >= 5 and m["winch"]["winch"] >= 5 and m["self"]["self"] >= 20
    for truth_method, row in m.items():
        wrong = {k: n for k, n in row.items() if k not in (truth_method, "undecided") and n}
        assert not wrong, (truth_method, row)
    assert sum(row["undecided"] for row in m.values()) <= 2
    airborne = launch["first_seen_airborne"]
    assert airborne["unknown"] >= 5 and sum(airborne.values()) == airborne["unknown"]
