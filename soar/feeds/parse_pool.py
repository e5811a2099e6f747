"""APRS parsing in a separate process, so it runs on another core than the router.

Parsing OGN lines is stateless and the costliest step of the router; Python threads
share one core (the GIL), processes do not. Mode-S decoding keeps CPR state per
aircraft, so it stays in the router.

Both ways, what crosses the process boundary is cheap to pickle: a chunk goes as its
lines and an array of receive timestamps (pickling the Message tuples themselves cost
1.6 us per message in the parent, whose GIL the router needs; this costs 0.4 us), and
results come back as plain tuples (pickling dataclasses with datetimes costs about four
times as much), rebuilt into Fix objects.

A worker that dies (killed, out of memory) breaks the pool: every pending and later
parse raises BrokenProcessPool. The pool does not replace it; `death()` says which
process died and how, so the pipeline can stop with that one line.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from array import array
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from soar.feeds import ogn
from soar.records import PARSE_ERROR, Fix, Message, ServerTime
from soar.units import UTC

_fromts = datetime.fromtimestamp


def _pack(f: Fix) -> tuple:
    # Not received_at: it is the message's, which the router has (unpack).
    return (f.time.timestamp(), int(f.source), f.address_type,
            f.address, f.latitude, f.longitude, f.altitude_m, f.ground_speed_kmh, f.track_deg,
            f.climb_rate_ms, f.turn_rate_degs, f.receiver, f.signal_db, f.on_ground,
            f.aircraft_type, f.callsign, f.registration, f.model, f.stealth, f.no_tracking,
            f.cleaned)


def unpack(t: tuple, received_at: datetime) -> Fix:
    """The Fix parse_line made of a message received at `received_at`."""
    return Fix(_fromts(t[0], UTC), received_at, *t[1:])


def parse_line(raw: str, received_at: datetime):
    """One APRS line: a Fix, ReceiverBeacon, Reject, None, or ServerTime (`#` lines)."""
    if raw.startswith("#"):
        return ServerTime(ogn.parse_server_comment(raw))
    try:
        return ogn.parse(raw, received_at)
    except Exception:   # noqa: BLE001 -- the parser promises not to raise; count it if it does
        return PARSE_ERROR


def parse_chunk(lines: Sequence[str], received_at: Sequence[float]) -> list:
    """Runs in the worker process: results aligned with the chunk's lines."""
    out = []
    last_ts, when = None, None
    for raw, ts in zip(lines, received_at, strict=True):
        if ts != last_ts:          # a live chunk's lines often share their receive time
            last_ts, when = ts, _fromts(ts, UTC)
        r = parse_line(raw, when)
        out.append(_pack(r) if isinstance(r, Fix) else r)
    return out


__all__ = ["BrokenProcessPool", "ParsePool", "parse_chunk", "parse_line", "unpack"]


# The parse processes run at this niceness: on a full machine they give way to the
# database backend and the writer, whose waits are the flight writes' latency. With
# the router's 0.2 ms switch interval it took create/complete p99 from ~10 ms to ~5 ms
# and raised APRS throughput (docs/benchmarks.md); a niceness only a parse process has.
PARSE_NICENESS = 10


class ParsePool:
    def __init__(self, workers: int = 1):
        # spawn, not fork: the parent has threads and database connections.
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=os.nice, initargs=(PARSE_NICENESS,))
        self._processes: dict = {}
        # Start the workers now, not on the first chunk.
        try:
            for f in [self._pool.submit(int) for _ in range(workers)]:
                f.result()
        except BrokenProcessPool as exc:
            death = self.death(wait_s=2.0)
            self._pool.shutdown(wait=False)
            raise BrokenProcessPool(death or str(exc)) from exc
        self._known()

    def _known(self) -> list:
        # The executor keeps its worker processes in a private dict (emptied at
        # shutdown); a copy lets death() name the one that died, where the executor
        # only says "broken".
        self._processes.update(getattr(self._pool, "_processes", None) or {})
        return list(self._processes.values())

    def pids(self) -> list[int]:
        return [p.pid for p in self._known()]

    def death(self, wait_s: float = 0.0) -> str | None:
        """How a dead worker ended ("pid 123 killed by signal 9 (SIGKILL)"), or None
        while all are alive. When one dies the executor terminates the others
        (SIGTERM): the first one that ended otherwise is the cause. `wait_s`: the
        pool already said broken, but the exit status is only known once the
        executor's thread has reaped the process: wait up to this long for it."""
        deadline = time.monotonic() + wait_s
        while not (dead := [p for p in self._known() if p.exitcode is not None]):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)
        first = next((p for p in dead if p.exitcode != -signal.SIGTERM), dead[0])
        code = first.exitcode
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = "?"
            return f"pid {first.pid} killed by signal {-code} ({name})"
        return f"pid {first.pid} exited with code {code}"

    def submit(self, chunk: list[Message]) -> Future:
        """Parse in a worker; raises BrokenProcessPool once a worker has died."""
        return self._pool.submit(parse_chunk, [m.payload for m in chunk],
                                 array("d", [m.received_at.timestamp() for m in chunk]))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
