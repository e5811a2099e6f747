"""Landing-time accuracy of the tracker core alone, printing JSON: a simulated load of
the incident benchmark's kind (bench/incident.py's `PROFILE`: short flights, takeoffs
and landings from the first minutes) through soar's parsers and the flight tracker in
memory (tests/helpers/sim_tracker.py: no database, no pipeline), the landings scored
against the simulator's touchdowns (soar.simulate.score).

Figures: `landings_scored` (true landings before the horizon, the last `EDGE_S` of
data, where a landing may not be confirmed yet), `error_s_p50/p95/max`
(|found - touchdown| over the landings matched within 60 s), `over_10s` (landings
not found within 10 s: what `make bench-incident` counts as `landings_missed`, each
also an extra), `missed_60s` (not found within 60 s: an aircraft no receiver heard,
say), `found_over_10s` (the difference: found, but late or early),
`bias_s` (median of found - truth).

    .venv/bin/python bench/landing.py [--aircraft 300] [--beast-aircraft 30]
                                      [--duration 1800] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # helpers.sim_tracker (used as is)

from bench.incident import EDGE_S, PROFILE, START  # noqa: E402
from helpers.sim_tracker import track  # noqa: E402
from soar.simulate import SimConfig, Simulation, score  # noqa: E402
from soar.simulate.truth import iso, record  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aircraft", type=int, default=300, help="OGN aircraft")
    ap.add_argument("--beast-aircraft", type=int, default=30)
    ap.add_argument("--duration", type=int, default=1800, help="seconds of data")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = SimConfig(start=START, duration_s=args.duration, aircraft=args.aircraft,
                    beast_aircraft=args.beast_aircraft, seed=args.seed,
                    aircraft_per_field=10, airborne_fraction=0.5, profile=PROFILE)
    t0 = time.perf_counter()
    sim = Simulation(cfg)
    flights = track(sim)
    truth = [record(d) for d in sim.describe()] + [record(e) for e in sim.events]
    end = START.timestamp() + cfg.duration_s
    horizon = iso(end - EDGE_S)       # truth times are ISO strings of one format: ordered
    wide = score(truth, flights, START, end, tolerance_s=60.0, edge_s=EDGE_S)["landing"]
    tight = score(truth, flights, START, end, tolerance_s=10.0, edge_s=EDGE_S)["landing"]
    print(json.dumps({
        "aircraft": args.aircraft, "beast_aircraft": args.beast_aircraft,
        "duration_s": args.duration, "seed": args.seed,
        "seconds": round(time.perf_counter() - t0, 1),
        "landings_scored": sum(1 for r in truth if r["event"] == "landing"
                               and r["time"] < horizon),
        "error_s_p50": wide["error_s_p50"], "error_s_p95": wide["error_s_p95"],
        "error_s_max": wide["error_s_max"], "bias_s": wide["bias_s"],
        "over_10s": tight["missed"], "over_10s_by_kind": tight["missed_by_kind"],
        "found_over_10s": tight["missed"] - wide["missed"],
        "missed_60s": wide["missed"], "extra_60s": wide["extra"],
    }))


if __name__ == "__main__":
    main()
