"""Simulated traffic through soar's parsers and the flight tracker, no database: every
takeoff and landing of the ground truth is found within seconds, nothing extra, aerotows
paired with the right tow plane, winch launches never. (The same with the whole pipeline
and PostgreSQL: tests/integration/test_simulate_replay.py.)"""

from __future__ import annotations

from datetime import datetime, timezone

from soar.feeds import modes, ogn
from soar.records import Fix
from soar.simulate import Profile, SimConfig, Simulation, score
from soar.simulate.truth import record
from soar.tracker import CreateFlight, FlightTracker, TrackerConfig

T0 = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)


def hexa(aircraft_id: int) -> str:
    return f"{aircraft_id & 0xFFFFFF:06X}"


def track(sim: Simulation, receiver_position: tuple[float, float]) -> list[dict]:
    """Flights as the pipeline would write them: parse, one fix per aircraft and second,
    tracker ops applied to dicts keyed like soar.products.flights.fetch."""
    tracker = FlightTracker(TrackerConfig())
    decoder = modes.ModeSDecoder("sim", *receiver_position)
    seen: set = set()
    flights: dict = {}
    last_expire = None
    for s in sim.seconds():
        items = sorted([(rt, 0, raw) for rt, raw in s.aprs] +
                       [(rt, 1, frame) for rt, frame, _ in s.frames], key=lambda x: x[0])
        for rt, kind, payload in items:
            received = datetime.fromtimestamp(rt, timezone.utc)
            fix = ogn.parse(payload, received) if kind == 0 else decoder.decode(payload, received)
            if not isinstance(fix, Fix):
                continue
            key = (fix.aircraft_id, int(fix.time.timestamp()))
            if key in seen:
                continue
            seen.add(key)
            ops = tracker.process(fix)
            if last_expire is None or (fix.time - last_expire).total_seconds() >= 60:
                last_expire = fix.time
                ops += tracker.expire(fix.time)
            for op in ops:
                if isinstance(op, CreateFlight):
                    flights[op.flight_id] = {"aircraft_address": hexa(op.row["aircraft_id"]),
                                             "takeoff_time": op.row["takeoff_time"],
                                             "started_at": op.row["started_at"],
                                             "launch_method": op.row.get("launch_method")}
                    continue
                f, v = flights[op.flight_id], op.values
                for k in ("landing_time", "tow_release_time", "spurious_reason", "launch_method"):
                    if k in v:
                        f[k] = v[k]
                if "towed_by_aircraft_id" in v:
                    f["towed_by_aircraft_address"] = hexa(v["towed_by_aircraft_id"])
    return list(flights.values())


def test_the_tracker_finds_every_simulated_takeoff_landing_and_tow():
    cfg = SimConfig(start=T0, duration_s=3600, aircraft=40, beast_aircraft=6, seed=21,
                    airborne_fraction=0.3, aircraft_per_field=20,
                    profile=Profile(glider_flight_s=(300.0, 900.0),
                                    powered_flight_s=(300.0, 900.0), wait_s=(60.0, 600.0)))
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
