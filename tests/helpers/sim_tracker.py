"""Simulated traffic through soar's parsers and the flight tracker, no database: the
flights as the pipeline would write them, for scoring against the ground truth
(soar.simulate.score). Run as a module it prints the score of one simulation:

    cd tests && ../.venv/bin/python -m helpers.sim_tracker --seed 7 --duration 7200 \\
        --aircraft 300 --beast-aircraft 30

(the launch-method confusion matrix in docs/flight-detection.md comes from this)."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone

from soar.feeds import modes, ogn
from soar.records import Fix
from soar.simulate import SimConfig, Simulation, score
from soar.simulate.truth import record
from soar.tracker import CreateFlight, FlightTracker, TrackerConfig

REGION_CENTRE = (49.5, 7.5)     # the default region's centre: the Beast receiver's position


def hexa(aircraft_id: int) -> str:
    return f"{aircraft_id & 0xFFFFFF:06X}"


def track(sim: Simulation, receiver_position: tuple[float, float] = REGION_CENTRE,
          tracker: FlightTracker | None = None) -> list[dict]:
    """Flights as the pipeline would write them: parse, one fix per aircraft and second,
    tracker ops applied to dicts keyed like soar.products.flights.fetch."""
    tracker = tracker or FlightTracker(TrackerConfig())
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


def scored(cfg: SimConfig) -> dict:
    sim = Simulation(cfg)
    flights = track(sim)
    truth = [record(d) for d in sim.describe()] + [record(e) for e in sim.events]
    return score(truth, flights, cfg.start, cfg.start.timestamp() + cfg.duration_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--duration", type=int, default=7200, help="seconds of data")
    ap.add_argument("--aircraft", type=int, default=300)
    ap.add_argument("--beast-aircraft", type=int, default=30)
    ap.add_argument("--start", default="2024-06-15T10:00:00")
    args = ap.parse_args()
    cfg = SimConfig(start=datetime.fromisoformat(args.start).replace(tzinfo=timezone.utc),
                    duration_s=args.duration, aircraft=args.aircraft,
                    beast_aircraft=args.beast_aircraft, seed=args.seed)
    t0 = time.perf_counter()
    s = scored(cfg)
    print(json.dumps({"seed": args.seed, "duration_s": args.duration, "aircraft": args.aircraft,
                      "beast_aircraft": args.beast_aircraft, "start": args.start,
                      "seconds": round(time.perf_counter() - t0, 1),
                      "takeoff": {k: s["takeoff"][k] for k in ("truth", "matched", "missed", "extra")},
                      "tow": {k: s["tow"][k] for k in ("truth", "paired", "unpaired", "false_tow")},
                      "launch": s["launch"]}, indent=1, default=str))


if __name__ == "__main__":
    main()
