"""`soar web` benchmark: p50/p99 of each API route, live (SSE) clients and their update
lag, and the server process's memory, printing JSON.

The database is the incident benchmark's cached cluster (bench/preload.py), kept under
`--out` (default .soar/bench-web/db-<key>/) and made once per parameter set: migrated,
OurAirports airports and runways, `--preload-rows` fixes over `--preload-days` one-day
chunks ending at today's midnight (UTC), and `--flights` landed flights on German and
French airfields over the same days, for `--aircraft` aircraft. Each run clones it,
adds the `--live` aircraft's active flights, runs `soar web` as its own process
(read-only login, no public window so every query covers all the data), and then:

- routes: `--requests` rounds of one GET per route, one after another, each timed from
  the client, while the live aircraft move (so /positions, polled in every round, keeps
  the server's background reads of live positions going, as a map that polls it does);
- live: `--live` aircraft moving (one fix per aircraft per second, stored as the writer
  stores them: one COPY of fixes and one UPDATE of their flights per second, in one
  transaction; their aircraft rows' last_seen at the start and every 10 minutes, as the
  router refreshes them) while `--clients` SSE clients listen on boxes around them for
  `--duration-s`; `lag` is each position's arrival minus its fix's time (the wall
  clock when the mover began writing that second's fixes, so it includes the mover's
  COPY and commit), `lag_from_commit` its arrival minus the commit that made it visible
  (the web's own delay); both over every position that one client in `LAG_SAMPLE`
  receives (all clients read everything);
- memory: the server's VmRSS before and after, and VmHWM (its peak), per process (the
  server and its live reader's process) and summed; CPU likewise over both.

The defaults are the issue's scale (issue 24): 1,000,000 flights, 20,000,000 fixes,
1,450 moving aircraft, 500 clients. A smoke run:

    .venv/bin/python bench/web.py --preload-rows 200000 --preload-days 2 --flights 20000 \
        --aircraft 2000 --live 50 --clients 10 --duration-s 5 --requests 20

Figures measured on a shared development machine are not final.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402

from bench import process  # noqa: E402
from bench.preload import BenchDatabase, Preload  # noqa: E402

BOX_HALF_DEG = 1.0          # each client's box: 2 x 2 degrees around one live aircraft
LIVE_CENTRE = (47.83, 11.46)
DATABASE = "soar_bench_web"
CONNECT_CEILING_S = 120     # for every live client to get its snapshot
SSE_LINE_MAX = 64 << 20
WARMUP_S = 5.0              # after the last snapshot, before the lag is measured
LAG_SAMPLE = 10             # one client in this many measures the lag (live_clients)
# The router rewrites an aircraft row heard this often (soar/ingest/router.py).
AIRCRAFT_REFRESH_S = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


def aircraft_ids(n: int) -> list[int]:
    """FLARM addresses 1..n; the first `--live` of them move during the run."""
    return [(2 << 24) | a for a in range(1, n + 1)]


def add_live(url: str, live_ids: list[int]) -> dict:
    """The run's own data on the clone: an active flight for each live aircraft near
    LIVE_CENTRE (heard now), a receiver; and a landed flight, its day and airfield for
    the routes."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("""INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time,
                         last_fix_at, last_latitude, last_longitude)
                     SELECT gen_random_uuid(), aid, 1, now() - interval '10 minutes',
                            now() - interval '10 minutes', now(),
                            %(lat)s + (n %% 40) * 0.05, %(lon)s + (n / 40) * 0.05
                       FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS l(aid, n)""",
                  {"ids": live_ids, "lat": LIVE_CENTRE[0], "lon": LIVE_CENTRE[1]})
        c.execute("UPDATE aircraft SET last_seen = now() WHERE id = ANY(%s)", (live_ids,))
        c.execute("INSERT INTO receivers (name, latitude, longitude) VALUES ('bench', 47.8, 11.4)")
        c.execute("ANALYZE flights")
        c.execute("ANALYZE aircraft")
        [[fid, day, field]] = c.execute(
            "SELECT f.id, f.started_at::date, a.ident FROM flights f "
            "JOIN airports a ON a.id = f.departure_airport_id "
            "WHERE f.landing_time IS NOT NULL ORDER BY f.started_at DESC LIMIT 1").fetchall()
        [flights] = c.execute("SELECT count(*) FROM flights").fetchone()
    return {"flights": flights, "airfield": field, "flight": str(fid), "day": str(day)}


class Mover(threading.Thread):
    """The live aircraft, one fix each per second, written as the writer writes them."""

    def __init__(self, url: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.stop_event, self.seconds = url, stop, 0
        # A second's fix time (epoch, ms) -> the wall clock when it was committed: the
        # web's own lag runs from the commit (the COPY itself takes a while under load).
        self.committed: dict[float, float] = {}

    def run(self) -> None:
        with psycopg.connect(self.url) as c:
            live = c.execute("SELECT id, aircraft_id, last_latitude, last_longitude FROM flights "
                             "WHERE landing_time IS NULL").fetchall()
            next_at = time.monotonic()
            ids = [aid for _, aid, _, _ in live]
            flight_ids = [fid for fid, _, _, _ in live]
            while not self.stop_event.is_set():
                now = datetime.now(timezone.utc)
                step = self.seconds * 0.0003
                if self.seconds % AIRCRAFT_REFRESH_S == 0:
                    c.execute("UPDATE aircraft SET last_seen = %s WHERE id = ANY(%s)", (now, ids))
                with c.cursor().copy("COPY fixes (time, received_at, aircraft_id, source, latitude, "
                                     "longitude, altitude_m, ground_speed_kmh, track_deg) "
                                     "FROM STDIN") as cp:
                    for _, aid, lat, lon in live:
                        cp.write_row((now, now, aid, 1, lat + step, lon, 1000, 100, 0))
                # By id, as the writer updates the flights of a batch (a scan of the
                # flights table each second would load the server as ingest does not).
                c.execute("UPDATE flights SET last_fix_at = %s WHERE id = ANY(%s)",
                          (now, flight_ids))
                c.commit()
                self.committed[round(now.timestamp(), 3)] = time.time()
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
    # Round after round, one GET of each route per round: every route is timed over the
    # same stretch of the run, /positions keeps the background reads going throughout
    # (as a map polling it does), and a route's p99 is not one unlucky second's.
    times: dict[str, list[float]] = {name: [] for name in routes}
    statuses: dict[str, set[int]] = {name: set() for name in routes}
    with requests.Session() as s:
        for _ in range(n):
            for name, path in routes.items():
                t = time.perf_counter()
                r = s.get(base + path, timeout=60)
                times[name].append((time.perf_counter() - t) * 1000)
                statuses[name].add(r.status_code)
    # first_ms: the cold answer (the stats route computes, later ones are cached).
    return {name: {"p50_ms": percentile(t, 0.5), "p99_ms": percentile(t, 0.99),
                   "first_ms": round(t[0], 1), "status": sorted(statuses[name])}
            for name, t in times.items()}


async def sse_client(port: int, box: str, lags: list[float] | None, counts: list[int],
                     started: list[int], stop: asyncio.Event, received: list[int],
                     committed: dict[float, float], commit_lags: list[float]):
    # A snapshot is one SSE data line: hundreds of KB for a busy box (asyncio's
    # default line limit is 64 KiB).
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=SSE_LINE_MAX)
    writer.write(f"GET /api/v1/live?bbox={box} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    updates = 0
    try:
        # No timeout around readline (wait_for is a task and a timer per line, this
        # process's CPU at 500 clients): the mover goes on until every client has
        # stopped, so each gets a line within a second of `stop`.
        while not stop.is_set():
            line = await reader.readline()
            if not line:
                break
            # Chunked transfer: each data line arrives whole inside a chunk.
            if line.startswith(b"data: "):
                arrived = time.time()
                received[0] += len(line)
                if not updates:
                    started.append(1)       # its snapshot: this client is in
                updates += 1
                if lags is None:
                    continue
                # The fix times only, without decoding the whole event: a client in this
                # process that decoded every position of 500 streams would measure its
                # own CPU, not the server (the mover gives a second's fixes one time).
                times = TIME_FIELD.findall(line) + MOVE_TIME.findall(line)
                for t, n in Counter(times).items():
                    fixed = fix_time(t)
                    lags.extend([arrived - fixed] * n)
                    at = committed.get(round(fixed, 3))
                    if at is not None:
                        commit_lags.extend([arrived - at] * n)
    finally:
        counts.append(updates)
        writer.close()


async def live_clients(port: int, clients: int, duration_s: float, server_pid: int,
                       committed: dict[float, float]) -> dict:
    lags: list[float] = []
    commit_lags: list[float] = []
    counts: list[int] = []
    received = [0]                  # bytes of data lines, every client
    stop = asyncio.Event()
    boxes = []
    for i in range(clients):
        # Every client its own box (up to 500): a server that shared work between
        # clients with the same view would otherwise be flattered.
        lat = LIVE_CENTRE[0] + (i % 25) * 0.04
        lon = LIVE_CENTRE[1] + (i // 25 % 20) * 0.05
        boxes.append(f"{lon - BOX_HALF_DEG},{lat - BOX_HALF_DEG},"
                     f"{lon + BOX_HALF_DEG},{lat + BOX_HALF_DEG}")
    started: list[int] = []
    # Every client reads every byte; one in LAG_SAMPLE also finds the fix times in what
    # it reads (a regex over ~80 kB a line): in all 500 that was most of this process's
    # CPU, and a client process behind measures its own lag, not the server's.
    tasks = [asyncio.create_task(sse_client(port, b, lags if i % LAG_SAMPLE == 0 else None,
                                            counts, started, stop, received, committed,
                                            commit_lags))
             for i, b in enumerate(boxes)]
    deadline = time.monotonic() + CONNECT_CEILING_S
    while len(started) < clients and time.monotonic() < deadline:
        await asyncio.sleep(0.1)         # until every client has had its snapshot
    connected = len(started)
    # Steady state: 500 snapshots (tens of MB) are still being sent when the last
    # client has its own, and the first updates queue behind them; a lag measured from
    # here would be the connection burst's, not the server's at one update a second.
    await asyncio.sleep(WARMUP_S)
    lags.clear()
    commit_lags.clear()
    # The server's own split of each cycle (its health route): the read, the fan-out.
    read_ms: list[float] = []
    fanout_ms: list[float] = []
    cpu_before, t_before = cpu_s(server_pid), time.monotonic()
    own_before = time.process_time()
    received_before = received[0]
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        live = (await asyncio.to_thread(
            requests.get, f"http://127.0.0.1:{port}/api/v1/health", timeout=30)).json()["live"]
        if live["read_ms"] is not None:
            read_ms.append(live["read_ms"])
            fanout_ms.append(live["fanout_ms"])
        await asyncio.sleep(1.0)
    # The server's CPU over the listening window: what serving 500 clients costs it, a
    # steadier figure than the lag on a machine whose other core is not idle.
    server_cpu_s = cpu_s(server_pid) - cpu_before
    server_cpu = server_cpu_s / (time.monotonic() - t_before)
    client_cpu = (time.process_time() - own_before) / (time.monotonic() - t_before)
    received_mb = (received[0] - received_before) / 1e6
    stop.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    errors: dict[str, int] = {}
    for o in outcomes:
        if isinstance(o, BaseException):
            key = f"{type(o).__name__}: {str(o)[:80]}"
            errors[key] = errors.get(key, 0) + 1
    return {"clients": clients, "clients_connected": connected, "client_errors": errors,
            "clients_with_updates": sum(1 for c in counts if c > 1),
            "positions_received_by_lag_clients": len(lags),
            "mb_received_per_s": round(received_mb / duration_s, 1), "lag_p50_s": percentile(lags, 0.5),
            "lag_p99_s": percentile(lags, 0.99),
            "lag_from_commit_p50_s": percentile(commit_lags, 0.5),
            "lag_from_commit_p99_s": percentile(commit_lags, 0.99),
            "lag_from_commit_max_s": percentile(commit_lags, 1.0), "lag_max_s": percentile(lags, 1.0),
            "server_read_ms_p50": percentile(read_ms, 0.5),
            "server_read_ms_p99": percentile(read_ms, 0.99),
            "server_fanout_ms_p50": percentile(fanout_ms, 0.5),
            "server_fanout_ms_p99": percentile(fanout_ms, 0.99),
            "server_cpu_s_per_s": round(server_cpu, 3),
            "clients_cpu_s_per_s": round(client_cpu, 3),
            "lag_clients": len(range(0, clients, LAG_SAMPLE)),
            "server_cpu_ms_per_mb": round(server_cpu_s * 1e3 / received_mb, 2) if received_mb else None}


TIME_FIELD = re.compile(rb'"time":"([^"]+)"')
# A move: [aircraft_id, flight_id, source, time, ...] (soar/web/live.py MOVE_FIELDS).
MOVE_TIME = re.compile(rb'\[\d+,(?:null|"[^"]*"),(?:null|\d+),"([^"]+)"')


@functools.lru_cache(maxsize=4096)
def fix_time(text: bytes) -> float:
    return datetime.fromisoformat(text.decode().replace("Z", "+00:00")).timestamp()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the server and its descendants (the live reader's
    process, multiprocessing's resource tracker): the server's CPU is theirs together."""
    return sum(int(st[11]) + int(st[12]) for p in process.tree(pid)
               if (st := process.stat(p)) is not None) / process.TICK


