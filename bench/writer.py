"""The writer alone: the cost of one batch transaction, printing JSON.

Starts a throw-away embedded cluster, then writes the one-minute OGN capture (parsed,
validated, one fix per aircraft and second, flight ops from the tracker) in batches of
5,000 fixes with `Writer.write`, `--loops` times (each loop a day later), and reports
the median and p90 milliseconds per batch (the first loop's batches carry many
flight creates, one statement each). With `--poison`, every batch also carries
one fix the database refuses (a NULL latitude), so each batch takes the careful path
(savepoints, bisected COPY, one quarantine row): its cost, next to the clean path's.

With `--no-flights` the batches carry fixes, aircraft and receivers only: the fixed
cost of a batch transaction and its COPY, without the flight statements.

    .venv/bin/python bench/writer.py [--loops N] [--poison] [--no-flights]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from soar.db import embedded, migrate  # noqa: E402
from soar.feeds import ogn  # noqa: E402
from soar.ingest import validate  # noqa: E402
from soar.ingest.batch import AircraftRow, Batch  # noqa: E402
from soar.ingest.stats import IngestStats  # noqa: E402
from soar.ingest.writer import Writer  # noqa: E402
from soar.records import Fix, ReceiverBeacon  # noqa: E402
from soar.reference import samples  # noqa: E402
from soar.tracker import FlightTracker, store  # noqa: E402

BATCH = 5000


def batches(loops: int, poison: bool, flights: bool = True) -> list[Batch]:
    lines = samples.path("oneminute.txt").read_text().splitlines()
    out: list[Batch] = []
    tracker = FlightTracker()
    for day in range(loops):
        shift = timedelta(days=day)
        seen, batch = set(), Batch()
        for line in lines:
            parsed = ogn.parse_capture_line(line)
            if parsed is None:
                continue
            r = ogn.parse(parsed[1], parsed[0] + shift)
            if isinstance(r, ReceiverBeacon):
                batch.add_receiver(r)
                continue
            if not isinstance(r, Fix) or validate.check(r) is not None:
                continue
            r.time += shift
            key = (r.aircraft_id, int(r.time.timestamp()))
            if key in seen:
                continue
            seen.add(key)
            batch.flight_ops += tracker.process(r)
            batch.fixes.append(r)
            batch.aircraft[r.aircraft_id] = AircraftRow(
                r.aircraft_id, r.address, r.address_type, r.aircraft_type, None,
                r.registration, r.callsign, r.model, r.time)
            if len(batch.fixes) >= BATCH:
                out.append(batch)
                batch = Batch()
        # The day's flights end (time out) before the next day, as the pipeline's
        # expiry sweep ends them.
        batch.flight_ops += tracker.expire(r.time + timedelta(hours=12))
        out.append(batch)
    for b in out:
        if not flights:
            b.flight_ops.clear()
        if poison:
            b.fixes.insert(len(b.fixes) // 3, dataclasses.replace(b.fixes[0], latitude=None))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loops", type=int, default=3)
    ap.add_argument("--poison", action="store_true")
    ap.add_argument("--no-flights", action="store_true")
    args = ap.parse_args()
    work = batches(args.loops, args.poison, not args.no_flights)
    home = Path(tempfile.mkdtemp(prefix="soar-bench-writer-"))
    os.chmod(home, 0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = embedded.Cluster(home=home, port=port)
    try:
        cluster.start()
        migrate.upgrade(cluster.url())
        stats = IngestStats()
        latency: dict[str, list[float]] = {"create_flight": [], "complete_flight": []}

        def observe(op, ms: float) -> None:
            metric = store.latency_metric(op)
            if metric is not None:
                latency[metric.split(".")[1]].append(ms)

        writer = Writer(cluster.url(user="soar_ingest"), stats, write_flight_op=store.write_op,
                        on_flight_latency=observe)
        times = []
        for b in work:
            t0 = time.perf_counter()
            writer.write(b)
            times.append((time.perf_counter() - t0) * 1000.0)
        writer.close()
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    times.sort()
    print(json.dumps({
        "batches": len(work), "fixes_per_batch": BATCH, "poison": args.poison,
        "fixes_written": stats.fixes_written,
        "batch_ms_median": round(statistics.median(times), 1),
        "batch_ms_p90": round(times[int(0.9 * (len(times) - 1))], 1),
        "batch_ms_min": round(times[0], 1),
        "flight_ops": sum(len(b.flight_ops) for b in work),
        "flight_ops_skipped": sum(getattr(stats, "flight_ops_skipped", {}).values()),
        "flights_superseded": getattr(stats, "flights_superseded", None),
        **{f"{name}_{q}_ms": _percentile(ms, q) for name, ms in latency.items()
           for q in ("p50", "p99", "max")},
    }))


def _percentile(values: list[float], q: str) -> float | None:
    if not values:
        return None
    values = sorted(values)
    rank = {"p50": 0.5, "p99": 0.99, "max": 1.0}[q]
    return round(values[min(len(values) - 1, int(rank * len(values)))], 3)


if __name__ == "__main__":
    main()
