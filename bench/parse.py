"""Parser-only benchmark: the OGN one-minute capture through `soar.feeds.ogn.parse` and
the AFR34ZG Mode-S flight through `ModeSDecoder.decode`, no database, printing JSON.

Measures the per-message cost of the edge (parsing, cleaning, range checks) without
the noise of the writer and PostgreSQL: the best of `--repeat` passes, in CPU time of
this process (`time.process_time`), which other load on a shared machine disturbs
much less than wall-clock time.

    .venv/bin/python bench/parse.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from soar.feeds import modes, ogn, recordings  # noqa: E402
from soar.ingest import validate  # noqa: E402
from soar.records import Fix  # noqa: E402
from soar.reference import samples  # noqa: E402


def best_of(repeat: int, fn) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    aprs = list(recordings.aprs_messages(samples.path("oneminute.txt")))
    frames = list(recordings.modes_messages(samples.path("full_flight_short.jsonl"), "bench"))
    parse, check = ogn.parse, validate.check

    def run_aprs():
        for m in aprs:
            r = parse(m.payload, m.received_at)
            if type(r) is Fix:
                check(r)

    def run_modes():
        dec = modes.ModeSDecoder("bench")
        for m in frames:
            r = dec.decode(m.payload, m.received_at, m.signal_db)
            if type(r) is Fix:
                check(r)

    t_aprs = best_of(args.repeat, run_aprs)
    t_modes = best_of(args.repeat, run_modes)
    print(json.dumps({
        "aprs_lines": len(aprs), "aprs_us_per_line": round(t_aprs / len(aprs) * 1e6, 3),
        "aprs_lines_per_s": round(len(aprs) / t_aprs),
        "modes_frames": len(frames), "modes_us_per_frame": round(t_modes / len(frames) * 1e6, 3),
        "modes_frames_per_s": round(len(frames) / t_modes),
    }))


if __name__ == "__main__":
    main()
