"""End-to-end ingest benchmark: recordings -> pipeline -> PostgreSQL, printing JSON.

Starts a throw-away embedded cluster (default durability settings), migrates it,
then replays the OGN one-minute capture N times (each loop one minute later than the
previous one, packet times included, so the same aircraft fly on: a steady state, not
N cold starts), the AFR34ZG Mode-S flight M times (each a day later) and the real
dump1090 SBS stream of tests/data/beast (8,624 lines, one minute) S times (each loop
62 s later, line times included), each through the same pipeline, flight tracker
included, as `soar replay --speed max`.

    .venv/bin/python bench/ingest.py [--aprs-loops N] [--modes-loops M] [--sbs-loops S]
        [--switch-interval-ms X]

The SBS recording is the tests' own copy (tests/data/beast, tests/data/README.md).

The create/complete latencies are timed in the writer thread around each flight
statement, beside the CPU-bound router: waits for the GIL and for a CPU count. The
machine's load average is printed with them (`loadavg_1m`, before and after): on a
2-core machine shared with other work they say more about the load than the code.
`--switch-interval-ms` overrides the interpreter's switch interval that
Pipeline.start sets (1 ms), to measure another value: after every network wait the
writer waits up to that long for the GIL.

Catch-up (issue 22): a live pipeline (a full router queue sends chunks to the disk
buffer) is offered the capture, continued, at `--live-rate` messages/s of wall time;
the database is stopped for `--outage-s` seconds meanwhile, so the backlog goes to
disk, then started again while the live offer goes on. `catch_up_msgs_per_s` is the
rate messages come back from the disk into the router from the first one after the
restart (`reconnect_s` later: the writer's retry backoff) until the buffer is empty
(the router's pace with a backlog, live data included), `live_msgs_per_s` the offered
rate beside it; `catch_up_s` how long the backlog (`backlog_messages`) took in all. `--outage-s 0`
skips the phase.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bench.capture import later  # noqa: E402
from bench.floor import Floor  # noqa: E402
from bench.floor import summarise as floor_summary  # noqa: E402
from soar import ingest  # noqa: E402
from soar.db import embedded, migrate  # noqa: E402
from soar.feeds import recordings  # noqa: E402
from soar.ingest.pipeline import PipelineConfig  # noqa: E402
from soar.ingest.stats import IngestStats  # noqa: E402
from soar.reference import airports, samples  # noqa: E402


def shifted(messages, days: int):
    delta = timedelta(days=days)
    for m in messages:
        yield m._replace(received_at=m.received_at + delta)


def sbs_loops(path: Path, loops: int):
    """The SBS recording `loops` times, each 62 s later than the previous (it spans 61
    s), generated and logged times rewritten: the same aircraft fly on."""
    messages = list(recordings.sbs_messages(path, "bench"))
    fmt = "%Y/%m/%d %H:%M:%S.%f"
    for k in range(loops):
        delta = timedelta(seconds=62 * k)
        for m in messages:
            f = m.payload.split(",")
            if len(f) == 22:
                for d, t in ((6, 7), (8, 9)):
                    moved = datetime.strptime(f"{f[d]} {f[t]}", fmt) + delta
                    f[d], f[t] = moved.strftime("%Y/%m/%d"), moved.strftime("%H:%M:%S.%f")[:12]
            yield m._replace(received_at=m.received_at + delta, payload=",".join(f))


TEST_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def run(url: str, floor_url: str, messages, kind: str,
        switch_interval_ms: float | None = None) -> dict:
    # Prepared before the clock starts: rewriting times is the benchmark's own work.
    chunks = list(recordings.chunked(messages, None))
    stats = IngestStats()
    pipeline = ingest.build(url, stats, PipelineConfig())
    pipeline.start()
    if switch_interval_ms is not None:
        sys.setswitchinterval(switch_interval_ms / 1000.0)
    with Floor(floor_url) as floor:
        t0 = time.perf_counter()
        for chunk in chunks:
            pipeline.submit(chunk)
        pipeline.close()
        elapsed = time.perf_counter() - t0
    s = stats.summary()
    return {"kind": kind, "messages": s["messages_total"], "fixes": s["fixes_written"],
            "seconds": round(elapsed, 3), "rejected": s["rejected"], "flights": s["flights"],
            **{f"{name}_{q}_ms": _percentile(stats.latency[name].recent, q)
               for name in LATENCIES for q in ("p50", "p99", "max")},
            "round_trip_floor": floor.result,
            "latency_samples": {name: list(stats.latency[name].recent) for name in LATENCIES},
            "floor_samples": floor.samples_ms}


def catch_up(cluster: embedded.Cluster, url: str, home: Path, rate: float,
             outage_s: float) -> dict:
    """The catch-up phase (module docstring): offered live at `rate`, the database
    stopped `outage_s` seconds, then the drain of the disk buffer timed."""
    oneminute = samples.path("oneminute.txt")
    # Later than the other phases' loops: new data for the same database.
    messages = (m for k in itertools.count(60) for m in later(
        recordings.aprs_messages(oneminute), k))
    stats = IngestStats()
    pipeline = ingest.build(url, stats, PipelineConfig(
        drop_after_s=0.0, overflow_dir=home / "overflow", spool_dir=home / "spool"))
    pipeline.start()
    size = 500
    every_s = size / rate
    t0 = next_due = time.monotonic()

    def offer_until(done) -> None:
        nonlocal next_due
        while not done():
            pipeline.submit(list(itertools.islice(messages, size)), "bench")
            next_due += every_s
            time.sleep(max(0.0, next_due - time.monotonic()))

    try:
        cluster.stop()
        try:
            offer_until(lambda: time.monotonic() - t0 >= outage_s)
        finally:
            cluster.start()
        restarted = time.monotonic()
        out0, backlog = stats.overflow_out, stats.disk_buffer.messages
        first = []          # (time, out) when chunks start coming back: the writer reconnected

        def drained() -> bool:
            if not first and stats.overflow_out > out0:
                first.append((time.monotonic(), stats.overflow_out))
            # Until the backlog is routed (or a ceiling: live faster than the router goes).
            return (stats.disk_buffer.messages == 0
                    or time.monotonic() - restarted > 30 * outage_s + 600)

        offer_until(drained)
        done = time.monotonic()
        out1 = stats.overflow_out
    finally:
        pipeline.close()
    o = stats.overflow()
    t1, o1 = first[0] if first else (done, out1)
    print(f"catch-up: {backlog} messages on disk at the restart, drained in "
          f"{done - restarted:.1f} s ({t1 - restarted:.1f} s until the writer was back)",
          file=sys.stderr)
    return {"catch_up_msgs_per_s": round((out1 - o1) / max(done - t1, 1e-9)),
            "live_msgs_per_s": round(rate), "outage_s": outage_s,
            "backlog_messages": backlog, "catch_up_s": round(done - restarted, 1),
            # The writer's retry backoff (up to 30 s) after the database is back.
            "reconnect_s": round(t1 - restarted, 1),
            "drained": o["messages"] == 0, "dropped_queue_full": stats.dropped_queue_full,
            "overflow": o, "balanced": stats.accounting()["balanced"]}


LATENCIES = ("create_flight", "complete_flight")
SAMPLES = ("latency_samples", "floor_samples")     # raw lists, summarised, not printed


def _percentile(samples, q: str) -> float | None:
    if not samples:
        return None
    ms = sorted(samples)
    rank = {"p50": 0.5, "p99": 0.99, "max": 1.0}[q]
    return round(ms[min(len(ms) - 1, int(rank * len(ms)))], 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aprs-loops", type=int, default=5)
    ap.add_argument("--modes-loops", type=int, default=3)
    ap.add_argument("--sbs-loops", type=int, default=20)
    ap.add_argument("--switch-interval-ms", type=float, default=None)
    ap.add_argument("--live-rate", type=float, default=5000.0,
                    help="catch-up phase: messages/s offered live")
    ap.add_argument("--outage-s", type=float, default=60.0,
                    help="catch-up phase: seconds the database is stopped (0: no phase)")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    oneminute = samples.path("oneminute.txt")
    flight = samples.path("full_flight_short.jsonl")
    sbs_path = TEST_DATA / "beast" / "ulss7-2018-04-03.reference-sbs.txt"

    home = Path(tempfile.mkdtemp(prefix="soar-bench-"))
    os.chmod(home, 0o755)
    # A free port: other benchmarks (and other checkouts' runs) may be running.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = embedded.Cluster(home=home, port=port, settings={
        "log_min_duration_statement": os.environ.get("BENCH_LOG_MIN_DURATION", "-1")})
    try:
        cluster.start()
        migrate.upgrade(cluster.url())
        # Airports as in production: terrain for the tracker, surface Mode-S positions.
        with psycopg.connect(cluster.url()) as conn:
            airports.import_airports(conn, *airports.default_sources())
        url = cluster.url(user="soar_ingest")
        aprs = run(url, cluster.url(), (m for k in range(args.aprs_loops)
                         for m in later(recordings.aprs_messages(oneminute), k)), "aprs",
                   args.switch_interval_ms)
        modes = run(url, cluster.url(), (m for k in range(args.modes_loops)
                          for m in shifted(recordings.modes_messages(flight, "bench"), k)), "modes",
                    args.switch_interval_ms)
        sbs = run(url, cluster.url(), sbs_loops(sbs_path, args.sbs_loops), "sbs",
                  args.switch_interval_ms)
        caught = catch_up(cluster, url, home, args.live_rate, args.outage_s) \
            if args.outage_s > 0 else None
    finally:
        cluster.stop()
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)
    result = {
        "aprs_msgs_per_s": round(aprs["messages"] / aprs["seconds"]),
        "modes_msgs_per_s": round(modes["messages"] / modes["seconds"]),
        # SBS lines end to end (parse, merge, validate, de-duplicate, track, COPY); None
        # when the recording was not found.
        "sbs_msgs_per_s": round(sbs["messages"] / sbs["seconds"]) if sbs else None,
        "fixes_per_s": round((aprs["fixes"] + modes["fixes"]) / (aprs["seconds"] + modes["seconds"])),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # Over both runs' statements together: the APRS run ends ~35 flights and the
        # Mode-S run creates ~3, so a p99 of either alone is its maximum.
        **{f"{name}_{q}_ms": _percentile(aprs["latency_samples"][name]
                                         + modes["latency_samples"][name], q)
           for name in LATENCIES for q in ("p50", "p99", "max")},
        "latency_samples": {name: len(aprs["latency_samples"][name])
                            + len(modes["latency_samples"][name]) for name in LATENCIES},
        # A one-row INSERT from another process during the same two runs: the
        # machine's own p99 for a round trip under this load (bench/floor.py).
        "round_trip_floor": floor_summary(aprs["floor_samples"] + modes["floor_samples"]),
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "switch_interval_ms": round(sys.getswitchinterval() * 1000.0, 3),
        "aprs": {k: v for k, v in aprs.items() if k not in SAMPLES},
        "modes": {k: v for k, v in modes.items() if k not in SAMPLES},
        "sbs": {k: v for k, v in sbs.items() if k not in SAMPLES},
        # Draining the disk buffer after a database outage, the live rate beside it.
        "catch_up_msgs_per_s": caught and caught["catch_up_msgs_per_s"],
        "live_msgs_per_s": caught and caught["live_msgs_per_s"],
        "catch_up": caught,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
