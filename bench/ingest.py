"""End-to-end ingest benchmark: recordings -> pipeline -> PostgreSQL, printing JSON.

Starts a throw-away embedded cluster (default durability settings), migrates it,
then replays the OGN one-minute capture N times (each loop shifted by one day so
that nothing is a duplicate of the previous loop) and the AFR34ZG Mode-S flight M
times, each through the same pipeline as `soar replay --speed max`.

    .venv/bin/python bench/ingest.py [--aprs-loops N] [--modes-loops M]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from soar import embedded, ingest, migrate, samples, sources  # noqa: E402
from soar.pipeline import PipelineConfig  # noqa: E402
from soar.stats import IngestStats  # noqa: E402


def shifted(messages, days: int):
    delta = timedelta(days=days)
    for m in messages:
        yield (m[0], m[1] + delta, *m[2:])


def run(url: str, messages, kind: str) -> dict:
    stats = IngestStats()
    pipeline = ingest.build(url, stats, PipelineConfig())
    pipeline.start()
    t0 = time.perf_counter()
    for chunk in sources.chunked(messages, None):
        pipeline.submit(chunk)
    pipeline.close()
    elapsed = time.perf_counter() - t0
    s = stats.summary()
    return {"kind": kind, "messages": s["messages_total"], "fixes": s["fixes_written"],
            "seconds": elapsed, "rejected": s["rejected"], "flights": s["flights"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aprs-loops", type=int, default=5)
    ap.add_argument("--modes-loops", type=int, default=3)
    args = ap.parse_args()
    oneminute = samples.path("oneminute.txt")
    flight = samples.path("full_flight_short.jsonl")

    home = Path(tempfile.mkdtemp(prefix="soar-bench-"))
    os.chmod(home, 0o755)
    cluster = embedded.Cluster(home=home, port=54399)
    try:
        cluster.start()
        migrate.upgrade(cluster.url())
        url = cluster.url(user="soar_ingest")
        aprs = run(url, (m for k in range(args.aprs_loops)
                         for m in shifted(sources.aprs_messages(oneminute), k)), "aprs")
        modes = run(url, (m for k in range(args.modes_loops)
                          for m in shifted(sources.modes_messages(flight, "bench"), k)), "modes")
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    result = {
        "aprs_msgs_per_s": round(aprs["messages"] / aprs["seconds"]),
        "modes_msgs_per_s": round(modes["messages"] / modes["seconds"]),
        "fixes_per_s": round((aprs["fixes"] + modes["fixes"]) / (aprs["seconds"] + modes["seconds"])),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "aprs": aprs,
        "modes": modes,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
