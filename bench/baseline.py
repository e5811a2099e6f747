"""The old design of the incident benchmark, as it ran: what the replaced system did.

The rule this module models (and soar never does): a flight write waits for its
enrichment. In the old system the fixes went to the database on their own, and a
flight processor with a pool of 20 database connections created and completed
flights concurrently; each creation with a takeoff and each completion with a
landing ran, on its pool connection and before its commit:
- runway detection over the fixes hypertable (`detect_runway`, the SQL function the
  worker uses),
- for a completion, a read of the flight's fixes (distance flown, bounding box, the
  spurious check: `COMPLETION_READ` below),
- a blocking reverse-geocoding call to Pelias `/v1/reverse` (no cache: one call per
  event, no short deadline: its INSERTs took 25-32 s).

Here `OldDesign.attach(writer)` turns soar's writer into that: the batch commits its
fixes (and aircraft) without its flight ops, then hands each op to the pool (20
threads, one connection each) and waits while the op's connection is busy. Ops of
one flight go to one connection (by flight id), so a flight's create precedes its
updates. So a slow Pelias holds all 20 connections, the writer waits for one, its
queue and then the router's queue (1,000 messages, bench/incident.py) fill, and the
feed reader blocks, then drops, as in production.

Benchmark code only: nothing in soar/ imports it. The pool connects as the
database's owner (the old system had no least-privilege roles).

Bounded by design: `cut()` (the benchmark's cutoff) shuts the Pelias sockets in
use, and the pool rolls back the ops in progress and drops those still waiting
(counted, `ops_abandoned`) instead of writing them after the run's end, so a run
at 30 s latency ends when the benchmark says, not when the backlog is worked off.
"""

from __future__ import annotations

import http.client
import queue
import socket
import threading
import time
import zlib
from urllib.parse import urlencode, urlsplit

import psycopg

from bench.events import LANDING, EventLog, event_of
from soar.tracker import store

POOL_CONNECTIONS = 20     # the old flight processor's pool
OPS_WAITING_PER_CONNECTION = 1   # handed over, not yet started: the writer waits beyond
# Pelias layers asked for, as the worker does (worker/pelias.py).
LAYERS = "locality,localadmin,county,region,country"
# detect_runway's fix window around the event, as the worker's default (window_s).
WINDOW_S = 20
DETECT_RUNWAY = "SELECT runway, method FROM detect_runway(%s, %s, make_interval(secs => %s))"
# The old completion: the flight's fixes, for the distance flown, the bounding box and
# the spurious check (too few fixes, no height gained).
COMPLETION_READ = """
SELECT count(*), min(s.latitude), max(s.latitude), min(s.longitude), max(s.longitude),
       max(s.altitude_m) - min(s.altitude_m), coalesce(sum(s.step_m), 0)
  FROM (SELECT x.latitude, x.longitude, x.altitude_m,
               ST_Distance(ST_MakePoint(x.longitude, x.latitude)::geography,
                           lag(ST_MakePoint(x.longitude, x.latitude)::geography)
                               OVER (ORDER BY x.time)) AS step_m
          FROM flights f
          JOIN fixes x ON x.aircraft_id = f.aircraft_id
                      AND x.time BETWEEN f.started_at
                                     AND coalesce(f.landing_time, f.last_fix_at)
         WHERE f.id = %s) s
"""
# The old system had no enrichment queue: soar's triggers that enqueue flight events
# (pgmq, sql/triggers/) are off in the old design's run database. Left on, the queue's
# notify throttle row (pgmq.notify_insert_throttle), updated by each enqueuing
# transaction, would be held by a pool connection for its whole inline Pelias call
# and serialize the other 19 behind it: a limit soar's schema adds, not the old one's.
OLD_DESIGN_SCHEMA = ("ALTER TABLE flights DISABLE TRIGGER flights_enqueue_created",
                     "ALTER TABLE flights DISABLE TRIGGER flights_enqueue_ended")
_STOP = object()


