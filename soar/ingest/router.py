"""The ingest router: sources -> parse/validate/track -> binary COPY writer.

Three stages joined by bounded queues, so a slow database slows the reader down
instead of growing memory:

    source thread(s) --chunks--> [in queue] --> router thread --batches--> [out queue] --> writer thread

The router thread parses, validates, de-duplicates, upserts aircraft in memory and
runs the flight tracker; it hands the writer a Batch when it holds `batch_size`
fixes or is `batch_age_s` old. Live sources drop a chunk at once on a full queue
and count it per source (the socket reader must keep draining its socket); replays
wait.

Lifecycle rules:
- Nothing waits forever on a dead stage: every queue wait is sliced and checks
  whether the stage on the other side is still there. A thread or parse process
  that dies sets `failed` (a PipelineError naming which and why), which ends the
  feeding loop; `submit` then raises it.
- `close` has a deadline (`shutdown_deadline_s`, or at once when the caller's
  `abandon` event is set: a second signal). What the writer has not committed by
  then (the database down, the writer retrying) is spooled to disk
  (soar.ingest.spool) and written by the next `start`, before new data; both are
  counted (spooled_*, restored_*). Without a spool folder it is counted as lost
  (`db`, `unwritten`), never dropped silently.
- Every message handed to `submit` is counted: routed, dropped (`queue_full`), or
  lost with a dead pipeline (`pipeline_failed`).
- Caches are bounded: de-duplication by its window, aircraft rows by age and count
  (data time), the tracker by its own timeouts.

Sharding (`shard`, soar.ingest.shard): the router keeps the messages its shard owns
and counts the others as dropped (`other_shard`); Mode-S frames and SBS lines are
sorted by address before their decode. Aerotows pair a glider with a tow plane that
another shard may own, so the tracker also follows other shards' OGN gliders and tow planes
("shadow" aircraft: tracked, their fixes never written, counted as `other_shard`
like the rest). A shadow glider's flight writes are dropped (its shard writes them,
tow links included). A shadow tow plane's (OGN type 2 or 8, not an ICAO address: see
_add_ops) are written here too, in the order its tracker made them, from each flight
it saw take off (same deterministic id, same values as its own shard writes; a bare
aircraft row first): so an owned glider's tow link never waits for the other
shard's commit, and, the tow plane's earlier flight being closed by this shard too,
its next takeoff is never refused as a second active flight. Whichever shard writes a create first
stores it, the other's changes nothing (a counted replay skip); an update writes the
same values twice.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from soar.errors import SoarError, first_line
from soar.feeds import sbs
from soar.feeds.parse_pool import BrokenProcessPool, ParsePool, parse_line, unpack
from soar.ingest import validate
from soar.ingest.batch import AircraftRow, Batch
from soar.ingest.shard import Shard
from soar.ingest.spool import Spool
from soar.ingest.stats import IngestStats, fixes_in, fixes_queued
from soar.ingest.writer import END_OF_BATCHES, Writer
from soar.records import (
    DUPLICATE,
    NO_TRACKING,
    OTHER_SHARD,
    PARSE_ERROR,
    PIPELINE_FAILED,
    QUEUE_FULL,
    AddressType,
    Fix,
    Message,
    ReceiverBeacon,
    ServerTime,
    Source,
    split_aircraft_id,
)
from soar.tracker.ops import START_TAKEOFF, CreateFlight
from soar.tracker.rules import GLIDER, TOW_TYPES

log = logging.getLogger(__name__)

_STOP = object()   # closes the router's input queue
SWITCH_INTERVAL_S = 0.0002
# The collector's thresholds while a pipeline runs (Python's default: 700, 10, 10).
# Measured on `make bench` (its three runs, ~19 s; docs/benchmarks.md): at the
# default, the collector ran ~2,470 times for 2.35 s, a 12th of the router thread, and
# the fixes held in a batch for up to 500 ms outlived enough young collections to
# reach the oldest generation, whose full collections paused everything 45-65 ms; at
# these, 17 young collections took 0.36 s and none reached the older generations,
# the process used ~12 % less CPU for the same messages. Nearly everything the
# pipeline allocates dies by reference counting; what the collector is for (cycles)
# is still found, a little later.
GC_THRESHOLDS = (50_000, 20, 20)
# Queue waits are cut in slices this long, so a dead stage on the other side or a
# shutdown is noticed within it.
_SLICE_S = 0.25
# After the deadline, how long close() waits for the writer to hand back what it did
# not commit (it may be inside a database call: statement timeout and keepalives end
# that) and for the router to finish routing what was queued.
_ABANDON_GRACE_S = 60.0
LOST = PIPELINE_FAILED     # reject reason: messages the dead pipeline never handled
UNWRITTEN = "unwritten"      # reject reason (`db`): not committed at shutdown, no spool
PARSE_DIED = "a parse process died"
SERVER_COMMENT = "server_comment"   # reject reason: an APRS-IS server line
# OGN aircraft types another shard's aircraft is followed for (aerotow partners).
_TOW_PARTIES = frozenset({GLIDER, *TOW_TYPES})
_ICAO_ID = int(AddressType.ICAO) << 24    # aircraft id of an ICAO address, minus the address
# An aircraft row unchanged is written again this often (aircraft.last_seen).
AIRCRAFT_REFRESH = timedelta(minutes=10)
# A shadow tow plane's flight id is remembered (its updates written) this long after
# its start (data time): longer than any tow plane flies.
SHADOW_FLIGHTS_KEPT = timedelta(hours=12)


class PipelineError(SoarError):
    """The pipeline stopped: a thread or a parse process died. Its message names which
    and why, on one line."""


def describe(exc: BaseException) -> str:
    """`ValueError: bad thing` (the class name alone when there is no text)."""
    name, text = type(exc).__name__, first_line(exc)
    return name if text == name else f"{name}: {text}"


@dataclass
class PipelineConfig:
    batch_size: int = 5000
    batch_age_s: float = 0.5
    in_queue_chunks: int = 256
    out_queue_batches: int = 4
    # None: a full router queue makes submit wait (replays); a number: wait at most
    # that long, then drop the chunk and count it (live feeds: 0, drop at once, so the
    # socket reader never stalls and the server does not cut the connection).
    drop_after_s: float | None = None
    # Shutdown: how long close() lets the writer commit what is buffered (it may be
    # retrying a database that is down); what is left then is spooled.
    shutdown_deadline_s: float = 30.0
    # Where uncommitted batches go at shutdown and are read back at the next start
    # (a folder per database under it; `soar run`/`replay`: $SOAR_HOME/spool). None:
    # no spool, what is left is counted as lost (`db`, `unwritten`).
    spool_dir: str | Path | None = None
    # Aircraft rows remembered so unchanged ones are not rewritten: a row not written
    # for this long (data time; rewritten at least every 10 min while heard) is
    # forgotten, and beyond this many the oldest are (a forgotten aircraft heard again
    # costs one more upsert). ~200 bytes each.
    aircraft_cache_max_age_s: float = 3600.0
    aircraft_cache_max: int = 100_000
    # OGN relays repeat a beacon up to ~65 s later in the one-minute capture; beyond
    # the window a repeat is stored again (memory: ~2,500 keys per second of window).
    dedup_window_s: int = 120
    expire_every_s: float = 60.0        # data time between flight timeout sweeps
    untracked_refresh_s: float = 300.0  # re-read aircraft.tracked = false this often
    # Processes parsing APRS beside the router (0: parse in the router thread).
    parse_workers: int = 1 if (os.cpu_count() or 1) >= 2 else 0


class Pipeline:
    """The router thread (this class) and the writer thread (`Writer.run`), joined by
    the bounded `outq` of batches; `submit` feeds the bounded `inq` of chunks."""

    def __init__(self, writer: Writer, stats: IngestStats, config: PipelineConfig | None = None,
                 tracker=None, modes_decoder: Callable[[str], object] | None = None,
                 shard: Shard | None = None,
                 sbs_decoder: Callable[[str], object] | None = None):
        self.writer = writer
        writer.on_aircraft_failed = self._forget_aircraft
        self.stats = stats
        self.config = config or PipelineConfig()
        self.tracker = tracker
        self._modes_decoder_factory = modes_decoder
        self._modes_decoders: dict[str, object] = {}
        # SBS lines: one merging decoder per feed (soar.feeds.sbs), in this thread too:
        # the merge is state, like Mode-S CPR.
        self._sbs_decoder_factory = sbs_decoder or sbs.SbsDecoder
        self._sbs_decoders: dict[str, object] = {}
        self.inq: queue.Queue = queue.Queue(self.config.in_queue_chunks)
        self.outq: queue.Queue = queue.Queue(self.config.out_queue_batches)
        stats.queue_depth["router_in"] = self.inq.qsize
        stats.queue_depth["writer_in"] = self.outq.qsize
        # The accounting's in_flight: accepted fixes counted where they wait (stats.py).
        stats.in_flight_at.update(
            router_batch=lambda: len(self.batch.fixes),
            writer_queue=lambda: fixes_queued(self.outq),
            writer_batch=lambda: 0 if self._writer_done.is_set()
            else fixes_in([getattr(self.writer, "writing", None)]),
            left_over=lambda: fixes_in(self._unsent) + fixes_in(self._writer_left))
        self.batch = Batch()
        self.aircraft: dict[int, AircraftRow] = {}
        self.untracked: set[int] = set()
        # De-duplication: second -> {aircraft id: (batch number, index in that batch)}.
        # Bucketed by second so that forgetting old seconds costs nothing per key.
        self._seen: dict[int, dict[int, tuple[int, int]]] = {}
        self._batch_no = 0
        self._newest: datetime | None = None
        self._last_expire: datetime | None = None
        self.server_time: datetime | None = None
        self._last_prune: datetime | None = None
        self._threads: list[threading.Thread] = []
        self._pool: ParsePool | None = None
        self.spool = Spool(Path(self.config.spool_dir), writer.conninfo) \
            if self.config.spool_dir is not None else None
        self.failed: PipelineError | None = None
        # Set by close() when the deadline passes (or on a second signal): the writer
        # stops retrying and hands back what it did not commit; the router stops
        # handing batches to the writer and keeps them in `_unsent`.
        self._abandon = threading.Event()
        self._writer_done = threading.Event()
        self._writer_left: list[Batch] = []
        self._unsent: list[Batch] = []
        self._closed = False
        self._dropping: set[str] = set()   # sources whose drops were logged (once a streak)
        # Sharding: None (or 1 shard) keeps everything. Shadow aircraft: id ->
        # [first fix time, last fix time, OGN aircraft type]; shadow tow planes'
        # flights written here: flight id -> start; their aircraft rows handed to a
        # batch (module docstring).
        self.shard = shard if shard is not None and shard.n > 1 else None
        stats.shard = str(shard) if shard is not None else None
        self._shadow: dict[int, list] = {}
        self._shadow_flights: dict = {}
        self._shadow_rows: set[int] = set()

    # -- lifecycle ------------------------------------------------------------

    def start(self, stop: threading.Event | None = None) -> None:
        """Write what an earlier shutdown spooled (before any new data; `stop`
        interrupts it, leaving the rest spooled), then start the threads."""
        if self.spool is not None:
            self._restore(stop)
        # The writer mostly waits on the network and must then win the GIL back from
        # the CPU-bound router: a 1 ms switch interval (default 5 ms) cut the measured
        # create/complete p99 from ~22/40 ms to ~9/12 ms and raised throughput ~14%;
        # 0.2 ms, with the parse processes niced, to ~5 ms (bench/ingest.py,
        # docs/benchmarks.md: the server runs a flight write in 0.09 ms, the rest of
        # the tail was waiting for a core and for the GIL).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        # What start-up loaded (modules, airports, restored flights) never becomes
        # garbage: out of the collector's generations, full collections stop scanning
        # it (they paused the writer 50-300 ms; docs/benchmarks.md).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        self.untracked = self.writer.untracked_aircraft()
        if self.config.parse_workers:
            try:
                self._pool = ParsePool(self.config.parse_workers)
            except BrokenProcessPool as exc:
                self.failed = PipelineError(f"{PARSE_DIED}: {first_line(exc)}")
                raise self.failed from None
        if self.tracker is not None:
            # A restart continues the flights the database says are active.
            restored = self.writer.load_active(self.tracker.cfg)
            flights, fixes = restored.flights, restored.fixes
            if self.shard is not None:     # this shard's flights only
                owns = self.shard.owns_address
                flights = [f for f in flights if owns(f.aircraft_id & 0xFFFFFF)]
                fixes = {a: fx for a, fx in fixes.items() if owns(a & 0xFFFFFF)}
            self._add_ops(self.tracker.restore(flights, fixes), count=False)
            if restored.closed:
                log.info("closed %d flights left active too long", len(restored.closed))
        for target, name in ((self._router_thread, "soar-router"),
                             (self._writer_thread, "soar-writer")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _restore(self, stop: threading.Event | None) -> None:
        spool, stats = self.spool, self.stats
        spool.prepare()
        for folder, n in spool.others().items():
            log.warning("spool %s holds %d batches for another database: they are written "
                        "when soar runs against it", folder, n)
        with spool.restoring() as mine:
            if not mine:
                log.warning("another soar process is writing the spool %s", spool.folder)
                return
            pending = spool.pending()
            if pending:
                log.info("writing %d spooled batches from %s first", len(pending), spool.folder)
            for path in pending:
                batch = spool.load(path)
                try:
                    done = self.writer.write_until_done(batch, stop)
                except Exception as exc:   # noqa: BLE001 -- named in the error, with its fix
                    raise SoarError(
                        f"cannot write the spooled batch {path}: {describe(exc)}; fix the "
                        "cause, or move the file out of the spool folder to start without "
                        "it") from exc
                if not done:
                    log.warning("interrupted: %d spooled batches left in %s",
                                len(spool.pending()), spool.folder)
                    return
                spool.remove(path)
                stats.restored_batches += 1
                stats.restored_fixes += len(batch.fixes)

    # -- the two threads, guarded: any exception ends the pipeline, named -------------

    def _router_thread(self) -> None:
        try:
            try:
                self._route()
            except BrokenProcessPool as exc:
                self._fail(PARSE_DIED, exc)
            except BaseException as exc:   # noqa: BLE001 -- reported through `failed`
                self._fail("the router thread died", exc)
            if len(self.batch):
                # What was routed before the failure is consistent: keep it.
                self._hand_off()
        except BaseException as exc:   # noqa: BLE001 -- the first failure is the one named
            log.debug("router: handing off after the failure", exc_info=exc)
        finally:
            self._put_end()

    def _writer_thread(self) -> None:
        try:
            self._writer_left = self.writer.run(
                self.outq, self.config.untracked_refresh_s, self._set_untracked,
                abandon=self._abandon)
        except BaseException as exc:   # noqa: BLE001 -- reported through `failed`
            self._fail("the writer thread died", exc)
            batch = getattr(self.writer, "writing", None)
            self._writer_left = [batch] if batch is not None else []
        finally:
            self._writer_done.set()

    def fail(self, where: str, exc: BaseException | None = None) -> None:
        """Stop the pipeline: `where` died (of `exc`). The first failure wins."""
        self._fail(where, exc)

    def _fail(self, where: str, exc: BaseException | None) -> None:
        if self.failed is not None:
            return
        if where == PARSE_DIED:
            detail = (self._pool.death(wait_s=2.0) if self._pool is not None else None) \
                or (describe(exc) if exc is not None else "")
        else:
            detail = describe(exc) if exc is not None else ""
        err = PipelineError(f"{where}: {detail}" if detail else where)
        if exc is not None:
            err.__cause__ = exc
            # The one line is the error; the traceback is for --verbose.
            log.debug("%s", where, exc_info=exc)
        self.failed = err

    def check(self) -> None:
        """For a supervising loop: notice a parse process or thread that died
        without raising (an idle pipeline would not notice until its next chunk)."""
        if self.failed is not None or self._closed:
            return
        if self._pool is not None and self._pool.death():
            self._fail(PARSE_DIED, None)
        for t in self._threads:
            if not t.is_alive():
                self._fail(f"the {t.name} thread stopped", None)

    def _forget_aircraft(self, ids: set[int]) -> None:
        # Called from the writer thread for aircraft rows handed over but not committed:
        # forgetting them makes the router send the row again with the next fix (a row
        # re-added meanwhile is just written again). dict.pop is atomic under the GIL.
        for aid in ids:
            self.aircraft.pop(aid, None)
            self._shadow_rows.discard(aid)

    def _set_untracked(self, untracked: set[int]) -> None:
        # Called from the writer thread; the router reads the attribute (one reference
        # swap, atomic under the GIL).
        self.untracked = untracked

    def close(self, abandon: threading.Event | None = None) -> None:
        """Flush and stop within `shutdown_deadline_s` (sooner once `abandon` is
        set); spool what the writer could not commit by then."""
        if self._closed:
            return
        self._closed = True
        if self._threads:
            self._stop_threads(abandon)
        left, self._writer_left = list(self._writer_left), []
        writer_thread = self._threads[1] if self._threads else None
        if writer_thread is not None and writer_thread.is_alive():
            # Stuck in a database call past the grace: take its batch over; if it
            # commits after all, the batch's key makes the restore skip it.
            log.error("the writer did not return after the shutdown deadline")
            batch = getattr(self.writer, "writing", None)
            if batch is not None:
                left.append(batch)
                self.writer.writing = None
        left += [b for b in _drain(self.outq) if b is not END_OF_BATCHES]
        left += self._unsent
        self._unsent = []
        if self.failed is not None or not self._threads:
            for item in _drain(self.inq):        # never routed: the router is gone
                if item is not _STOP:
                    self._lose(item[0] if type(item) is tuple else item)
        self._keep(left)
        if self._pool is not None:
            self._pool.close()
        if writer_thread is None or not writer_thread.is_alive():
            self.writer.close()

    def _stop_threads(self, abandon: threading.Event | None) -> None:
        router, writer = self._threads
        deadline = time.monotonic() + self.config.shutdown_deadline_s
        abandoned_at = None
        stop_sent = False
        while router.is_alive() or writer.is_alive():
            if not stop_sent and router.is_alive():
                try:
                    self.inq.put(_STOP, timeout=_SLICE_S)
                    stop_sent = True
                except queue.Full:
                    pass
            else:
                (router if router.is_alive() else writer).join(_SLICE_S)
            if abandoned_at is None:
                if abandon is not None and abandon.is_set():
                    log.warning("second signal: spooling what is not written, then exiting")
                elif time.monotonic() >= deadline:
                    log.warning("shutdown deadline (%.0f s) passed with the writer still "
                                "retrying: spooling what is not written",
                                self.config.shutdown_deadline_s)
                else:
                    continue
                self._abandon.set()
                abandoned_at = time.monotonic()
            elif time.monotonic() - abandoned_at > _ABANDON_GRACE_S:
                return

    def _keep(self, batches: list[Batch]) -> None:
        """Spool the batches the database did not acknowledge, or count them lost."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return
        stats = self.stats
        fixes = sum(len(b.fixes) for b in batches)
        if self.spool is None:
            log.error("%d batches (%d fixes) not written and no spool folder: counted as "
                      "lost (db, %s)", len(batches), fixes, UNWRITTEN)
            stats.reject("db", UNWRITTEN, fixes)
            return
        kept = 0
        for i, batch in enumerate(batches):
            try:
                self.spool.add(batch)
            except (OSError, SoarError) as exc:
                rest = batches[i:]
                n = sum(len(b.fixes) for b in rest)
                log.error("cannot spool to %s (%s): %d batches (%d fixes) counted as lost "
                          "(db, %s)", self.spool.folder, exc, len(rest), n, UNWRITTEN)
                stats.reject("db", UNWRITTEN, n)
                break
            kept += 1
            stats.spooled_batches += 1
            stats.spooled_fixes += len(batch.fixes)
        if kept:
            log.warning("spooled %d batches (%d fixes) to %s: they are written at the next "
                        "start", kept, sum(len(b.fixes) for b in batches[:kept]),
                        self.spool.folder)

    def submit(self, chunk: list[Message], source: str | None = None,
               stop: threading.Event | None = None) -> bool:
        """Hand a chunk of messages to the router. False if it was dropped on a full
        queue (counted, per `source`: the feed's name) or, while waiting for room,
        `stop` was set (not taken, not counted: as if never read). Raises
        PipelineError once the pipeline has failed (the chunk counted as lost)."""
        if not chunk:
            return True
        if self.failed is not None:
            self._lose(chunk)
            raise self.failed
        drop_after = self.config.drop_after_s
        if drop_after == 0 and self.inq.full():
            return self._drop(chunk, source)      # not even parsed: nowhere to put it
        item = chunk
        if self._pool is not None and chunk[0].kind == "aprs":
            # Parsing starts before a queue slot is free: at most one chunk more than
            # the queue holds is in memory.
            try:
                item = (chunk, self._pool.submit(chunk))
            except BrokenProcessPool as exc:
                self._fail(PARSE_DIED, exc)
                self._lose(chunk)
                raise self.failed from None
        if drop_after is None:
            return self._put_waiting(item, chunk, stop)
        try:
            if drop_after == 0:
                self.inq.put_nowait(item)
            else:
                self.inq.put(item, timeout=drop_after)
        except queue.Full:
            if item is not chunk:
                item[1].cancel()
            return self._drop(chunk, source)
        self._dropping.discard(source or chunk[0].kind)
        return True

    def _put_waiting(self, item, chunk: list[Message], stop: threading.Event | None) -> bool:
        while True:
            try:
                self.inq.put(item, timeout=_SLICE_S)
                return True
            except queue.Full:
                pass
            if self.failed is not None:
                self._lose(chunk)
                raise self.failed
            if self._threads and not self._threads[0].is_alive():
                self._fail("the router thread stopped", None)
            elif stop is not None and stop.is_set():
                if item is not chunk:
                    item[1].cancel()
                return False

    def _drop(self, chunk: list[Message], source: str | None) -> bool:
        n, kind = len(chunk), chunk[0].kind
        source = source or kind
        stats = self.stats
        stats.messages[kind] += n
        stats.dropped_queue_full += n
        stats.dropped_by_source[source] += n
        stats.reject(kind, QUEUE_FULL, n)
        if source not in self._dropping:      # once a streak: the stats line counts them
            self._dropping.add(source)
            log.warning("router queue full: dropping chunks from %s (counted)", source)
        return False

    def _lose(self, chunk: list[Message]) -> None:
        """Messages the pipeline took but will never handle: it failed."""
        if chunk:
            kind = chunk[0].kind
            self.stats.messages[kind] += len(chunk)
            self.stats.reject(kind, LOST, len(chunk))

    # -- router thread -------------------------------------------------------

    def _route(self) -> None:
        cfg = self.config
        while True:
            try:
                chunk = self.inq.get(timeout=cfg.batch_age_s / 2)
            except queue.Empty:
                chunk = None
            if chunk is _STOP:
                break
            if chunk:
                if not self.batch:
                    self.batch.opened = time.monotonic()   # age counts from the first item
                if type(chunk) is tuple:           # (chunk, its parse in the pool)
                    try:
                        parsed = chunk[1].result()
                    except BaseException:
                        self._lose(chunk[0])
                        raise
                    self._handle(chunk[0], parsed)
                else:
                    self._handle(chunk)
            if self.batch and (len(self.batch.fixes) >= cfg.batch_size
                               or self.batch.age() >= cfg.batch_age_s):
                self._hand_off()
        if self._newest is not None and self.tracker is not None:
            self._add_ops(self.tracker.expire(self._newest), count=False)
        self._hand_off()

    def _hand_off(self) -> None:
        if not len(self.batch):
            self.batch = Batch()
            return
        if not self._put_out(self.batch):
            self._unsent.append(self.batch)      # spooled by close()
        self.batch = Batch()
        self._batch_no += 1
        self._prune_seen()
        self._prune_aircraft()

    def _put_out(self, batch: Batch) -> bool:
        """To the writer, waiting while it is busy; False once it stopped taking
        batches (shutdown deadline passed, or it died)."""
        while not (self._abandon.is_set() or self._writer_done.is_set()):
            try:
                self.outq.put(batch, timeout=_SLICE_S)
                return True
            except queue.Full:
                pass
        return False

    def _put_end(self) -> None:
        # The writer, even abandoning, reads up to END_OF_BATCHES: room comes.
        while not self._writer_done.is_set():
            try:
                self.outq.put(END_OF_BATCHES, timeout=_SLICE_S)
                return
            except queue.Full:
                pass

    def _prune_aircraft(self) -> None:
        """Forget aircraft rows not written for `aircraft_cache_max_age_s` (data
        time, checked every `expire_every_s`), and the oldest beyond the cap."""
        cfg, cache = self.config, self.aircraft
        newest = self._newest
        if newest is not None and (self._last_prune is None or (
                newest - self._last_prune).total_seconds() >= cfg.expire_every_s):
            self._last_prune = newest
            horizon = newest - timedelta(seconds=cfg.aircraft_cache_max_age_s)
            for aid in [a for a, row in cache.items() if row.seen_at < horizon]:
                del cache[aid]
            if self._shadow:
                for aid in [a for a, seen in self._shadow.items() if seen[1] < horizon]:
                    del self._shadow[aid]
                self._shadow_rows &= self._shadow.keys()
            if self._shadow_flights:
                since = newest - SHADOW_FLIGHTS_KEPT
                for fid in [f for f, t in self._shadow_flights.items() if t < since]:
                    del self._shadow_flights[fid]
        excess = len(cache) - cfg.aircraft_cache_max
        if excess > 0:
            # Insertion order: the first keys are the rows written longest ago (a
            # rewrite keeps its place, so an aircraft heard all along may go: it is
            # written once more). A tenth more than needed, so this runs rarely.
            for aid in list(itertools.islice(cache, excess + cfg.aircraft_cache_max // 10)):
                del cache[aid]

    def _prune_seen(self) -> None:
        if self._newest is None:
            return
        horizon = int(self._newest.timestamp()) - self.config.dedup_window_s
        for second in [s for s in self._seen if s < horizon]:
            del self._seen[second]

    def _decoder(self, receiver: str):
        dec = self._modes_decoders.get(receiver)
        if dec is None:
            dec = self._modes_decoders[receiver] = self._modes_decoder_factory(receiver)
        return dec

    def _sbs_decoder(self, receiver: str):
        dec = self._sbs_decoders.get(receiver)
        if dec is None:
            dec = self._sbs_decoders[receiver] = self._sbs_decoder_factory(receiver)
        return dec

    def _handle(self, chunk: list[Message], parsed: list | None = None) -> None:
        """`parsed`: the chunk's APRS results from the parse pool, if it went there."""
        stats = self.stats
        shard = self.shard
        # Without a shard every message is this process's; with one, a message with
        # no address (server line, parse error, Mode-A/C) is shard 0's.
        first = shard is None or shard.k == 0
        i = 0
        try:
            for i, msg in enumerate(chunk):
                kind = msg.kind
                stats.messages[kind] += 1
                mine = first
                if parsed is not None:
                    result = parsed[i]
                    if type(result) is tuple:        # a Fix packed by the parse process
                        result = unpack(result, msg.received_at)
                elif kind == "aprs":
                    result = parse_line(msg.payload, msg.received_at)
                elif kind == "sbs":
                    if shard is not None:
                        # As Mode-S below; an SBS decode's result never depends on
                        # other aircraft's lines, so another shard's needs no advance.
                        mine, address = shard.owns_sbs(msg.payload)
                        if not mine and (address is None
                                         or _ICAO_ID | address not in self._shadow):
                            stats.reject(kind, OTHER_SHARD)
                            continue
                    try:
                        result = self._sbs_decoder(msg.receiver).decode(
                            msg.payload, msg.received_at)
                    except Exception:   # noqa: BLE001 -- the decoder promises not to raise
                        log.debug("SBS decoder raised", exc_info=True)
                        result = PARSE_ERROR
                else:
                    if shard is not None:
                        mine, address = shard.owns_frame(msg.payload)
                        if not mine and (address is None
                                         or _ICAO_ID | address not in self._shadow):
                            if address is not None:   # its decode would have moved the clock
                                self._decoder(msg.receiver).advance(msg.received_at)
                            stats.reject(kind, OTHER_SHARD)
                            continue
                    try:
                        result = self._decoder(msg.receiver).decode(
                            msg.payload, msg.received_at, msg.signal_db)
                    except Exception:   # noqa: BLE001 -- the decoder promises not to raise
                        log.debug("decoder raised", exc_info=True)
                        result = PARSE_ERROR
                if type(result) is ServerTime:
                    self.server_time = result.time or self.server_time   # every shard's
                    stats.reject(kind, SERVER_COMMENT if first else OTHER_SHARD)
                elif isinstance(result, Fix):
                    if shard is not None and not shard.owns_address(result.address):
                        self._follow(kind, result)
                        continue
                    if result.cleaned:
                        stats.count_cleaned(kind, result.cleaned)
                    self._accept(kind, result)
                elif not mine and type(result) is not ReceiverBeacon:
                    # No address and not shard 0, or a shadow aircraft's Mode-S frame.
                    stats.reject(kind, OTHER_SHARD)
                elif result is None:
                    stats.state_only += 1     # e.g. Mode-S velocity or identification
                elif isinstance(result, ReceiverBeacon):
                    if shard is not None and not shard.owns_receiver(result.name):
                        stats.reject(kind, OTHER_SHARD)
                        continue
                    reason = validate.check_receiver(result)
                    if reason is not None:
                        stats.reject(kind, reason)
                        continue
                    if result.cleaned:
                        stats.count_cleaned(kind, result.cleaned)
                    stats.receiver_beacons += 1
                    self.batch.add_receiver(result)
                else:   # a Reject; anything else a decoder returns is its bug, counted
                    stats.reject(kind, result if isinstance(result, str) else PARSE_ERROR)
        except BaseException:
            # The message being handled and the rest of the chunk die with the router:
            # counted (the failing one was already counted in `messages`).
            kind, rest = chunk[i].kind, len(chunk) - i
            stats.messages[kind] += rest - 1
            stats.reject(kind, LOST, rest)
            raise

    def _accept(self, kind: str, fix: Fix) -> None:
        stats = self.stats
        reason = validate.check(fix)
        if reason is not None:
            stats.reject(kind, reason)
            return
        aid = fix.aircraft_id
        if fix.no_tracking or aid in self.untracked:
            stats.reject(kind, NO_TRACKING)
            return
        second = int(fix.time.timestamp())
        bucket = self._seen.get(second)
        if bucket is None:
            bucket = self._seen[second] = {}
        seen = bucket.get(aid)
        if seen is not None:
            stats.reject(kind, DUPLICATE)
            # Keep the copy heard with the best signal while it is still unwritten.
            if seen[0] == self._batch_no:
                kept = self.batch.fixes[seen[1]]
                if (fix.signal_db or -1e9) > (kept.signal_db or -1e9):
                    fix.flight_id = kept.flight_id
                    # received_at stays the first copy's: when soar first heard the
                    # position, the order the tracker met it in (soar backfill flights
                    # reads fixes again in that order).
                    fix.received_at = kept.received_at
                    self.batch.fixes[seen[1]] = fix
            return
        bucket[aid] = (self._batch_no, len(self.batch.fixes))
        self._remember_aircraft(aid, fix)
        if self.tracker is not None:
            self._track(fix)
        elif self._newest is None or fix.time > self._newest:
            self._newest = fix.time
        stats.fixes_accepted += 1
        self.batch.fixes.append(fix)
        if len(self.batch.fixes) >= self.config.batch_size:
            self._hand_off()

    def _maybe_expire(self, t: datetime) -> None:
        if self._last_expire is None:
            self._last_expire = t
        elif (t - self._last_expire).total_seconds() >= self.config.expire_every_s:
            self._last_expire = t
            self._add_ops(self.tracker.expire(t))

    def _add_ops(self, ops: list, count: bool = True) -> None:
        """The tracker's flight writes into the batch (counted by kind); with a shard,
        only its own aircraft's, and a shadow tow plane's takeoff before the tow link
        that names it."""
        shard, batch, flights = self.shard, self.batch, self.stats.flights
        if shard is None:
            batch.flight_ops.extend(ops)
            if count:
                for op in ops:
                    flights[op.kind] += 1
            return
        for op in ops:
            create = type(op) is CreateFlight
            aid = op.row["aircraft_id"] if create else op.aircraft_id
            if aid is None or shard.owns_address(aid & 0xFFFFFF):
                batch.flight_ops.append(op)
                if count:
                    flights[op.kind] += 1
                continue
            seen = self._shadow.get(aid)
            if seen is None or seen[2] not in TOW_TYPES or aid >> 24 == AddressType.ICAO:
                # A glider: its shard writes it. An ICAO address: its ADS-B frames
                # before it was followed went to its shard only, so this view of it
                # may differ (its first fix, even its flights): its shard writes it.
                continue
            if create:
                # Seen from the ground: the id its own shard makes. A flight first seen
                # in the air here may be one its shard saw take off (a later start).
                if op.kind != START_TAKEOFF:
                    continue
                self._shadow_flights[op.flight_id] = op.row["started_at"]
                if aid not in self._shadow_rows:
                    # Address and first fix only: what its shard's rows say wins (NULLs
                    # keep it), and the first fix is the same one.
                    address_type, address = split_aircraft_id(aid)
                    batch.aircraft.setdefault(aid, AircraftRow(
                        aid, address, address_type, None, None, None, None, None, seen[0]))
                    self._shadow_rows.add(aid)
            elif op.flight_id not in self._shadow_flights:
                continue
            batch.flight_ops.append(op)
            self.stats.shadow_flight_ops += 1

    def _follow(self, kind: str, fix: Fix) -> None:
        """Another shard's fix: dropped (`other_shard`); an OGN glider's or tow plane's
        (and every later fix of that aircraft) also goes through the same checks into
        the tracker, as a shadow (soar/ingest/shard.py)."""
        self.stats.reject(kind, OTHER_SHARD)
        if self.tracker is None:
            return
        aid = fix.aircraft_id
        seen = self._shadow.get(aid)
        if seen is None and (fix.source != Source.OGN or fix.aircraft_type not in _TOW_PARTIES):
            return
        if validate.check(fix) is not None or fix.no_tracking or aid in self.untracked:
            return
        second = int(fix.time.timestamp())
        bucket = self._seen.get(second)
        if bucket is None:
            bucket = self._seen[second] = {}
        if aid in bucket:
            return
        bucket[aid] = (-1, -1)           # never this batch's: nothing to replace
        if seen is None:
            seen = self._shadow[aid] = [fix.time, fix.time, fix.aircraft_type]
        else:
            if fix.time > seen[1]:
                seen[1] = fix.time
            if fix.aircraft_type is not None:
                seen[2] = fix.aircraft_type
        self.stats.shadow_fixes += 1
        self._track(fix)

    def _track(self, fix: Fix) -> None:
        """The tracker's ops for a fix (owned or shadow), its timeout sweep, data time."""
        ops = self.tracker.process(fix)
        if ops:
            self._add_ops(ops)
        self._maybe_expire(fix.time)
        if self._newest is None or fix.time > self._newest:
            self._newest = fix.time

    def _remember_aircraft(self, aid: int, fix: Fix) -> None:
        known = self.aircraft.get(aid)
        # Nearly every fix says nothing new about its aircraft: answered without
        # building a row (py-spy: building it was 5 % of the router thread).
        if (known is not None
                and (fix.aircraft_type is None or fix.aircraft_type == known.aircraft_type)
                and (not fix.registration or fix.registration == known.registration)
                and (not fix.callsign or fix.callsign == known.callsign)
                and (not fix.model or fix.model == known.model)
                and fix.time - known.seen_at <= AIRCRAFT_REFRESH):
            return
        row = AircraftRow(
            aid, fix.address, fix.address_type,
            fix.aircraft_type if fix.aircraft_type is not None else (known and known.aircraft_type),
            known.category if known else None,
            fix.registration or (known and known.registration) or None,
            fix.callsign or (known and known.callsign) or None,
            fix.model or (known and known.model) or None,
            fix.time)
        if known is None or known.key() != row.key() or \
                fix.time - known.seen_at > AIRCRAFT_REFRESH:
            self.aircraft[aid] = row
            self.batch.aircraft[aid] = row


def _drain(q: queue.Queue) -> list:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out
