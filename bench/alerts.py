"""Overdue-alert benchmark: what evaluating a timed-out flight and one sweep cost among
millions of fixes, printing JSON.

Starts a throw-away embedded cluster and one database (migrated, OurAirports and
GeoNames places: bench/worker.py's scratch_database), stores `--aircraft` x `--fixes`
background fixes over the last two days (generate_series, one receiver), and
`--alerts` gliders lost low and descending near Königsdorf an hour ago (60 fixes each,
2 s apart, sinking 1.5 m/s), their flights timed out as the tracker writes them. Then,
as the soar_worker role:

- evaluate: worker.overdue.Alerts.evaluate on each timed-out flight, one transaction
  each (the work the `timeout` enrichment adds): p50 / p99 / max ms, alerts raised;
- sweep with every alert active and none heard again (the periodic cost): p50 / max ms
  over 20 sweeps;
- sweep clearing half of them (a fix after the last one stored for every other glider).

    .venv/bin/python bench/alerts.py [--aircraft 1500] [--fixes 2000] [--alerts 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.worker import _percentile, free_port, role_url, scratch_database  # noqa: E402
from soar.db import embedded  # noqa: E402
from worker.config import WorkerConfig  # noqa: E402
from worker.overdue import Alerts  # noqa: E402

LOST_BASE = 0x100000          # the lost gliders' FLARM addresses start here


def fill(url: str, aircraft: int, fixes: int, lost: int) -> list:
    """Background traffic and the lost gliders; the timed-out flights' ids."""
    with psycopg.connect(url, autocommit=True) as c:
        rid = c.execute("INSERT INTO receivers (name) VALUES ('Bench') RETURNING id").fetchone()[0]
        c.execute("INSERT INTO aircraft (id, address, address_type, aircraft_type) "
                  "SELECT (2::bigint << 24) | a, a, 2, 1 FROM generate_series(1, %s) a",
                  (aircraft,))
        c.execute("""
            INSERT INTO fixes (time, received_at, aircraft_id, receiver_id, source, latitude,
                               longitude, altitude_m, ground_speed_kmh, track_deg)
            SELECT t, t, (2::bigint << 24) | a, %(rid)s, 1, 46 + a * 0.001, 10 + i * 0.0001,
                   1000, 100, 90
              FROM generate_series(1, %(n)s) a, generate_series(1, %(m)s) i,
                   LATERAL (SELECT now() - interval '2 days'
                                   + i * (interval '2 days' / %(m)s) AS t) x""",
                  {"rid": rid, "n": aircraft, "m": fixes})
        c.execute("INSERT INTO aircraft (id, address, address_type, aircraft_type) "
                  "SELECT (2::bigint << 24) | a, a, 2, 1 "
                  "FROM generate_series(%s, %s) a", (LOST_BASE, LOST_BASE + lost - 1))
        c.execute("""
            INSERT INTO fixes (time, received_at, aircraft_id, receiver_id, source, latitude,
                               longitude, altitude_m, ground_speed_kmh, track_deg, climb_rate_ms)
            SELECT t, t, (2::bigint << 24) | a, %(rid)s, 1, 47.80 + (a - %(base)s) * 0.0005,
                   11.47 - i * 0.0005, 700 + 3 * i, 95, 270, -1.5
              FROM generate_series(%(base)s, %(last)s) a, generate_series(0, 59) i,
                   LATERAL (SELECT date_trunc('second', now()) - interval '61 minutes'
                                   - i * interval '2 s' AS t) x""",
                  {"rid": rid, "base": LOST_BASE, "last": LOST_BASE + lost - 1})
        rows = c.execute("""
            INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time,
                                 takeoff_latitude, takeoff_longitude, takeoff_altitude_m)
            SELECT gen_random_uuid(), (2::bigint << 24) | a, 1,
                   date_trunc('second', now()) - interval '90 minutes',
                   date_trunc('second', now()) - interval '90 minutes', 47.8287, 11.465, 601
              FROM generate_series(%s, %s) a
            RETURNING id""", (LOST_BASE, LOST_BASE + lost - 1)).fetchall()
        c.execute("""
            UPDATE flights SET last_fix_at = date_trunc('second', now()) - interval '61 minutes',
                   last_latitude = 47.8, last_longitude = 11.47, end_reason = 'timeout',
                   timed_out_at = date_trunc('second', now()) - interval '1 minute'
             WHERE aircraft_id >= (2::bigint << 24) | %s""", (LOST_BASE,))
        c.execute("ANALYZE fixes")
        c.execute("ANALYZE flights")
    return [r[0] for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aircraft", type=int, default=1500)
    ap.add_argument("--fixes", type=int, default=2000, help="background fixes per aircraft")
    ap.add_argument("--alerts", type=int, default=200)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="soar-bench-alerts-"))
    os.chmod(home, 0o755)
    cluster = embedded.Cluster(home=home, port=free_port())
    result: dict = {}
    try:
        cluster.start()
        with scratch_database(cluster.url()) as url:
            started = time.perf_counter()
            flights = fill(url, args.aircraft, args.fixes, args.alerts)
            fill_s = time.perf_counter() - started
            cfg = WorkerConfig()
            alerts = Alerts(cfg)
            with psycopg.connect(role_url(url, "soar_worker"), autocommit=True) as w:
                total = w.execute("SELECT count(*) FROM fixes").fetchone()[0]
                evaluate_ms, raised = [], 0
                for fid in flights:
                    t0 = time.perf_counter()
                    with w.transaction():
                        check = alerts.evaluate(w, fid, cfg.queue)
                    evaluate_ms.append((time.perf_counter() - t0) * 1000)
                    raised += check.alert_id is not None
                sweep_ms = []
                for _ in range(20):
                    t0 = time.perf_counter()
                    cleared = alerts.sweep(w, cfg.queue)
                    sweep_ms.append((time.perf_counter() - t0) * 1000)
                    assert not cleared
                with psycopg.connect(url, autocommit=True) as admin:
                    admin.execute("""
                        INSERT INTO fixes (time, received_at, aircraft_id, source, latitude,
                                           longitude, altitude_m)
                        SELECT now() - interval '5 minutes', now(), (2::bigint << 24) | a, 1,
                               47.8, 11.4, 600
                          FROM generate_series(%s, %s, 2) a""",
                                  (LOST_BASE, LOST_BASE + args.alerts - 1))
                t0 = time.perf_counter()
                cleared = alerts.sweep(w, cfg.queue)
                clearing_ms = (time.perf_counter() - t0) * 1000
            result = {
                "fixes": total, "timed_out_flights": len(flights), "alerts_raised": raised,
                "fill_s": round(fill_s, 1),
                "evaluate_ms_p50": round(_percentile(evaluate_ms, 0.5), 2),
                "evaluate_ms_p99": round(_percentile(evaluate_ms, 0.99), 2),
                "evaluate_ms_max": round(max(evaluate_ms), 2),
                "sweep_ms_p50": round(_percentile(sweep_ms, 0.5), 2),
                "sweep_ms_max": round(max(sweep_ms), 2),
                "sweep_active_alerts": raised,
                "clearing_sweep_ms": round(clearing_ms, 2),
                "cleared": len(cleared),
            }
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