class OldDesign:
    """The old flight processor around soar's writer (see the module docstring)."""

    def __init__(self, url: str, pelias_url: str, log: EventLog, timeout_s: float = 60.0,
                 connections: int = POOL_CONNECTIONS):
        parts = urlsplit(pelias_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.base = parts.path.rstrip("/")
        self.url, self.log, self.timeout_s = url, log, timeout_s
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._http: dict[int, http.client.HTTPConnection] = {}
        self._lanes = [queue.Queue(OPS_WAITING_PER_CONNECTION) for _ in range(connections)]
        self._threads = [threading.Thread(target=self._lane, args=(i,), daemon=True,
                                          name=f"old-design-{i}") for i in range(connections)]
        # Counters and timings (appended by the pool threads; read after the run).
        self.ops_written = 0
        self.ops_abandoned = 0
        self.op_errors: dict[str, int] = {}      # SQLSTATE -> ops rolled back
        self.events_enriched = 0
        self.pelias_answered = 0
        self.pelias_failures = 0
        self.detect_runway_ms: list[float] = []
        self.completion_read_ms: list[float] = []
        self.pelias_ms: list[float] = []
        self.writer_wait_s = 0.0                 # the writer blocked on a busy connection

    # -- wiring ---------------------------------------------------------------------------

    @staticmethod
    def prepare(url: str) -> None:
        """The run database as the old system had it (OLD_DESIGN_SCHEMA); an owner's URL."""
        with psycopg.connect(url) as conn:
            for statement in OLD_DESIGN_SCHEMA:
                conn.execute(statement)

    def attach(self, writer) -> OldDesign:
        """The batch commits without its flight ops (aircraft and fixes), then the
        writer hands them to the pool, waiting while an op's connection is busy."""
        writer.write_flight_op = lambda cur, op: 1     # written by the pool instead
        inner = writer.write

        def write(batch) -> None:
            inner(batch)
            t0 = time.monotonic()
            for op in batch.flight_ops:
                self._submit(op)
            self.writer_wait_s += time.monotonic() - t0

        writer.write = write
        for t in self._threads:
            t.start()
        return self

    def _submit(self, op) -> None:
        lane = self._lanes[zlib.crc32(op.flight_id.bytes) % len(self._lanes)]
        while not self._cut.is_set():
            try:
                lane.put(op, timeout=0.2)
                return
            except queue.Full:
                continue
        self.ops_abandoned += 1

    def close(self) -> None:
        """After the pipeline closed: stop the pool (what is still waiting was
        abandoned by cut(), or is written now when the run was not cut)."""
        for lane in self._lanes:
            lane.put(_STOP)
        for t in self._threads:
            t.join(120)

    # -- one pool connection ------------------------------------------------------------

    def _lane(self, i: int) -> None:
        lane = self._lanes[i]
        with psycopg.connect(self.url) as conn:
            while (op := lane.get()) is not _STOP:
                try:
                    self._write(conn, i, op)
                except psycopg.Error as exc:
                    conn.rollback()
                    state = exc.sqlstate or "none"
                    self.op_errors[state] = self.op_errors.get(state, 0) + 1

    def _write(self, conn: psycopg.Connection, i: int, op) -> None:
        if self._cut.is_set():
            self.ops_abandoned += 1
            return
        t0 = time.perf_counter()
        event, lat, lon = event_of(op)
        with conn.cursor() as cur:
            if store.write_op(cur, op) == 0:
                store.resolve_skipped(cur, op)
            if event is not None:
                t1 = time.perf_counter()
                cur.execute(DETECT_RUNWAY, (op.flight_id, event, WINDOW_S), prepare=False)
                cur.fetchone()
                t2 = time.perf_counter()
                self.detect_runway_ms.append((t2 - t1) * 1000.0)
                if event == LANDING:
                    cur.execute(COMPLETION_READ, (op.flight_id,), prepare=False)
                    cur.fetchone()
                    self.completion_read_ms.append((time.perf_counter() - t2) * 1000.0)
                if lat is not None and lon is not None:
                    self._reverse(i, lat, lon)
                if self._cut.is_set():
                    # Cut while it waited: not committed by the run's end.
                    conn.rollback()
                    self.ops_abandoned += 1
                    return
                self.events_enriched += 1
        conn.commit()
        at = time.monotonic()
        self.ops_written += 1
        if event is not None:
            self.log.timed(event, (time.perf_counter() - t0) * 1000.0)
            self.log.committed(op, event, at)

    # -- the blocking HTTP call ---------------------------------------------------------

    def _reverse(self, i: int, lat: float, lon: float) -> None:
        query = urlencode({"point.lat": f"{lat:.6f}", "point.lon": f"{lon:.6f}", "size": "1",
                           "layers": LAYERS})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        t0 = time.perf_counter()
        try:
            conn.connect()       # a socket before it is registered: cut() can shut it
        except OSError:
            self.pelias_failures += 1
            conn.close()
            return
        with self._lock:
            if self._cut.is_set():
                conn.close()
                return
            self._http[i] = conn
        try:
            conn.request("GET", f"{self.base}/v1/reverse?{query}")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                self.pelias_answered += 1
                self.pelias_ms.append((time.perf_counter() - t0) * 1000.0)
            else:
                self.pelias_failures += 1
        except (OSError, http.client.HTTPException):
            self.pelias_failures += 1
        finally:
            with self._lock:
                self._http.pop(i, None)
            conn.close()

    def cut(self) -> None:
        """The benchmark's cutoff: end the calls in progress, abandon the waiting ops."""
        with self._lock:
            self._cut.set()
            conns = list(self._http.values())
        for conn in conns:
            if conn.sock is not None:
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def summary(self) -> dict:
        return {"pool_connections": len(self._lanes), "ops_written": self.ops_written,
                "ops_abandoned": self.ops_abandoned, "op_errors": dict(self.op_errors),
                "events_enriched_inline": self.events_enriched,
                "detect_runway_calls": len(self.detect_runway_ms),
                "completion_reads": len(self.completion_read_ms),
                "pelias_calls": self.pelias_answered, "pelias_failures": self.pelias_failures,
                "writer_wait_s": round(self.writer_wait_s, 1)}
