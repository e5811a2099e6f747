"""The round-trip floor: what one trivial statement costs on this machine while a
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
import time
from pathlib import Path

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

    import psycopg

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


if __name__ == "__main__":
    interval = float(sys.argv[1]) if len(sys.argv) > 1 else INTERVAL_MS
    print(json.dumps(probe(sys.stdin.readline().strip(), interval)), flush=True)
