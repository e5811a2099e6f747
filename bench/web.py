"""`soar web` benchmark: p50/p99 of each API route, live (SSE) clients and their update
lag, and the server process's memory, printing JSON.

Starts a throw-away embedded cluster and one database there (migrated, OurAirports
airports and runways), fills it with SQL (`--flights` flights of `--fixes-per-flight`
fixes each over the last 30 days, on real airfields, for `--aircraft` aircraft), runs
`soar web` as its own process (read-only login, no public window so every query
covers all the data), and then:

- routes: `--requests` GETs per route, one after another, each timed from the client;
- live: `--live` aircraft moving (one fix per aircraft per second, stored as the writer
  stores them: one COPY of fixes and one UPDATE of their flights per second, in one
  transaction) while `--clients` SSE clients listen on boxes around them for
  `--duration-s`; the lag is each update's arrival minus its fix's time (the fix time is
  the wall clock when it was written, so lag = commit to client);
- memory: the server's VmRSS before and after, and VmHWM (its peak).

The issue's target (issue 24): 1,000,000 flights, 20,000,000 fixes, 1,450 moving aircraft,
500 clients. A smoke run:

    .venv/bin/python bench/web.py --flights 2000 --live 50 --clients 10 --duration-s 5 --requests 20

Figures measured on a shared development machine are not final.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402

from bench import process  # noqa: E402
from soar.db import embedded, migrate  # noqa: E402
from soar.reference import airports  # noqa: E402

BOX_HALF_DEG = 1.0          # each client's box: 2 x 2 degrees around one live aircraft
LIVE_CENTRE = (47.83, 11.46)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


def fill(url: str, flights: int, fixes_per_flight: int, aircraft: int, live: int) -> dict:
    """The data set, generated in SQL as the owner. Flights end at a landing except the
    `live` active ones, whose aircraft are near LIVE_CENTRE."""
    t0 = time.monotonic()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("""INSERT INTO aircraft (id, address, address_type, aircraft_type, registration)
                     SELECT (2::bigint << 24) | n, n, 2, 1 + n %% 9, 'D-' || n
                       FROM generate_series(1, %s) n""", (aircraft + live,))
        c.execute("""CREATE TEMP TABLE fields AS
                     SELECT row_number() OVER () AS k, id, latitude_deg, longitude_deg
                       FROM airports
                      WHERE type IN ('small_airport', 'medium_airport')
                        AND iso_country IN ('DE', 'FR')""")
        [nfields] = c.execute("SELECT count(*) FROM fields").fetchone()
        c.execute("""INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time,
                         takeoff_latitude, takeoff_longitude, landing_time, last_fix_at,
                         last_latitude, last_longitude, departure_airport_id, arrival_airport_id,
                         end_reason)
                     SELECT gen_random_uuid(), (2::bigint << 24) | (1 + n %% %(aircraft)s), 1, t, t,
                            f.latitude_deg, f.longitude_deg, t + d, t + d, f.latitude_deg,
                            f.longitude_deg, f.id, f.id, 'landing'
                       FROM generate_series(1, %(flights)s) n
                       CROSS JOIN LATERAL (SELECT now() - interval '30 days' * random() AS t,
                                                  interval '1 second' * %(per)s * 4 AS d) x
                       JOIN fields f ON f.k = 1 + n %% %(nfields)s""",
                  {"aircraft": aircraft, "flights": flights, "nfields": nfields,
                   "per": fixes_per_flight})
        c.execute("""INSERT INTO fixes (time, received_at, aircraft_id, source, latitude, longitude,
                                        altitude_m, ground_speed_kmh, track_deg, flight_id)
                     SELECT f.takeoff_time + interval '4 seconds' * i,
                            f.takeoff_time + interval '4 seconds' * i,
                            f.aircraft_id, 1, f.takeoff_latitude + i * 0.001, f.takeoff_longitude,
                            500 + i * 10, 100, 0, f.id
                       FROM flights f CROSS JOIN generate_series(0, %s - 1) i""", (fixes_per_flight,))
        c.execute("""INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time,
                         last_fix_at, last_latitude, last_longitude)
                     SELECT gen_random_uuid(), (2::bigint << 24) | (%(aircraft)s + n), 1,
                            now() - interval '10 minutes', now() - interval '10 minutes',
                            now(), %(lat)s + (n %% 40) * 0.05, %(lon)s + (n / 40) * 0.05
                       FROM generate_series(1, %(live)s) n""",
                  {"aircraft": aircraft, "live": live, "lat": LIVE_CENTRE[0], "lon": LIVE_CENTRE[1]})
        c.execute("INSERT INTO receivers (name, latitude, longitude) VALUES ('bench', 47.8, 11.4)")
        c.execute("ANALYZE")
        [nfixes] = c.execute("SELECT count(*) FROM fixes").fetchone()
        [field] = c.execute("SELECT a.ident FROM airports a JOIN fields f ON f.id = a.id "
                            "WHERE f.k = 1").fetchone()
        [[fid, day]] = c.execute("SELECT id, started_at::date FROM flights "
                                 "WHERE landing_time IS NOT NULL LIMIT 1").fetchall()
    return {"flights": flights + live, "fixes": nfixes, "fill_s": round(time.monotonic() - t0, 1),
            "airfield": field, "flight": str(fid), "day": str(day)}


class Mover(threading.Thread):
    """The live aircraft, one fix each per second, written as the writer writes them."""

    def __init__(self, url: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.stop_event, self.seconds = url, stop, 0

    def run(self) -> None:
        with psycopg.connect(self.url) as c:
            live = c.execute("SELECT id, aircraft_id, last_latitude, last_longitude FROM flights "
                             "WHERE landing_time IS NULL").fetchall()
            next_at = time.monotonic()
            while not self.stop_event.is_set():
                now = datetime.now(timezone.utc)
                step = self.seconds * 0.0003
                with c.cursor().copy("COPY fixes (time, received_at, aircraft_id, source, latitude, "
                                     "longitude, altitude_m, ground_speed_kmh, track_deg) "
                                     "FROM STDIN") as cp:
                    for _, aid, lat, lon in live:
                        cp.write_row((now, now, aid, 1, lat + step, lon, 1000, 100, 0))
                c.execute("UPDATE flights SET last_fix_at = %s WHERE landing_time IS NULL", (now,))
                c.commit()
                self.seconds += 1
                next_at += 1.0
                self.stop_event.wait(max(0.0, next_at - time.monotonic()))


def route_latencies(base: str, data: dict, n: int) -> dict:
    box = (f"{LIVE_CENTRE[1] - 0.5},{LIVE_CENTRE[0] - 0.5},{LIVE_CENTRE[1] + 2.5},"
           f"{LIVE_CENTRE[0] + 2.5}")
    f = data["flight"]
    routes = {
        "positions": f"/api/v1/positions?bbox={box}",
        "flights": "/api/v1/flights",
        "flights_airfield_day": f"/api/v1/flights?airfield={data['airfield']}&date={data['day']}",
        "flight": f"/api/v1/flights/{f}",
        "fixes": f"/api/v1/flights/{f}/fixes",
        "track_igc": f"/api/v1/flights/{f}/track.igc",
        "logbook": f"/api/v1/airfields/{data['airfield']}/logbook?date={data['day']}",
        "receivers": "/api/v1/receivers",
        "stats": "/api/v1/stats?days=7",
        "health": "/api/v1/health",
    }
    out = {}
    with requests.Session() as s:
        for name, path in routes.items():
            times, statuses = [], set()
            for _ in range(n):
                t = time.perf_counter()
                r = s.get(base + path, timeout=60)
                times.append((time.perf_counter() - t) * 1000)
                statuses.add(r.status_code)
            out[name] = {"p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99),
                         "status": sorted(statuses)}
    return out


async def sse_client(port: int, box: str, lags: list[float], counts: list[int], stop: asyncio.Event):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/v1/live?bbox={box} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    updates = 0
    try:
        while not stop.is_set():
            try:
                line = await asyncio.wait_for(reader.readline(), 1.0)
            except TimeoutError:
                continue
            if not line:
                break
            # Chunked transfer: each data line arrives whole inside a chunk.
            if line.startswith(b"data: "):
                arrived = time.time()
                body = json.loads(line[6:])
                updates += 1
                for p in body["positions"]:
                    t = datetime.fromisoformat(p["time"].replace("Z", "+00:00")).timestamp()
                    lags.append(arrived - t)
    finally:
        counts.append(updates)
        writer.close()


async def live_clients(port: int, clients: int, duration_s: float) -> dict:
    lags: list[float] = []
    counts: list[int] = []
    stop = asyncio.Event()
    boxes = []
    for i in range(clients):
        lat = LIVE_CENTRE[0] + (i % 10) * 0.1
        lon = LIVE_CENTRE[1] + (i // 10 % 10) * 0.1
        boxes.append(f"{lon - BOX_HALF_DEG},{lat - BOX_HALF_DEG},"
                     f"{lon + BOX_HALF_DEG},{lat + BOX_HALF_DEG}")
    tasks = [asyncio.create_task(sse_client(port, b, lags, counts, stop)) for b in boxes]
    await asyncio.sleep(2.0)             # everyone connected and had its snapshot
    lags.clear()
    await asyncio.sleep(duration_s)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"clients": clients, "clients_with_updates": sum(1 for c in counts if c > 1),
            "positions_received": len(lags), "lag_p50_s": percentile(lags, 0.5),
            "lag_p99_s": percentile(lags, 0.99), "lag_max_s": percentile(lags, 1.0)}


def memory_kb(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flights", type=int, default=1_000_000)
    ap.add_argument("--fixes-per-flight", type=int, default=20)
    ap.add_argument("--aircraft", type=int, default=20_000)
    ap.add_argument("--live", type=int, default=1450)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--duration-s", type=float, default=60.0)
    ap.add_argument("--requests", type=int, default=200, help="GETs per route")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="soar-bench-web-"))
    os.chmod(home, 0o755)
    cluster = embedded.Cluster(home=home, port=free_port())
    server = None
    result: dict = {"note": "figures from a shared development machine are not final"}
    try:
        cluster.start()
        with psycopg.connect(cluster.url(), autocommit=True) as c:
            c.execute("CREATE DATABASE soar_bench_web")
        url = cluster.url("soar_bench_web")
        migrate.upgrade(url)
        with psycopg.connect(url) as c:
            airports.import_airports(c, *airports.default_sources())
        data = fill(url, args.flights, args.fixes_per_flight, args.aircraft, args.live)
        result["data"] = data
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
        server = subprocess.Popen(
            [sys.executable, "-m", "soar", "--database-url",
             cluster.url("soar_bench_web", "soar_readonly"),
             "web", "--port", str(port), "--window-h", "0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/api/v1/health", timeout=5)
                break
            except requests.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"soar web did not start: {server.stderr.read()}") from None
                time.sleep(0.1)
        result["memory_start_kb"] = memory_kb(server.pid)
        # The routes are timed while the live aircraft move, as ingest writes in production.
        stop = threading.Event()
        mover = Mover(url, stop)
        mover.start()
        while mover.seconds < 2:
            time.sleep(0.1)
        result["routes"] = route_latencies(base, data, args.requests)
        result["live"] = asyncio.run(live_clients(port, args.clients, args.duration_s))
        stop.set()
        mover.join(30)
        result["live"]["moving_aircraft"] = args.live
        result["live"]["mover_seconds"] = mover.seconds
        result["memory_end_kb"] = memory_kb(server.pid)
        result["health"] = requests.get(base + "/api/v1/health", timeout=30).json()["live"]
    finally:
        if server is not None:
            process.stop(server, 30)
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
