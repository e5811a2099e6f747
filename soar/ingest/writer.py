"""The database side of ingest: one transaction per batch, and the writer thread's
retry loop around it. Rule: every fix of a batch ends stored exactly once or counted
as rejected exactly once, whatever the database or the network does.

Order inside the transaction: the batch's idempotency key (ingest_batches), receivers
and aircraft (the rows others refer to), then the flight writes in the order the
tracker made them (each one statement), then the fixes as one binary COPY. A
flight's row is therefore never committed after its fixes, and a crash loses at most
the batch being written.

A row the database refuses (a NUL in a text, a number out of its column's range, a
flight write whose aircraft is missing) never takes the batch with it: the
transaction is rolled back and the batch written again in careful mode, still one
transaction: receivers, aircraft, flight writes (in order) and the fixes' COPY are each
written in a savepoint, and a refused part is halved, each half in its own savepoint,
down to the single rows refused (bisection, soar.ingest.quarantine: a few bad rows
cost a few dozen small writes, not a savepoint per row). What is refused goes to ingest_quarantine in the
same transaction and is counted: a fix as rejected (`db`, `quarantined`), other rows
in `stats.quarantined`. An aircraft whose row is refused gets a minimal row (its
address only) so its flights still have one.

Exactly once: a retry of a batch whose commit went through but whose
acknowledgement was lost finds its key already stored and skips the batch, counting
what that commit stored (`batches_already_committed`). Caches (receiver ids here,
the router's aircraft rows through `on_aircraft_failed`) learn only what committed.

Errors are sorted by SQLSTATE, never by exception class (soar.db.sqlstate, decided in
one place, `Writer._retryable` and `quarantine.row_error`):
- a row's fault (classes 22, 23, 54): the batch is written again, refused rows
  isolated by savepoints and quarantined; never retried as a whole;
- transient (08, 53, 40001, 40P01, 57P01-57P03, 55P03, statement timeout): the batch
  is written again by the caller (on a new connection, backing off up to 30 s) until it
  commits: this blocks the writer's queue, which pushes back on the router and the
  feeds (and, live, on the disk buffer). TCP keepalives and a statement timeout
  (`WriterConfig`) make a dead connection fail within 30 s instead of hanging;
- fatal (a missing privilege, a missing table, a read-only standby, unknown): nothing
  is discarded. `FatalWriteError` ends the writer with one line naming the fix; the
  pipeline spools the batch and everything behind it and the process exits non-zero
  for its service manager to restart it. A spooled batch that meets the same SQLSTATE
  again at the next start is quarantined whole (`quarantined`, `db`;
  soar.ingest.quarantine.keep_whole) instead of looping; if even that fails, its file
  stays and the start fails with the fix.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from soar.db import sqlfiles, sqlstate
from soar.errors import first_line
from soar.ingest import reader
from soar.ingest.batch import AircraftRow, Batch
from soar.ingest.quarantine import (
    AIRCRAFT,
    FIX,
    FLIGHT_OP,
    RECEIVER,
    FatalWriteError,
    bisected,
    isolated,
    keep_whole,
    raw,
    raw_op,
    reason,
    row_error,
    text,
)
from soar.ingest.stats import IngestStats
from soar.records import DB, QUARANTINED, Fix
from soar.tracker import store
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

# Writes one flight op as one statement and returns the rows it touched (0: skipped,
# then explained by soar.tracker.store.resolve_skipped); supplied by the flight tracker.
FlightOpWriter = Callable[[psycopg.Cursor, object], "int | None"]

@dataclass
class WriterConfig:
    """The writer's connection safety and memory limits."""
    # TCP keepalives (libpq; TCP only: a unix socket cannot go half-open). A peer that
    # vanished is noticed after idle + interval x count seconds without an answer:
    # 10 + 5 x 3 = 25 s, also while waiting for a statement's reply.
    keepalives_idle_s: int = 10
    keepalives_interval_s: int = 5
    keepalives_count: int = 3
    # Data sent but not acknowledged for this long closes the connection (Linux
    # TCP_USER_TIMEOUT): the peer vanished while the writer was sending (a COPY).
    tcp_user_timeout_ms: int = 25_000
    connect_timeout_s: int = 10
    # While the database is unreachable the same batch is tried again after 0.5 s,
    # then twice as long each time up to this: the writer is back within this long
    # after the database is (soar run --retry-max).
    retry_max_s: float = 30.0
    # The server cancels any one statement of the writer's running longer than this
    # (a lock wait, a stuck server); the batch is then retried. Set per transaction,
    # so it holds through PgBouncer. Hundreds of times what a batch's COPY takes
    # (docs/benchmarks.md, "Components"), so only a stuck statement reaches it.
    statement_timeout_ms: int = 30_000
    # Receiver name -> id, least recently used first out; an evicted name is upserted
    # again when next heard. The full OGN network has a few thousand receivers.
    receiver_cache_size: int = 20_000
    # Names whose row the database refused (fixes naming them keep no receiver id),
    # so a hostile name costs one careful batch, not one per batch.
    refused_receivers_size: int = 1_000
    # Idempotency keys (ingest_batches) are kept this long: longer than any retry of a
    # batch, including one spooled to disk and written at the next start ...
    batch_keys_keep_h: float = 168.0
    # ... and pruned this often by the writer (one DELETE after a commit).
    batch_keys_prune_every_s: float = 3600.0


