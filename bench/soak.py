"""Soak benchmark: is the ingest's memory flat over a long feed of ever new aircraft?

Replays the OGN one-minute capture many times through the real pipeline (parse
process, router, flight tracker, writer) into a throw-away embedded cluster (as
bench/ingest.py sets one up). Each loop is `--spacing-min` minutes of data time
later (receive times and the packets' hhmmss moved on) and every aircraft address in
it is replaced by a fresh pseudo-random one (a bijection of the real address per
loop), so ~3,300 new aircraft appear per loop: 61 loops, ~200,000 distinct
addresses over ~8 hours of data time. Receivers stay the real ~1,000.

Every `--sample-every` messages it samples the RSS of this process and of the parse
process, and the sizes of the caches that could grow: Router.aircraft,
Writer.receiver_ids, the de-duplication window, the tracker's aircraft. Memory is
flat after warm-up when the caches stop growing: the tracker keeps an aircraft up to
its timeout (1 h) plus the resume window (3 h) of data time, the aircraft cache
`aircraft_cache_max_age_s` (1 h).

    .venv/bin/python bench/soak.py [--loops 61] [--spacing-min 8] [--sample-every 250000]

Prints one JSON object: the samples and a summary (before and after warm-up).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bench.capture import later  # noqa: E402
from soar import ingest  # noqa: E402
from soar.db import embedded, migrate  # noqa: E402
from soar.feeds import recordings  # noqa: E402
from soar.ingest.pipeline import PipelineConfig  # noqa: E402
from soar.ingest.stats import IngestStats  # noqa: E402
from soar.reference import airports, samples  # noqa: E402

_ID = re.compile(r" id([0-9A-Fa-f]{2}|[0-9A-Fa-f]{4})([0-9A-Fa-f]{6})(?= |$)")
_SRC = re.compile(r"^([A-Z]{3})([0-9A-F]{6})>")
_MIX = 0x9E3779 | 1        # odd: multiplying by it is a bijection of 24-bit numbers


def renamed(messages, loop: int, minutes: int, mask: int):
    """The capture `minutes` later (bench.capture.later), every address replaced by a
    fresh one."""
    for m in later(messages, minutes):
        line = m.payload
        idm = _ID.search(line)
        if idm is not None:
            old = int(idm.group(2), 16)
            new = f"{((old ^ mask) * _MIX) & 0xFFFFFF:06X}"
            line = f"{line[:idm.start(2)]}{new}{line[idm.end(2):]}"
            src = _SRC.match(line)
            if src is not None and int(src.group(2), 16) == old:
                line = f"{src.group(1)}{new}{line[src.end(2):]}"
        yield m._replace(payload=line)


def rss_mb(pid: int | str = "self") -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def sample(pipeline, stats: IngestStats, messages: int, t0: float, data_start, newest) -> dict:
    pool = pipeline._pool
    seen = list(pipeline.router._seen.values())     # one C-level copy: the router mutates it
    return {
        "messages": messages,
        "data_hours": round((newest - data_start).total_seconds() / 3600, 2),
        "wall_s": round(time.monotonic() - t0, 1),
        "rss_mb": rss_mb(),
        "parse_rss_mb": [rss_mb(pid) for pid in pool.pids()] if pool else [],
        "aircraft_cache": len(pipeline.router.aircraft),
        "receiver_ids": len(pipeline.writer.receiver_ids),
        "dedup_keys": sum(map(len, seen)),
        "dedup_seconds": len(seen),
        "tracker_aircraft": len(pipeline.router.tracker.aircraft),
        "fixes_written": stats.fixes_written,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loops", type=int, default=61)
    ap.add_argument("--spacing-min", type=int, default=8)
    ap.add_argument("--sample-every", type=int, default=250_000)
    ap.add_argument("--warmup-hours", type=float, default=4.5,
                    help="data time after which memory should be flat (tracker: 1 h + 3 h)")
    args = ap.parse_args()
    oneminute = samples.path("oneminute.txt")
    capture = list(recordings.aprs_messages(oneminute))
    data_start = capture[0].received_at
    rng = random.Random(9)

    home = Path(tempfile.mkdtemp(prefix="soar-soak-"))
    os.chmod(home, 0o755)
    cluster = embedded.Cluster(home=home, port=free_port())
    samples_out: list[dict] = []
    try:
        cluster.start()
        migrate.upgrade(cluster.url())
        with psycopg.connect(cluster.url()) as conn:
            airports.import_airports(conn, *airports.default_sources())
        stats = IngestStats()
        pipeline = ingest.build(cluster.url(user="soar_ingest"), stats, PipelineConfig())
        pipeline.start()
        t0 = time.monotonic()
        fed = next_sample = 0
        newest = data_start
        messages = (m for k in range(args.loops)
                    for m in renamed(capture, k, k * args.spacing_min, rng.getrandbits(24)))
        for chunk in recordings.chunked(messages, None):
            pipeline.submit(chunk)
            fed += len(chunk)
            newest = chunk[-1].received_at
            if fed >= next_sample:
                samples_out.append(sample(pipeline, stats, fed, t0, data_start, newest))
                print(json.dumps(samples_out[-1]), file=sys.stderr)
                next_sample += args.sample_every
        samples_out.append(sample(pipeline, stats, fed, t0, data_start, newest))
        pipeline.close()
        assert pipeline.failed is None, pipeline.failed
        with psycopg.connect(cluster.url()) as conn:
            distinct, fixes = conn.execute(
                "SELECT count(DISTINCT aircraft_id), count(*) FROM fixes").fetchone()
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)

    warm = [s for s in samples_out if s["data_hours"] >= args.warmup_hours]

    def span(key: str, rows: list[dict]) -> list | None:
        values = [r[key] for r in rows if r[key] is not None]
        return [min(values), max(values)] if values else None

    keys = ("rss_mb", "aircraft_cache", "receiver_ids", "dedup_keys", "tracker_aircraft")
    print(json.dumps({
        "messages": fed, "fixes_stored": fixes, "distinct_aircraft": distinct,
        "data_hours": samples_out[-1]["data_hours"], "wall_s": samples_out[-1]["wall_s"],
        "rejected": stats.rejected_by_reason(),
        "whole_run_min_max": {k: span(k, samples_out) for k in keys},
        "after_warmup_min_max": {k: span(k, warm) for k in keys},
        "after_warmup_samples": len(warm),
        "rss_growth_after_warmup_mb": (round(warm[-1]["rss_mb"] - warm[0]["rss_mb"], 1)
                                       if len(warm) >= 2 else None),
        "samples": samples_out,
    }))


if __name__ == "__main__":
    main()
