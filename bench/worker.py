"""Enrichment worker benchmark: drain a queue of takeoff/landing messages, printing JSON.

Starts a throw-away embedded cluster, migrates it, imports OurAirports and GeoNames
places, writes N flights (a CDG 26R takeoff with fixes, landing at one of five
airports with fixes; one aircraft each), then drains the 2 N messages with `soar
worker --drain`'s loop, offline geocoding, 1 and 2 threads; and once more with a
Pelias URL nobody answers (every place from the fallback, the circuit open).

    .venv/bin/python bench/worker.py [--flights N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from soar.db import embedded, migrate  # noqa: E402
from soar.records import aircraft_id  # noqa: E402
from soar.reference import airports, places  # noqa: E402
from worker.config import WorkerConfig  # noqa: E402
from worker.loop import run_workers  # noqa: E402

T0 = datetime(2024, 7, 6, 12, 0, tzinfo=timezone.utc)
ARRIVALS = ("LFBO", "LFHA", "DE-0066", "EDDM", "LFLC")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_flights(url: str, n: int, base: int) -> None:
    with psycopg.connect(url) as c:
        ends = {a: c.execute("SELECT latitude_deg, longitude_deg FROM airports WHERE ident = %s",
                             (a,)).fetchone() for a in ARRIVALS}
        for i in range(n):
            t0 = T0 + timedelta(days=base + i // 100, minutes=i % 100)
            address = 0x100000 + base * 10_000 + i
            aid = aircraft_id(1, address)
            c.execute("INSERT INTO aircraft (id, address, address_type, aircraft_type) "
                      "VALUES (%s, %s, 1, 9)", (aid, address))
            lat, lon = ends[ARRIVALS[i % len(ARRIVALS)]]
            tl = t0 + timedelta(hours=1)
            with c.cursor().copy("COPY fixes (time, received_at, aircraft_id, source, latitude, "
                                 "longitude, altitude_m, ground_speed_kmh, track_deg) "
                                 "FROM STDIN") as cp:
                for k in range(40):
                    t = t0 + timedelta(seconds=k)
                    cp.write_row((t, t, aid, 2, 48.9988 - k * 0.00005, 2.6102 - k * 0.00095,
                                  120.0, 100.0 + 8 * k, 265.0))
                for k in range(-5, 25):
                    t = tl + timedelta(seconds=k)
                    cp.write_row((t, t, aid, 2, lat, lon, 150.0, 60.0, 140.0))
            fid = uuid.uuid4()
            to = t0 + timedelta(seconds=15)
            c.execute("INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time, "
                      "takeoff_latitude, takeoff_longitude) VALUES (%s, %s, 2, %s, %s, %s, %s)",
                      (fid, aid, t0, to, 48.9988 - 15 * 0.00005, 2.6102 - 15 * 0.00095))
            c.execute("UPDATE flights SET landing_time = %s, landing_latitude = %s, "
                      "landing_longitude = %s, last_fix_at = %s, last_latitude = %s, "
                      "last_longitude = %s WHERE id = %s",
                      (tl, lat, lon, tl + timedelta(seconds=24), lat, lon, fid))


def drain(url: str, cfg: WorkerConfig, threads: int, messages: int, kind: str) -> dict:
    t0 = time.perf_counter()
    stats = run_workers(url, cfg, threads=threads, drain=True)
    elapsed = time.perf_counter() - t0
    return {"kind": kind, "threads": threads, "messages": messages, "processed": stats.processed,
            "seconds": round(elapsed, 3), "msgs_per_s": round(messages / elapsed, 1),
            "summary": stats.summary()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flights", type=int, default=300)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="soar-bench-worker-"))
    os.chmod(home, 0o755)
    cluster = embedded.Cluster(home=home, port=free_port())
    runs = []
    try:
        cluster.start()
        migrate.upgrade(cluster.url())
        with psycopg.connect(cluster.url()) as conn:
            airports.import_airports(conn, *airports.default_sources())
            places.import_places(conn, places.default_source())
        worker_url = cluster.url(user="soar_worker")
        offline = WorkerConfig(listen=False, poll_interval_s=0.05, pelias_url=None)
        down = WorkerConfig(listen=False, poll_interval_s=0.05,
                            pelias_url=f"http://127.0.0.1:{free_port()}",
                            pelias_retries=0, breaker_reset_s=3600)
        n = args.flights
        for base, (cfg, threads, kind) in enumerate([(offline, 1, "offline"),
                                                     (offline, 2, "offline"),
                                                     (down, 1, "pelias_down_fallback")]):
            add_flights(cluster.url(), n, base * 10)
            runs.append(drain(worker_url, cfg, threads, 2 * n, kind))
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
