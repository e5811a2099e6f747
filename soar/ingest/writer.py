"""The database side of ingest: one transaction per batch, and the writer thread's
retry loop around it.

Order inside the transaction: receivers and aircraft (the rows others refer to),
then the flight writes in the order the tracker made them (each one statement),
then the fixes as one binary COPY. A flight's row is therefore never committed
after its fixes, and a crash loses at most the batch being written.

Retries: a batch that failed because the database is unreachable is written again
(on a new connection, backing off up to 30 s) until it commits: this blocks the
writer's queue, which pushes back on the router and the feeds. A batch the database
rejects is not retried: every fix in it is counted as rejected (`db`, `write_error`).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime

import psycopg

from soar.db import sqlfiles
from soar.errors import first_line
from soar.ingest.batch import Batch
from soar.ingest.stats import IngestStats
from soar.units import UTC

log = logging.getLogger(__name__)

FIX_COLUMNS = ("time", "received_at", "aircraft_id", "receiver_id", "source", "latitude",
               "longitude", "altitude_m", "ground_speed_kmh", "track_deg", "climb_rate_ms",
               "turn_rate_degs", "on_ground", "signal_db", "flight_id")
FIX_TYPES = ("timestamptz", "timestamptz", "int8", "int4", "int2", "float8", "float8", "float4",
             "float4", "float4", "float4", "float4", "bool", "float4", "uuid")
COPY_FIXES = f"COPY fixes ({', '.join(FIX_COLUMNS)}) FROM STDIN (FORMAT BINARY)"

QUERIES = sqlfiles.queries("queries/ingest.sql")

# Put on the writer's queue after the last batch.
END_OF_BATCHES = object()
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0

# Writes one flight op as one statement; supplied by the flight tracker.
FlightOpWriter = Callable[[psycopg.Cursor, object], None]


class TransientWriteError(Exception):
    """The database is unreachable; the batch can be tried again."""


class Writer:
    def __init__(self, conninfo: str, stats: IngestStats,
                 write_flight_op: FlightOpWriter | None = None,
                 on_flight_latency: Callable[[object, float], None] | None = None):
        self.conninfo = conninfo
        self.stats = stats
        self.write_flight_op = write_flight_op
        self.on_flight_latency = on_flight_latency
        self.receiver_ids: dict[str, int] = {}
        self.conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            # prepare_threshold=None: no server-side prepared statements, so the same
            # code works through PgBouncer in transaction mode.
            self.conn = psycopg.connect(self.conninfo, prepare_threshold=None,
                                        application_name="soar-ingest")
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def untracked_aircraft(self) -> set[int]:
        """Aircraft whose record says not tracked: their fixes are never stored."""
        conn = self._connection()
        with conn.transaction():
            rows = conn.execute(QUERIES["untracked_aircraft"]).fetchall()
        return {r[0] for r in rows}

    def load_active(self, config):
        """Active flights and their last fixes, for the tracker's restart."""
        from soar.tracker.store import load_active

        conn = self._connection()
        with conn.transaction():
            return load_active(conn, config)

    def write(self, batch: Batch) -> None:
        try:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                self._receivers(cur, batch)
                self._aircraft(cur, batch)
                self._flights(cur, batch)
                self._fixes(cur, batch)
        except psycopg.OperationalError as exc:
            if self.conn is not None:       # start the retry on a new connection
                self.conn.close()
                self.conn = None
            # Ids learnt inside the failed transaction may not exist.
            self.receiver_ids.clear()
            raise TransientWriteError(str(exc).strip()) from exc
        except psycopg.Error:
            self.receiver_ids.clear()
            raise
        self.stats.fixes_written += len(batch.fixes)
        self.stats.batches += 1

    def _receivers(self, cur: psycopg.Cursor, batch: Batch) -> None:
        rows = []
        now = datetime.now(UTC)
        # Receivers named by fixes but never heard from directly still need an id.
        named = {f.receiver for f in batch.fixes if f.receiver} - self.receiver_ids.keys()
        for name in named - batch.receivers.keys():
            rows.append((name, None, None, None, None, None, None, now, now))
        for name, beacon in batch.receivers.items():
            status = json.dumps(beacon.status) if beacon.status else None
            seen = beacon.time or beacon.received_at
            rows.append((name, beacon.latitude, beacon.longitude, beacon.altitude_m,
                         beacon.version, beacon.platform, status, seen, seen))
        if not rows:
            return
        cur.executemany(QUERIES["upsert_receiver"], rows, returning=True)
        while True:
            for rid, name in cur.fetchall():
                self.receiver_ids[name] = rid
            if not cur.nextset():
                break

    def _aircraft(self, cur: psycopg.Cursor, batch: Batch) -> None:
        if not batch.aircraft:
            return
        cur.executemany(QUERIES["upsert_aircraft"], [
            (a.id, a.address, a.address_type, a.aircraft_type, a.category, a.registration,
             a.callsign, a.model, a.seen_at, a.seen_at) for a in batch.aircraft.values()])

    def _flights(self, cur: psycopg.Cursor, batch: Batch) -> None:
        if not batch.flight_ops:
            return
        if self.write_flight_op is None:
            raise RuntimeError("flight ops in a batch but no flight op writer configured")
        for op in batch.flight_ops:
            t0 = time.perf_counter()
            self.write_flight_op(cur, op)
            if self.on_flight_latency:
                self.on_flight_latency(op, (time.perf_counter() - t0) * 1000.0)

    def _fixes(self, cur: psycopg.Cursor, batch: Batch) -> None:
        if not batch.fixes:
            return
        rid = self.receiver_ids
        with cur.copy(COPY_FIXES) as copy:
            copy.set_types(FIX_TYPES)
            write = copy.write_row
            for f in batch.fixes:
                write((f.time, f.received_at, f.aircraft_id,
                       rid.get(f.receiver) if f.receiver else None, int(f.source),
                       f.latitude, f.longitude, f.altitude_m, f.ground_speed_kmh, f.track_deg,
                       f.climb_rate_ms, f.turn_rate_degs, f.on_ground, f.signal_db, f.flight_id))

    # -- the writer thread ---------------------------------------------------------

    def run(self, batches: queue.Queue, untracked_refresh_s: float,
            on_untracked: Callable[[set[int]], None],
            abandon: threading.Event | None = None) -> list[Batch]:
        """Write every batch from `batches` until END_OF_BATCHES; every
        `untracked_refresh_s` re-read the aircraft not to be tracked and hand them to
        `on_untracked` (an aircraft marked not tracked stops being stored within that).

        Once `abandon` is set (the shutdown deadline passed) it stops retrying and
        returns the batches it did not commit, oldest first: the one it was writing and
        every one still queued up to END_OF_BATCHES; [] after a normal end.
        `self.writing` is the batch taken from the queue and not yet done with (None
        between batches), for the caller to keep when this thread dies or hangs."""
        def until_end() -> list[Batch]:
            # What is still queued, up to END_OF_BATCHES (the router puts it last).
            out = []
            while (queued := batches.get()) is not END_OF_BATCHES:
                out.append(queued)
            return out

        refreshed = time.monotonic()
        self.writing = None
        while True:
            batch = batches.get()
            if batch is END_OF_BATCHES:
                return []
            self.writing = batch
            if abandon is not None and abandon.is_set():
                return [batch, *until_end()]
            if time.monotonic() - refreshed >= untracked_refresh_s:
                refreshed = time.monotonic()
                try:
                    on_untracked(self.untracked_aircraft())
                except psycopg.Error as exc:
                    log.warning("could not refresh the untracked aircraft: %s", first_line(exc))
            if not self.write_until_done(batch, abandon):
                return [batch, *until_end()]
            self.writing = None

    def write_until_done(self, batch: Batch, abandon: threading.Event | None = None) -> bool:
        """Commit the batch, retrying while the database is unreachable; a batch the
        database rejects is counted, fix by fix, and dropped. True when done with it
        (committed or counted); False when `abandon` was set first (not committed)."""
        delay = RETRY_FIRST_S
        while True:
            if abandon is not None and abandon.is_set():
                return False
            try:
                self.write(batch)
                return True
            except TransientWriteError as exc:
                log.warning("database unreachable, retrying batch of %d fixes in %.1fs: %s",
                            len(batch.fixes), delay, exc)
                if abandon is None:
                    time.sleep(delay)
                elif abandon.wait(delay):
                    return False
                delay = min(delay * 2, RETRY_MAX_S)
            except psycopg.Error as exc:
                log.error("batch of %d fixes rejected by the database: %s",
                          len(batch.fixes), first_line(exc))
                self.stats.reject("db", "write_error", len(batch.fixes))
                return True