def memory_kb(pid: int) -> dict:
    """VmRSS and VmHWM (peak) of the server process and each descendant, in kB, and
    their sums (`VmRSS`, `VmHWM`; the peaks' sum bounds the tree's peak from above)."""
    out: dict = {"VmRSS": 0, "VmHWM": 0, "processes": {}}
    for p in process.tree(pid):
        one = {}
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(("Name", "VmRSS", "VmHWM")):
                        k, v = line.split(":")
                        one[k] = v.strip() if k == "Name" else int(v.split()[0])
        except FileNotFoundError:
            continue
        out["processes"][p] = one
        out["VmRSS"] += one.get("VmRSS", 0)
        out["VmHWM"] += one.get("VmHWM", 0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload-rows", type=int, default=Preload.rows, help="fixes preloaded")
    ap.add_argument("--preload-days", type=int, default=Preload.days,
                    help="one-day chunks they fill, ending at today's midnight (UTC)")
    ap.add_argument("--flights", type=int, default=1_000_000, help="landed flights preloaded")
    ap.add_argument("--aircraft", type=int, default=20_000,
                    help="aircraft of the preload (flights and fixes in turn)")
    ap.add_argument("--live", type=int, default=1450, help="of those, moving during the run")
    ap.add_argument("--clients", type=int, default=500, help="live (SSE) clients")
    ap.add_argument("--duration-s", type=float, default=60.0, help="live clients listen this long")
    ap.add_argument("--requests", type=int, default=500, help="GETs per route")
    ap.add_argument("--out", type=Path, default=ROOT / ".soar" / "bench-web",
                    help="where the cached cluster is kept")
    args = ap.parse_args()
    if not 0 < args.live <= args.aircraft:
        ap.error("--live must be 1 to --aircraft")
    args.out.mkdir(parents=True, exist_ok=True)
    ids = aircraft_ids(args.aircraft)
    end = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    db = BenchDatabase(args.out, Preload(args.preload_rows, args.preload_days, args.flights),
                       ids, end)
    server = None
    result: dict = {"note": "figures from a shared development machine are not final"}
    t_start = time.monotonic()
    try:
        cluster = db.start()
        t0 = time.monotonic()
        db.clone(DATABASE)
        url = cluster.url(DATABASE)
        data = add_live(url, ids[:args.live])
        result["data"] = {**data, "preload_fixes": args.preload_rows,
                          "preload_days": args.preload_days, "aircraft": args.aircraft,
                          "cache": str(db.home), "cache_reused": db.reused,
                          "prepare_s": round(db.prepare_s, 1),
                          "clone_s": round(time.monotonic() - t0, 1)}
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
        server = subprocess.Popen(
            [sys.executable, "-m", "soar", "--database-url",
             cluster.url(DATABASE, "soar_readonly"),
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
        result["live"] = asyncio.run(live_clients(port, args.clients, args.duration_s, server.pid,
                                                  mover.committed))
        stop.set()
        mover.join(30)
        result["live"]["moving_aircraft"] = args.live
        result["live"]["mover_seconds"] = mover.seconds
        result["memory_end_kb"] = memory_kb(server.pid)
        result["health"] = requests.get(base + "/api/v1/health", timeout=30).json()["live"]
    finally:
        if server is not None:
            process.stop(server, 30)
        if db.cluster is not None:
            db.drop(DATABASE)
        db.stop()
    result["total_s"] = round(time.monotonic() - t_start, 1)
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
