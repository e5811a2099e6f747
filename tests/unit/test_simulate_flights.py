"""The simulator's flights: ground rolls from the runway end along its heading, landings
that stop on a runway, aerotows (same runway, seconds apart, 2-5 m/s, release 400-1,000 m
up, the tow plane down soon after), winch launches (8-20 m/s to 300-600 m in 30-60 s),
thermalling with the wind, receivers per aircraft, determinism with a seed."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections import defaultdict
from datetime import datetime, timezone

import pytest

from soar.simulate import Profile, SimConfig, Simulation
from soar.simulate.airfields import REGIONS, load_cached
from soar.units import M_PER_DEG, distance_m

T0 = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)
SHORT = Profile(glider_flight_s=(300.0, 900.0), powered_flight_s=(300.0, 900.0),
                wait_s=(60.0, 600.0))


def config(**kw) -> SimConfig:
    base = dict(start=T0, duration_s=3600, aircraft=24, beast_aircraft=4, seed=11,
                airborne_fraction=0.0, aircraft_per_field=12, profile=SHORT)
    base.update(kw)
    return SimConfig(**base)


def run(cfg: SimConfig):
    """(simulation, {address: [(t, State)]}, [Second])"""
    sim = Simulation(cfg)
    states = defaultdict(list)
    seconds = []
    for s in sim.seconds():
        seconds.append(s)
        for a in sim.aircraft:
            states[f"{a.address:06X}"].append((s.second, a.state))
    return sim, states, seconds


@pytest.fixture(scope="module")
def traffic():
    return run(config())


def runway_end(airport: str, ident: str):
    for f in load_cached(REGIONS["europe"]):
        if f.ident == airport:
            for rw in f.runways:
                for i, end in enumerate(rw.ends):
                    if end.ident == ident:
                        return end, rw.ends[1 - i], rw.length_m
    raise AssertionError(f"{airport} {ident} not in OurAirports")


def along_across(end, lat, lon):
    """Metres along the runway from `end` and to the right of its centreline."""
    kx = M_PER_DEG * math.cos(math.radians(end.latitude))
    dx, dy = (lon - end.longitude) * kx, (lat - end.latitude) * M_PER_DEG
    h = math.radians(end.heading_deg)
    return dx * math.sin(h) + dy * math.cos(h), dx * math.cos(h) - dy * math.sin(h)


def at(track, t):
    return next(i for i, (ts, _) in enumerate(track) if ts == t)


def angle(a, b):
    return abs((a - b + 180.0) % 360.0 - 180.0)


def test_every_takeoff_rolls_from_the_runway_end_along_its_heading(traffic):
    sim, states, _ = traffic
    takeoffs = [e for e in sim.events if e["event"] == "takeoff"]
    assert len(takeoffs) >= 20
    assert {e["kind"] for e in takeoffs} >= {"glider_aerotow", "glider_winch", "tow_plane",
                                             "powered", "airliner"}
    for e in takeoffs:
        end, _, _ = runway_end(e["airport"], e["runway"])
        track = states[e["address"]]
        i = at(track, e["t"])
        assert not track[i][1].on_ground and track[i - 1][1].on_ground
        # Back to where the roll started: standing still before it.
        j = i - 1
        while track[j][1].gs_kmh > 0.0:
            j -= 1
        roll = [st for _, st in track[j + 1:i]]
        start = track[j][1]
        along, across = along_across(end, start.lat, start.lon)
        assert -1.0 <= along <= 80.0 and abs(across) < 1.0, (e, along, across)
        assert 1 <= len(roll) <= 60
        for st in roll:
            assert st.on_ground and angle(st.track_deg, end.heading_deg) < 0.5
            assert abs(along_across(end, st.lat, st.lon)[1]) < 1.0
        assert all(b.gs_kmh > a.gs_kmh for a, b in zip(roll, roll[1:], strict=False))
        # The listed true heading of the runway end agrees with the roll (rounded data).
        assert angle(roll[-1].track_deg, end.heading_deg) < 5.0


def test_every_landing_touches_down_on_the_runway_and_stops(traffic):
    sim, states, _ = traffic
    landings = [e for e in sim.events if e["event"] == "landing"]
    assert len(landings) >= 15
    for e in landings:
        end, _, length = runway_end(e["airport"], e["runway"])
        track = states[e["address"]]
        i = at(track, e["t"])
        assert track[i][1].on_ground and not track[i - 1][1].on_ground
        k = i
        # Roll-out along the runway, slowing down, on it, until slow (taxi or stop).
        while k < len(track) and track[k][1].gs_kmh > 40.0:
            st = track[k][1]
            along, across = along_across(end, st.lat, st.lon)
            assert 0.0 <= along <= length and abs(across) < 30.0, (e, along, across)
            assert angle(st.track_deg, end.heading_deg) < 1.0
            assert track[k + 1][1].gs_kmh < st.gs_kmh
            k += 1
        st = track[k][1]
        along, across = along_across(end, st.lat, st.lon)
        assert 0.0 <= along <= length and abs(across) < 30.0
        # Descending toward the runway just before touchdown.
        assert track[i - 10][1].alt_m > track[i - 1][1].alt_m
        if e["kind"].startswith("glider") or e["kind"] == "motor_glider":
            # Gliders brake to a standstill on the runway.
            assert any(s.gs_kmh == 0.0 for _, s in track[k:k + 60]), e


def test_aerotow_pairs_roll_together_and_release_at_height(traffic):
    sim, states, _ = traffic
    ev = sim.events
    tows = [e for e in ev if e["event"] == "tow"]
    assert len(tows) >= 3
    for tow in tows:
        g_to = next(e for e in ev if e["event"] == "takeoff" and e["address"] == tow["glider_address"]
                    and e["flight"] == tow["glider_flight"])
        t_to = next(e for e in ev if e["event"] == "takeoff" and e["address"] == tow["tow_address"]
                    and e["flight"] == tow["tow_flight"])
        assert g_to["launch"] == "aerotow" and g_to["tow_address"] == tow["tow_address"]
        assert (g_to["airport"], g_to["runway"]) == (t_to["airport"], t_to["runway"])
        assert 0.0 < t_to["t"] - g_to["t"] <= 15.0         # the glider lifts off first
        assert 400 <= tow["release_height_m"] <= 1000
        assert 180.0 - 15.0 <= tow["t"] - t_to["t"] <= 600.0 + 15.0
        # Together during the tow: the glider a rope length behind, climbing 2-5 m/s.
        tp, gl = states[tow["tow_address"]], states[tow["glider_address"]]
        a, b = at(tp, t_to["t"] + 20), at(tp, tow["t"] - 1)
        rate = (tp[b][1].alt_m - tp[a][1].alt_m) / (b - a)
        assert 2.0 <= rate <= 5.0
        for k in range(a, b, 10):
            tst, gst = tp[k][1], gl[at(gl, tp[k][0])][1]
            assert 20.0 < distance_m(tst.lat, tst.lon, gst.lat, gst.lon) < 80.0
        # After the release the tow plane dives away and lands soon.
        r = at(tp, tow["t"])
        assert tp[r + 30][1].alt_m < tp[r][1].alt_m - 100.0
        landing = next((e for e in ev if e["event"] == "landing" and e["address"] == tow["tow_address"]
                        and e["t"] > tow["t"]), None)
        if landing is not None:
            assert landing["t"] - tow["t"] < 900.0


def test_winch_launches_climb_steeply_to_release_height(traffic):
    sim, states, _ = traffic
    winch = [e for e in sim.events if e["event"] == "takeoff" and e["launch"] == "winch"]
    assert len(winch) >= 3
    for e in winch:
        track = states[e["address"]]
        i = at(track, e["t"])
        j = i - 1
        while track[j][1].gs_kmh > 0.0:
            j -= 1
        assert i - j <= 6                    # a ground run of a few seconds from standstill
        field = track[i - 1][1].alt_m           # the last ground fix
        # The winch climb: from rotation to the release at the top.
        end = next(k for k in range(i + 3, i + 90) if track[k][1].climb_ms < 8.0)
        climbs = [st.climb_ms for _, st in track[i + 3:end]]
        assert all(8.0 <= c <= 20.0 for c in climbs), climbs
        height = track[end][1].alt_m - field
        assert 300.0 - 0.5 <= height <= 600.0
        assert height == pytest.approx(e["release_height_m"], abs=2.0)   # (release: -1 m/s)
        assert 30 <= end - i <= 60


def test_gliders_thermal_at_12_to_25_degrees_per_second_drifting_with_the_wind(traffic):
    sim, states, _ = traffic
    wind_e, wind_n = -sim.wind.speed_ms * math.sin(math.radians(sim.wind.from_deg)), \
        -sim.wind.speed_ms * math.cos(math.radians(sim.wind.from_deg))
    circles = 0
    for a in sim.aircraft:
        if a.aircraft_type != 1:
            continue
        track = states[f"{a.address:06X}"]
        run = []
        for _, st in track:
            if not st.on_ground and 12.0 <= abs(st.turn_degs) <= 25.0:
                run.append(st)
                continue
            if len(run) >= 60:
                # Over whole turns the air velocity cancels: what is left is the wind.
                turned, n = 0.0, 0
                for k, st in enumerate(run[1:], 1):
                    turned += abs(st.turn_degs)
                    if turned >= 360.0 * (len(run) * 12.0 // 360.0) - 1e-6:
                        n = k
                        break
                turned = sum(abs(st.turn_degs) for st in run[1:n + 1])
                if n and abs(turned - 360.0 * round(turned / 360.0)) < 1.0:
                    circles += 1
                    kx = M_PER_DEG * math.cos(math.radians(run[0].lat))
                    ve = (run[n].lon - run[0].lon) * kx / n
                    vn = (run[n].lat - run[0].lat) * M_PER_DEG / n
                    assert math.hypot(ve - wind_e, vn - wind_n) < 1.0
            run = []
    assert circles >= 5


def test_every_ogn_aircraft_is_in_range_of_one_to_four_receivers(traffic):
    sim, _, _ = traffic
    counts = [len(a.ogn.receivers) for a in sim.aircraft if a.ogn is not None]
    assert min(counts) >= 1 and max(counts) <= 4 and len(set(counts)) >= 3


def digest(seconds) -> str:
    h = hashlib.sha256()
    for s in seconds:
        for rt, line in s.aprs:
            h.update(f"{rt:.6f} {line}".encode())
        for rt, frame, sig in s.frames:
            h.update(f"{rt:.6f} {frame.hex()} {sig}".encode())
    return h.hexdigest()


def test_same_seed_same_traffic_other_seed_other_traffic():
    cfg = dict(duration_s=300, aircraft=20, beast_aircraft=3, airborne_fraction=0.5)
    a, _, sa = run(config(**cfg))
    b, _, sb = run(config(**cfg))
    c, _, sc = run(config(seed=12, **cfg))
    assert digest(sa) == digest(sb) != digest(sc)
    assert a.events == b.events != c.events
    assert sum(len(s.aprs) for s in sa) > 5000


def test_early_events_bring_takeoffs_and_landings_into_the_first_minutes():
    """Profile.early_events (the incident benchmark's): aircraft that start airborne
    land from their circuit and the ground's first wait is short, so both events
    happen within the first 150 s of data; without it, no landing does."""
    cfg = dict(duration_s=150, aircraft=60, beast_aircraft=0, airborne_fraction=0.5)

    def first_events(profile: Profile) -> dict[str, int]:
        sim, _, _ = run(config(profile=profile, **cfg))
        counts = {"takeoff": 0, "landing": 0}
        for e in sim.events:
            if e["event"] in counts:
                counts[e["event"]] += 1
        return counts

    early = first_events(dataclasses.replace(SHORT, early_events=True))
    assert early["takeoff"] > 0 and early["landing"] >= 5, early
    assert first_events(SHORT)["landing"] == 0