class TransientWriteError(Exception):
    """The database is unreachable; the batch can be tried again."""


class _Outcome:
    """What one attempt at a batch did, applied to the stats and the caches only
    after its commit (an attempt that fails leaves no trace)."""
    __slots__ = ("already", "fixes_stored", "receiver_ids", "refused", "quarantine",
                 "quarantined", "skipped", "superseded", "aircraft_lost")

    def __init__(self) -> None:
        self.already = False                 # committed by an earlier attempt
        self.fixes_stored = 0
        self.receiver_ids: dict[str, int] = {}   # learnt in this transaction
        self.refused: dict[str, str] = {}    # receiver name -> reason
        self.quarantine: list[tuple[str, str, dict]] = []   # (what, reason, raw)
        self.quarantined: Counter = Counter()   # by what
        self.skipped: Counter = Counter()       # (op kind, reason)
        self.superseded: list[tuple[object, UUID]] = []   # (new op, closed flight id)
        self.aircraft_lost: set[int] = set()    # no row at all after this commit

    def quarantine_row(self, what: str, exc: BaseException, values: dict) -> None:
        self.quarantine.append((what, reason(exc), values))
        self.quarantined[what] += 1

    def counts(self) -> dict | None:
        """What a retry needs to count this commit once (ingest_batches.outcome)."""
        out: dict = {}
        if self.quarantined:
            out["quarantined"] = dict(self.quarantined)
        if self.skipped:
            out["flight_ops_skipped"] = {f"{k}:{r}": n for (k, r), n in self.skipped.items()}
        if self.superseded:
            out["flights_superseded"] = len(self.superseded)
        if self.aircraft_lost:
            out["aircraft_lost"] = sorted(self.aircraft_lost)
        return out or None

    @classmethod
    def committed_before(cls, fixes: int, counts: dict | None) -> _Outcome:
        self = cls()
        self.already = True
        self.fixes_stored = fixes
        counts = counts or {}
        self.quarantined.update(counts.get("quarantined", {}))
        for key, n in counts.get("flight_ops_skipped", {}).items():
            kind, why = key.rsplit(":", 1)
            self.skipped[(kind, why)] += n
        # (the superseded flights are counted again, not logged again)
        self.superseded = [(None, None)] * counts.get("flights_superseded", 0)
        self.aircraft_lost = set(counts.get("aircraft_lost", ()))
        return self


