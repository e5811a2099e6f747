"""What the incident benchmark measures about flight events, the same way for both
designs: which op is an event (a takeoff create, a landing complete), how long its
write took, and when it was committed relative to when its fix was received.

The rule it keeps: an event counts when its flights row is COMMITTED (the pipeline:
its batch's commit; the old design: its pool connection's commit), and its commit
lag is measured from the wall time its last fix was fed to the pipeline (data time
mapped to the feeder's clock: `received_wall`), so both designs are read on one clock.

`EventLog` is filled by the writer thread (pipeline, `PipelineHooks`) or by the old
design's pool threads (bench/baseline.py): list.append is atomic, nothing else is
shared.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from soar.tracker import store
from soar.tracker.ops import END_LANDING, START_TAKEOFF, CreateFlight, UpdateFlight

TAKEOFF, LANDING = "takeoff", "landing"


def event_of(op) -> tuple[str | None, float | None, float | None]:
    """Which event an op writes (takeoff, landing or none) and where."""
    if isinstance(op, CreateFlight):
        row = op.row
        if op.kind == START_TAKEOFF and row.get("takeoff_time") is not None:
            return TAKEOFF, row.get("takeoff_latitude"), row.get("takeoff_longitude")
    elif isinstance(op, UpdateFlight):
        values = op.values
        if op.kind == END_LANDING and values.get("landing_time") is not None:
            return LANDING, values.get("landing_latitude"), values.get("landing_longitude")
    return None, None, None


def fix_time(op) -> datetime | None:
    """Data time of the fix that made the tracker write this op (its last fix)."""
    values = op.row if isinstance(op, CreateFlight) else op.values
    return values.get("last_fix_at") or values.get("landing_time") or values.get("takeoff_time")


class EventLog:
    """Event writes of one run: latency of the write (ms) and commit (wall, lag)."""

    def __init__(self, received_wall: Callable[[datetime], float]):
        self.received_wall = received_wall
        # event -> [(monotonic time, ms)]
        self.write_ms: dict[str, list[tuple[float, float]]] = {TAKEOFF: [], LANDING: []}
        # (monotonic commit time, event, lag s): appended by the committing thread.
        self.commits: list[tuple[float, str, float]] = []

    def timed(self, event: str, ms: float) -> None:
        self.write_ms[event].append((time.monotonic(), ms))

    def committed(self, op, event: str, at: float) -> None:
        t = fix_time(op)
        lag = at - self.received_wall(t) if t is not None else float("nan")
        self.commits.append((at, event, lag))


class PipelineHooks:
    """The pipeline's writer, measured from outside: each event op's statement timed
    (`store.write_op`, as the writer runs it) and its commit stamped after the batch
    commits. Nothing of the writer's behaviour changes."""

    def __init__(self, writer, log: EventLog):
        self.log = log
        writer.write_flight_op = self._write_op
        inner = writer.write

        def write(batch) -> None:
            inner(batch)
            now = time.monotonic()
            for op in batch.flight_ops:
                event = event_of(op)[0]
                if event is not None:
                    log.committed(op, event, now)

        writer.write = write

    def _write_op(self, cur, op) -> int:
        event = event_of(op)[0]
        if event is None:
            return store.write_op(cur, op)
        t0 = time.perf_counter()
        n = store.write_op(cur, op)
        self.log.timed(event, (time.perf_counter() - t0) * 1000.0)
        return n
