"""The takeoffs of the one-minute OGN capture (ogn-client 0.9.8's oneminute.txt,
2020-05-30 11:04:52-11:05:52 UTC) and the launch method the tracker gives each, with
the climb that decided it. The capture has no labels: this is for reading.

    cd tests && ../.venv/bin/python -m helpers.capture_launches
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from soar.feeds import ogn
from soar.records import Fix
from soar.reference import samples
from soar.tracker import CreateFlight, FlightTracker
from soar.tracker import ops as flight_ops


def takeoffs() -> list[dict]:
    tracker, flights, seen = FlightTracker(), {}, set()
    fixes: dict[int, list[Fix]] = {}
    for line in samples.path("oneminute.txt").read_text().splitlines():
        received, _, raw = line.partition(": ")
        try:
            at = datetime.fromisoformat(received).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        fix = ogn.parse(raw, at)
        if not isinstance(fix, Fix) or (fix.aircraft_id, fix.time) in seen:
            continue
        seen.add((fix.aircraft_id, fix.time))
        fixes.setdefault(fix.aircraft_id, []).append(fix)
        for op in tracker.process(fix):
            if isinstance(op, CreateFlight):
                flights[op.flight_id] = dict(op.row, kind=op.kind, name=raw.split(">")[0],
                                             aircraft_type=fix.aircraft_type)
            else:
                flights[op.flight_id].update(op.values)
    out = []
    for f in flights.values():
        if f["kind"] != flight_ops.START_TAKEOFF:
            continue
        t0 = f["takeoff_time"]
        mine = sorted((x for x in fixes[f["aircraft_id"]] if x.time >= t0), key=lambda x: x.time)
        up = [(x.altitude_m - mine[0].altitude_m, (x.time - t0).total_seconds()) for x in mine[1:]]
        out.append({"name": f["name"], "aircraft_type": f["aircraft_type"],
                    "takeoff": t0.strftime("%H:%M:%S"),
                    "position": (round(f["takeoff_latitude"], 3), round(f["takeoff_longitude"], 3)),
                    "launch_method": f.get("launch_method"),
                    "max_climb_ms": max((x.climb_rate_ms or 0.0 for x in mine), default=None),
                    "gain_m": round(max((g for g, _ in up), default=0.0)),
                    "seconds_seen": round(up[-1][1]) if up else 0})
    return out


def main() -> None:
    rows = takeoffs()
    for r in sorted(rows, key=lambda r: (str(r["launch_method"]), r["takeoff"])):
        print(r)
    print(dict(Counter(str(r["launch_method"]) for r in rows)))


if __name__ == "__main__":
    main()
