"""The latency floor of a flight write, measured in the same run, the same process
and with the same statement as the flights it is compared with.

The rule (issue 23): a create p99 is read against a probe that shares everything
with it but the code under test: the machine's load at that moment (the same run),
the GIL and scheduler of the bench process (a thread of it), the role and
connection kind of the writer (its URL), and the statement shape (a takeoff
create: `soar.tracker.store.statement` of a `CreateFlight` with the tracker's
columns, triggers included). Each probe runs in its own transaction and is rolled
back, so it leaves no flight and no enrichment message. A write p99 near the probe's
is the machine's; only CPU headroom can take it lower. Worst values of different
runs are never compared.

    probe = Probe(url).start()     # the writer's URL; PROBE_AIRCRAFT's row exists
    ... the measured run ...
    probe.stop()                   # {"samples", "p50_ms", "p99_ms", "max_ms"}

`PROBE_AIRCRAFT` is an aircraft row the bench inserts before the run (flights
reference aircraft); the probe never commits a flight for it.

`Floor` (bench/ingest.py) is the older, cruder reference: a one-row INSERT into a
temporary table from ANOTHER process, a different statement; it is not a lower
bound for a flight write (create p99 fell below it) and is no longer used by the
incident benchmark.

The round-trip floor: what one trivial statement costs on this machine while a
benchmark runs, for comparing the flight-write latencies with.

A flight write is one statement the server runs in ~0.09 ms; its p99 in the writer
thread is mostly waiting for a core (and for the GIL). To tell the code's share from
the machine's, a separate process (no GIL shared with the pipeline) sends a one-row
INSERT into a temporary table every `interval_ms` for as long as the benchmark runs
and keeps the round-trip times: a create p99 near this floor's p99 is the scheduler's,
and no change in soar's code can take it lower; only CPU headroom can.

    with Floor(url) as floor:      # an owner's URL (a temporary table is created)
        ... the measured run ...   # (or floor.start() ... floor.stop())
    floor.samples_ms               # every round trip
    floor.result                   # {"samples", "p50_ms", "p99_ms", "max_ms"}

The probe itself: `python bench/floor.py [INTERVAL_MS]`, the URL its first line of
input (never on a command line); it stops at the end of its input (or when the
cluster goes away) and prints its round-trip times as one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from soar.tracker import store
from soar.tracker.ops import START_TAKEOFF, CreateFlight

INTERVAL_MS = 5.0    # 200 statements/s: ~1 % of a core, thousands of samples a minute


def summarise(samples_ms: list[float]) -> dict:
    # Imported here: the probe runs this file as a script, where `bench` is no package.
    from bench.worker import _percentile

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {"samples": len(samples_ms), "p50_ms": r(_percentile(samples_ms, 0.5)),
            "p99_ms": r(_percentile(samples_ms, 0.99)), "max_ms": r(max(samples_ms, default=None))}


class Floor:
    """The probe as a child process around a `with` block."""

    def __init__(self, url: str, interval_ms: float = INTERVAL_MS):
        self.url, self.interval_ms = url, interval_ms
        self.samples_ms: list[float] = []
        self.result: dict | None = None
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> Floor:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Floor:
        # The URL goes through stdin: no password on a command line.
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(self.interval_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._proc.stdin.write(self.url + "\n")
        self._proc.stdin.flush()
        # Started once it is connected, so that the whole run is sampled.
        if self._proc.stdout.readline().strip() != "ready":
            raise RuntimeError("bench/floor.py: the probe did not connect")
        return self

    def stop(self) -> dict:
        proc, self._proc = self._proc, None
        proc.stdin.close()
        out = proc.stdout.read()
        proc.wait(60)
        if not out.strip():
            raise RuntimeError("bench/floor.py: the probe printed nothing")
        self.samples_ms = json.loads(out.strip().splitlines()[-1])
        self.result = summarise(self.samples_ms)
        return self.result


def probe(url: str, interval_ms: float) -> list[float]:
    import select

    samples: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TEMPORARY TABLE floor_probe (n bigint, at timestamptz, x float8)")
        print("ready", flush=True)
        n = 0
        while True:
            n += 1
            t0 = time.perf_counter()
            try:
                conn.execute("INSERT INTO floor_probe VALUES (%s, now(), %s)", (n, 1.5),
                             prepare=False)
            except psycopg.OperationalError:     # the benchmark's cluster went away
                break
            samples.append((time.perf_counter() - t0) * 1000.0)
            # The end of stdin is the parent's "stop"; otherwise wait one interval.
            if select.select([sys.stdin], [], [], interval_ms / 1000.0)[0]:
                if not sys.stdin.readline():
                    break
    return [round(ms, 4) for ms in samples]



# -- the same-shape probe (the incident benchmark) ------------------------------

# An address no simulated aircraft has (OGN type 3, 0xFFFFFE).
PROBE_ADDRESS, PROBE_ADDRESS_TYPE = 0xFFFFFE, 3
PROBE_AIRCRAFT = (PROBE_ADDRESS_TYPE << 24) | PROBE_ADDRESS
INSERT_PROBE_AIRCRAFT = ("INSERT INTO aircraft (id, address, address_type, aircraft_type) "
                         "VALUES (%s, %s, %s, 1) ON CONFLICT DO NOTHING")


def takeoff_op() -> CreateFlight:
    """A takeoff create with the columns the tracker writes (soar.tracker.state)."""
    now = datetime.now(timezone.utc)
    return CreateFlight({"id": uuid.uuid4(), "aircraft_id": PROBE_AIRCRAFT, "source": 1,
                         "callsign": None, "started_at": now, "takeoff_time": now,
                         "last_fix_at": now, "last_latitude": 48.0, "last_longitude": 8.0,
                         "takeoff_latitude": 48.0, "takeoff_longitude": 8.0,
                         "takeoff_altitude_m": 400.0, "launch_method": "self"},
                        START_TAKEOFF)


class Probe:
    """A thread of the bench process writing a takeoff create every `interval_ms`
    (rolled back), timing the statement as the bench times the writer's."""

    def __init__(self, url: str, interval_ms: float = INTERVAL_MS):
        self.url, self.interval_ms = url, interval_ms
        self.samples_ms: list[float] = []
        self.samples_at: list[float] = []     # monotonic time of each sample
        self.result: dict | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-floor", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> Probe:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise RuntimeError(f"bench/floor.py: the probe could not start: {self._error}")
        return self

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(60)
        self.result = summarise(self.samples_ms)
        return self.result

    def between(self, t0: float, t1: float) -> dict:
        """The samples taken in [t0, t1] (monotonic): the run's measured window."""
        return summarise([ms for ms, at in zip(self.samples_ms, self.samples_at, strict=True)
                          if t0 <= at <= t1])

    def _run(self) -> None:
        try:
            conn = psycopg.connect(self.url)
        except psycopg.Error as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        with conn:
            while not self._stop.wait(self.interval_ms / 1000.0):
                query, params = store.statement(takeoff_op())
                try:
                    with conn.cursor() as cur:
                        t0 = time.perf_counter()
                        cur.execute(query, params, prepare=False)
                        ms = (time.perf_counter() - t0) * 1000.0
                    conn.rollback()
                except psycopg.OperationalError:      # the run's database went away
                    break
                self.samples_ms.append(ms)
                self.samples_at.append(time.monotonic())

if __name__ == "__main__":
    interval = float(sys.argv[1]) if len(sys.argv) > 1 else INTERVAL_MS
    print(json.dumps(probe(sys.stdin.readline().strip(), interval)), flush=True)
