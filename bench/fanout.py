"""The live stream's fan-out alone, printing JSON: CPU time to work out every client's
update from one read (soar/web/live.py `diff` and `for_client`), in memory, no server,
no database, for the web benchmark's layout (bench/web.py: `--live` aircraft on a
0.05 degree grid north-east of LIVE_CENTRE, each of `--clients` clients its own
2 x 2 degree box) and each grid cell size of `--cells`.

A cell size of 360 degrees puts every position in one cell that every box's edge
crosses: the position-by-position rule, the baseline. Figures are process time (best
of `--reads` reads after the snapshot), steadier than wall time on a shared machine.

    .venv/bin/python bench/fanout.py [--clients 500] [--live 1450] [--cells 360,0.1,0.25,0.5,1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.web import BOX_HALF_DEG, LIVE_CENTRE  # noqa: E402
from soar.web import live, params  # noqa: E402


def world(live_n: int, second: int, start: datetime) -> dict[int, dict]:
    """The positions a read returns, as soar.web.aircraft.position shapes them, at
    `second` of the mover (bench/web.py Mover: 0.0003 degrees north a second)."""
    out = {}
    for n in range(1, live_n + 1):
        out[n] = {"aircraft_id": n, "flight_id": f"f{n}", "aircraft_address": f"{n:06X}",
                  "registration": None, "callsign": None, "model": None, "aircraft_type": 1,
                  "category": None, "kind": "glider", "source": 1,
                  "time": start + timedelta(seconds=second),
                  "latitude": round(LIVE_CENTRE[0] + (n % 40) * 0.05 + second * 0.0003, 6),
                  "longitude": round(LIVE_CENTRE[1] + (n // 40) * 0.05, 6),
                  "altitude_m": 1000.0, "ground_speed_kmh": 100.0, "track_deg": 0.0,
                  "climb_rate_ms": None, "on_ground": False}
    return out


def boxes(n: int) -> list[params.Box]:
    out = []
    for i in range(n):                         # bench/web.py live_clients
        lat = LIVE_CENTRE[0] + (i % 25) * 0.04
        lon = LIVE_CENTRE[1] + (i // 25 % 20) * 0.05
        out.append(params.Box(lon - BOX_HALF_DEG, lat - BOX_HALF_DEG,
                              lon + BOX_HALF_DEG, lat + BOX_HALF_DEG))
    return out


def measure(cell_deg: float, clients: int, live_n: int, reads: int) -> dict:
    live.CELL_DEG = cell_deg
    start = datetime.now(timezone.utc)
    subscribers = [live.Client(b, asyncio.Queue()) for b in boxes(clients)]
    before = world(live_n, 0, start)
    snapshot = live.Changes(live.placed(before), frozenset())
    for c in subscribers:
        live.for_client(c, snapshot)
    times, sent = [], 0
    for second in range(1, reads + 1):
        after = world(live_n, second, start)
        t = time.process_time()
        changes = live.diff(before, after)
        updates = [live.for_client(c, changes) for c in subscribers]
        times.append(time.process_time() - t)
        sent = sum(len(u) for u in updates if u)
        before = after
    return {"cell_deg": cell_deg, "cpu_ms_per_read": round(min(times) * 1000, 1),
            "cpu_ms_per_read_median": round(sorted(times)[len(times) // 2] * 1000, 1),
            "bytes_per_read": sent}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--live", type=int, default=1450, help="moving aircraft")
    ap.add_argument("--reads", type=int, default=7)
    ap.add_argument("--cells", default="360,0.1,0.25,0.5,1",
                    help="grid cell sizes in degrees, comma-separated")
    args = ap.parse_args()
    chosen = live.CELL_DEG
    results = [measure(float(c), args.clients, args.live, args.reads)
               for c in args.cells.split(",")]
    print(json.dumps({"clients": args.clients, "live": args.live, "cell_deg_in_use": chosen,
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