class Writer:
    def __init__(self, conninfo: str, stats: IngestStats,
                 write_flight_op: FlightOpWriter | None = None,
                 on_flight_latency: Callable[[object, float], None] | None = None,
                 config: WriterConfig | None = None,
                 on_aircraft_failed: Callable[[set[int]], None] | None = None,
                 on_untracked: Callable[[set[int]], None] | None = None):
        self.conninfo = conninfo
        self.stats = stats
        self.write_flight_op = write_flight_op
        self.on_flight_latency = on_flight_latency
        self.config = config or WriterConfig()
        # Called (from the writer thread) with the ids of aircraft rows handed over in
        # a batch but not in the database after it: the batch was rejected whole, or
        # even the aircraft's minimal row was refused. The router forgets them, so
        # its next fix of the aircraft sends the row again.
        self.on_aircraft_failed = on_aircraft_failed
        # Called (from the writer thread) with the aircraft not to be tracked, re-read
        # every `untracked_refresh_s` by `run`.
        self.on_untracked = on_untracked
        # Committed receiver ids, least recently used first (WriterConfig.receiver_cache_size).
        self.receiver_ids: OrderedDict[str, int] = OrderedDict()
        self.refused_receivers: OrderedDict[str, str] = OrderedDict()   # name -> reason
        self.conn: psycopg.Connection | None = None
        self._pruned: float | None = None    # monotonic time of the last key pruning
        # The batch `run` took from its queue and is not done with (None between
        # batches), for the caller to keep when the writer thread dies or hangs.
        self.writing: Batch | None = None

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            cfg = self.config
            # prepare_threshold=None: no server-side prepared statements, so the same
            # code works through PgBouncer in transaction mode.
            self.conn = psycopg.connect(
                self.conninfo, prepare_threshold=None, application_name="soar-ingest",
                connect_timeout=cfg.connect_timeout_s, keepalives=1,
                keepalives_idle=cfg.keepalives_idle_s,
                keepalives_interval=cfg.keepalives_interval_s,
                keepalives_count=cfg.keepalives_count,
                tcp_user_timeout=cfg.tcp_user_timeout_ms)
        return self.conn

    def _drop_connection(self) -> None:
        if self.conn is not None:       # start the retry on a new connection
            self.conn.close()
            self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def untracked_aircraft(self) -> set[int]:
        """The aircraft not to be tracked, re-read on the writer's connection."""
        return reader.untracked_aircraft(self._connection())

    def write(self, batch: Batch) -> None:
        """Commit `batch` once. Raises TransientWriteError when the database is
        unreachable (write it again: its key makes that safe), or a psycopg.Error that
        is no row's fault (nothing of the batch was committed). Rows the database
        refuses are quarantined and counted, never raised."""
        try:
            conn = self._connection()
            try:
                outcome = self._attempt(conn, batch, careful=False)
            except Exception as exc:   # noqa: BLE001 -- sorted by _row_error, else raised
                if not row_error(exc):
                    raise
                log.warning("batch %s: the database refused a row (%s); writing it again, "
                            "isolating refused rows", batch.key, reason(exc))
                outcome = self._attempt(conn, batch, careful=True)
        except psycopg.Error as exc:
            if self._retryable(exc):
                self._drop_connection()
                raise TransientWriteError(str(exc).strip()) from exc
            if batch.aircraft and self.on_aircraft_failed is not None:
                self.on_aircraft_failed(set(batch.aircraft))
            raise
        self._committed(batch, outcome)
        self._maybe_prune()

    def _retryable(self, exc: psycopg.Error) -> bool:
        """The retry decision: whether a batch that failed with `exc` may be written
        again (TRANSIENT by its SQLSTATE) rather than kept and reported. A lost
        connection can surface without a SQLSTATE when psycopg notices it first; the
        connection's state tells."""
        return sqlstate.classify(exc) is sqlstate.Action.TRANSIENT or (
            self.conn is not None and (self.conn.broken or self.conn.closed))

    # -- one attempt: one transaction -------------------------------------------------

    def _attempt(self, conn: psycopg.Connection, batch: Batch, careful: bool) -> _Outcome:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(QUERIES["statement_timeout"], (f"{self.config.statement_timeout_ms}ms",))
            cur.execute(QUERIES["claim_batch"], (batch.key, len(batch.fixes)))
            if cur.rowcount == 0:
                fixes, counts = cur.execute(QUERIES["committed_batch"], (batch.key,)).fetchone()
                return _Outcome.committed_before(fixes, counts)
            out = _Outcome()
            ids = self._receivers(conn, cur, batch, out, careful)
            self._aircraft(conn, cur, batch, out, careful)
            self._flights(conn, cur, batch, out, careful)
            self._fixes(conn, cur, batch.fixes, ids, out, careful)
            if out.quarantine:
                cur.executemany(QUERIES["quarantine"], [
                    (what, why, Jsonb(values), batch.key) for what, why, values in out.quarantine])
            counts = out.counts()
            if counts is not None or out.fixes_stored != len(batch.fixes):
                cur.execute(QUERIES["record_batch_outcome"],
                            (out.fixes_stored, Jsonb(counts) if counts else None, batch.key))
        return out

    def _receivers(self, conn: psycopg.Connection, cur: psycopg.Cursor, batch: Batch,
                   out: _Outcome, careful: bool) -> dict[str, int]:
        """Receiver ids for the batch's fixes: cached, or upserted (RETURNING) here."""
        cache, refused = self.receiver_ids, self.refused_receivers
        ids: dict[str, int] = {}
        missing = []
        for name in {f.receiver for f in batch.fixes if f.receiver}:
            rid = cache.get(name)
            if rid is None:
                missing.append(name)
            else:
                ids[name] = rid
                cache.move_to_end(name)
        now = datetime.now(UTC)
        rows = []
        # Receivers named by fixes but never heard from directly still need an id.
        for name in missing:
            if name not in batch.receivers and name not in refused:
                rows.append(_name_only(name, now))
        for name, beacon in batch.receivers.items():
            if name in refused:       # the name itself was refused: it would be again
                out.quarantine.append((RECEIVER, refused[name], raw(beacon)))
                out.quarantined[RECEIVER] += 1
                continue
            status = json.dumps(beacon.status) if beacon.status else None
            seen = beacon.time or beacon.received_at
            rows.append((name, beacon.latitude, beacon.longitude, beacon.altitude_m,
                         beacon.version, beacon.platform, status, seen, seen))
        if not rows:
            return ids
        # In key order, as the aircraft below: shard processes upsert the same
        # receivers (every shard names the receivers its fixes came through), and rows
        # locked in one order cannot deadlock; a set's order differs per process.
        rows.sort(key=lambda row: row[0])

        def upsert(part: list) -> dict[str, int]:
            got = {}
            cur.executemany(QUERIES["upsert_receiver"], part, returning=True)
            while True:
                for rid, name in cur.fetchall():
                    got[name] = rid
                if not cur.nextset():
                    break
            return got

        def refuse(row: tuple, exc: BaseException) -> None:
            name = row[0]
            beacon = batch.receivers.get(name)
            out.quarantine_row(RECEIVER, exc, raw(beacon) if beacon else {"name": text(name)})
            if beacon is not None:    # keep at least the name, for the fixes' ids
                got, exc = isolated(conn, upsert, [_name_only(name, now)])
                if exc is None:
                    names_only.append(got)
                    return
            out.refused[name] = reason(exc)

        names_only: list[dict[str, int]] = []
        stored = bisected(conn, rows, upsert, refuse) if careful else [upsert(rows)]
        for got in stored + names_only:
            ids.update(got)
            out.receiver_ids.update(got)
        return ids

    def _aircraft(self, conn: psycopg.Connection, cur: psycopg.Cursor, batch: Batch,
                  out: _Outcome, careful: bool) -> None:
        if not batch.aircraft:
            return
        rows = [_aircraft_row(a) for a in sorted(batch.aircraft.values(), key=lambda a: a.id)]

        def upsert(part: list) -> None:
            cur.executemany(QUERIES["upsert_aircraft"], part)

        def refuse(row: tuple, exc: BaseException) -> None:
            a = batch.aircraft[row[0]]
            out.quarantine_row(AIRCRAFT, exc, raw(a))
            _, exc = isolated(conn, cur.execute, QUERIES["insert_aircraft_minimal"],
                                    (a.id, a.address, a.address_type, a.seen_at, a.seen_at))
            if exc is not None:
                out.aircraft_lost.add(a.id)

        if careful:
            bisected(conn, rows, upsert, refuse)
        else:
            upsert(rows)

    def _flights(self, conn: psycopg.Connection, cur: psycopg.Cursor, batch: Batch,
                 out: _Outcome, careful: bool) -> None:
        if not batch.flight_ops:
            return
        if self.write_flight_op is None:
            raise RuntimeError("flight ops in a batch but no flight op writer configured")

        def write(ops: list) -> tuple[Counter, list]:
            skipped: Counter = Counter()
            superseded: list = []
            for op in ops:
                t0 = time.perf_counter()
                self._flight_op(cur, op, skipped, superseded)
                if self.on_flight_latency:
                    self.on_flight_latency(op, (time.perf_counter() - t0) * 1000.0)
            return skipped, superseded

        def refuse(op, exc: BaseException) -> None:
            out.quarantine_row(FLIGHT_OP, exc, raw_op(op))

        done = (bisected(conn, batch.flight_ops, write, refuse) if careful
                else [write(batch.flight_ops)])
        for skipped, superseded in done:
            out.skipped.update(skipped)
            out.superseded += superseded

    def _flight_op(self, cur: psycopg.Cursor, op, skipped: Counter, superseded: list) -> None:
        """One op; a write that changed no row is explained (and a stale active flight
        that blocks a new one closed) by the tracker's store, in the same transaction."""
        if self.write_flight_op(cur, op) != 0:    # None: a writer that does not say
            return
        why = store.resolve_skipped(cur, op)
        if why.reason == store.SUPERSEDED:
            superseded.append((op, why.closed))
        else:
            skipped[(op.kind, why.reason)] += 1

    def _copy(self, cur: psycopg.Cursor, fixes: list[Fix], ids: dict[str, int]) -> None:
        if not fixes:
            return
        with cur.copy(COPY_FIXES) as copy:
            copy.set_types(FIX_TYPES)
            write = copy.write_row
            for f in fixes:
                write((f.time, f.received_at, f.aircraft_id,
                       ids.get(f.receiver) if f.receiver else None, int(f.source),
                       f.latitude, f.longitude, f.altitude_m, f.ground_speed_kmh, f.track_deg,
                       f.climb_rate_ms, f.turn_rate_degs, f.on_ground, f.signal_db, f.flight_id))

    def _fixes(self, conn: psycopg.Connection, cur: psycopg.Cursor, fixes: list[Fix],
               ids: dict[str, int], out: _Outcome, careful: bool) -> None:
        """One binary COPY; in careful mode bisected down to the refused fixes."""
        if not careful:
            self._copy(cur, fixes, ids)
            out.fixes_stored = len(fixes)
            return

        def copy(part: list[Fix]) -> int:
            self._copy(cur, part, ids)
            return len(part)

        def refuse(f: Fix, exc: BaseException) -> None:
            rid = ids.get(f.receiver) if isinstance(f.receiver, str) else None
            out.quarantine.append((FIX, reason(exc), raw(f, receiver_id=rid)))

        out.fixes_stored = sum(bisected(conn, fixes, copy, refuse))

    # -- after the commit ---------------------------------------------------------------

    def _committed(self, batch: Batch, out: _Outcome) -> None:
        stats, key = self.stats, batch.key
        if out.already:
            stats.batches_already_committed += 1
            log.warning("batch %s of %d fixes was committed by an earlier attempt whose "
                        "acknowledgement was lost: not written again", key, len(batch.fixes))
        stats.fixes_written += out.fixes_stored
        stats.batches += 1
        refused_fixes = len(batch.fixes) - out.fixes_stored
        if refused_fixes:
            stats.reject(DB, QUARANTINED, refused_fixes)
        stats.quarantined.update(out.quarantined)
        stats.flight_ops_skipped.update(out.skipped)
        stats.flights_superseded += len(out.superseded)
        if refused_fixes or out.quarantined:
            log.warning("batch %s: quarantined %d fixes%s (ingest_quarantine)", key,
                        refused_fixes, "".join(f", {n} {w}" for w, n in sorted(out.quarantined.items())))
        if out.skipped:
            log.info("batch %s: flight writes that changed nothing: %s", key,
                     ", ".join(f"{k} {r} x{n}" for (k, r), n in sorted(out.skipped.items())))
        for op, closed in out.superseded:
            if op is not None:
                log.info("flight %s of aircraft %s closed as superseded: its end was lost and "
                         "flight %s started", closed, op.row["aircraft_id"], op.flight_id)
        cache = self.receiver_ids
        cache.update(out.receiver_ids)
        while len(cache) > self.config.receiver_cache_size:
            cache.popitem(last=False)
        refused = self.refused_receivers
        refused.update(out.refused)
        while len(refused) > self.config.refused_receivers_size:
            refused.popitem(last=False)
        if out.aircraft_lost and self.on_aircraft_failed is not None:
            self.on_aircraft_failed(set(out.aircraft_lost))

    def _maybe_prune(self) -> None:
        """Delete idempotency keys older than batch_keys_keep_h, about once every
        batch_keys_prune_every_s, in a transaction of its own."""
        cfg = self.config
        now = time.monotonic()
        if self._pruned is not None and now - self._pruned < cfg.batch_keys_prune_every_s:
            return
        self._pruned = now
        try:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(QUERIES["statement_timeout"], (f"{cfg.statement_timeout_ms}ms",))
                cur.execute(QUERIES["prune_batch_keys"], (timedelta(hours=cfg.batch_keys_keep_h),))
                if cur.rowcount:
                    log.info("deleted %d batch keys older than %g h", cur.rowcount,
                             cfg.batch_keys_keep_h)
        except psycopg.Error as exc:    # the batches are safe; the next hour tries again
            log.warning("could not prune old batch keys: %s", first_line(exc))
            if isinstance(exc, psycopg.OperationalError):
                self._drop_connection()

    # -- the writer thread ---------------------------------------------------------

    def run(self, batches: queue.Queue, untracked_refresh_s: float,
            abandon: threading.Event | None = None) -> list[Batch]:
        """Write every batch from `batches` until END_OF_BATCHES; every
        `untracked_refresh_s` re-read the aircraft not to be tracked and hand them to
        `on_untracked` (an aircraft marked not tracked stops being stored within that).

        Once `abandon` is set (the shutdown deadline passed) it stops retrying and
        returns the batches it did not commit, oldest first: the one it was writing and
        every one still queued up to END_OF_BATCHES; [] after a normal end."""
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
            if self.on_untracked is not None and \
                    time.monotonic() - refreshed >= untracked_refresh_s:
                refreshed = time.monotonic()
                try:
                    self.on_untracked(self.untracked_aircraft())
                except psycopg.Error as exc:
                    log.warning("could not refresh the untracked aircraft: %s", first_line(exc))
            if not self.write_until_done(batch, abandon):
                return [batch, *until_end()]
            self.writing = None

    def write_until_done(self, batch: Batch, abandon: threading.Event | None = None) -> bool:
        """Commit the batch, retrying while the error is transient. True when done with
        it (committed, or quarantined whole after failing the same fatal way twice);
        False when `abandon` was set first (not committed). A fatal error raises
        FatalWriteError, the batch marked with its SQLSTATE (`Batch.fatal`)."""
        delay = min(RETRY_FIRST_S, self.config.retry_max_s)
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
                delay = min(delay * 2, self.config.retry_max_s)
            except psycopg.Error as exc:
                fatal = FatalWriteError(exc)
                if batch.fatal is not None and batch.fatal == fatal.sqlstate:
                    self._drop_connection()             # the same after a restart
                    keep_whole(self._connection, batch, fatal, self.stats)
                    return True
                batch.fatal = fatal.sqlstate
                raise fatal from exc


def _name_only(name: str, now: datetime) -> tuple:
    return (name, None, None, None, None, None, None, now, now)


def _aircraft_row(a: AircraftRow) -> tuple:
    return (a.id, a.address, a.address_type, a.aircraft_type, a.category, a.registration,
            a.callsign, a.model, a.seen_at, a.seen_at)
