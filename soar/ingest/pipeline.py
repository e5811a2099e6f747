"""The ingest pipeline: sources -> router -> binary COPY writer, joined by bounded
queues, so a slow database slows the reader down instead of growing memory:

    source thread(s) --chunks--> [in queue] --> router thread --batches--> [out queue] --> writer thread

The router thread runs a Router (soar.ingest.router: one message at a time) and
hands the writer a Batch when it holds `batch_size` fixes or is `batch_age_s` old.
Live sources never wait on a full queue (the socket reader must keep draining its
socket); replays wait.

Overflow (live feeds with an `overflow_dir`): a chunk that finds the router queue
full goes to the disk buffer (soar.ingest.overflow) instead of being dropped, and
so does every later live chunk while anything waits there, so the order is kept.
The feeder thread takes chunks back, oldest first, into the router queue, waiting
for room as a replay does (APRS chunks go to the parse pool as they leave the disk,
not as they enter it). A chunk between the disk and the queue is "in transit": live
chunks go to the disk meanwhile, so a new chunk never overtakes an old one. A chunk
is dropped (`queue_full`, counted, `overflow_refused` too) only when the buffer
refuses it (its size budget, the free-space floor). At `close` the feeder stops
first; what still waits on disk stays there and is routed first at the next start,
before new live data. Without an `overflow_dir`, a full queue drops the chunk.

Lifecycle rules:
- Nothing waits forever on a dead stage: every queue wait is sliced and checks
  whether the stage on the other side is still there. A thread or parse process
  that dies sets `failed` (a PipelineError naming which and why), which ends the
  feeding loop; `submit` then raises it.
- `close` has a deadline (`shutdown_deadline_s`, or at once when the caller's
  `abandon` event is set: a second signal). It counts from the stop signal: a
  finite input that simply ended (a replay given its `stop` event) is written to
  the end however long that takes, until a signal. What the writer has not committed by
  then (the database down, the writer retrying) is spooled to disk
  (soar.ingest.spool) and written by the next `start`, before new data; both are
  counted (spooled_*, restored_*). Without a spool folder it is counted as lost
  (`db`, `unwritten`), never dropped silently.
- Every message handed to `submit` is counted: routed, waiting in the disk buffer,
  dropped (`queue_full`), or lost with a dead pipeline (`pipeline_failed`).
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from soar.errors import SoarError, first_line
from soar.feeds.parse_pool import BrokenProcessPool, ParsePool
from soar.ingest import reader
from soar.ingest.batch import Batch
from soar.ingest.overflow import DiskBuffer, Overflow, OverflowConfig
from soar.ingest.quarantine import FatalWriteError
from soar.ingest.router import Router, RouterConfig
from soar.ingest.shard import Shard
from soar.ingest.spool import Spool
from soar.ingest.stats import IngestStats, fixes_in, fixes_queued
from soar.ingest.writer import END_OF_BATCHES, Writer
from soar.records import DB, PIPELINE_FAILED, QUEUE_FULL, UNWRITTEN, Message

log = logging.getLogger(__name__)

_STOP = object()   # closes the router's input queue
# The writer mostly waits on the network and must then win the GIL back from the
# CPU-bound router: a switch interval shorter than Python's 5 ms cut its flight-write
# tail (docs/benchmarks.md, "Where create/complete latency goes").
SWITCH_INTERVAL_S = 0.0002
# The collector's thresholds while a pipeline runs (Python's default: 700, 10, 10):
# the fixes held in a batch outlived young collections into the oldest generation,
# whose full collections paused every thread. Nearly everything the pipeline
# allocates dies by reference counting; what the collector is for (cycles) is still
# found, a little later. Measured: docs/benchmarks.md, "The collector's thresholds".
GC_THRESHOLDS = (50_000, 20, 20)
# Queue waits are cut in slices this long, so a dead stage on the other side or a
# shutdown is noticed within it.
_SLICE_S = 0.25
PARSE_DIED = "a parse process died"

# Builds the pipeline's writer with the callbacks it is given (Writer's keywords
# on_aircraft_failed and on_untracked: the router's).
WriterFactory = Callable[..., Writer]


class PipelineError(SoarError):
    """The pipeline stopped: a thread or a parse process died. Its message names which
    and why, on one line."""


@dataclass
class PipelineConfig(RouterConfig):
    in_queue_chunks: int = 256
    out_queue_batches: int = 4
    # None: a full router queue makes submit wait (replays); a number: wait at most
    # that long, then drop the chunk and count it (live feeds: 0, drop at once, so the
    # socket reader never stalls and the server does not cut the connection).
    drop_after_s: float | None = None
    # Shutdown, one budget from the stop signal: the feed readers' joins and the
    # writer committing what is buffered (it may be retrying a database that is down)
    # share `shutdown_deadline_s`; what is left then is spooled. After it, close() waits
    # at most `abandon_grace_s` for the writer to hand back what it did not commit (it
    # may be inside a database call: the statement timeout and keepalives end that) and
    # for the router to finish what was queued. Deadline + grace + spooling stay below
    # the service units' TimeoutStopSec (90 s) with a margin: 30 + 30 + 30 s
    # (tests/acceptance/test_service_units.py checks it).
    shutdown_deadline_s: float = 30.0
    abandon_grace_s: float = 30.0
    # Where uncommitted batches go at shutdown and are read back at the next start
    # (a folder per database under it; `soar run`/`replay`: $SOAR_HOME/spool). None:
    # no spool, what is left is counted as lost (`db`, `unwritten`).
    spool_dir: str | Path | None = None
    untracked_refresh_s: float = 300.0  # re-read aircraft.tracked = false this often
    # Processes parsing APRS beside the router (0: parse in the router thread).
    parse_workers: int = 1 if (os.cpu_count() or 1) >= 2 else 0
    # Live feeds (drop_after_s set): where chunks that find the router queue full wait
    # on disk (soar.ingest.overflow), routed in order once there is room; it persists
    # across restarts (`soar run`: $SOAR_HOME/overflow/<database>). None: drop them.
    overflow_dir: str | Path | None = None
    # The disk buffer's size budget and the free space it leaves on its file system;
    # past either, live chunks are dropped (queue_full) and counted.
    overflow_budget_bytes: int = OverflowConfig.budget_bytes
    overflow_free_floor_bytes: int = OverflowConfig.free_floor_bytes


class Pipeline:
    """The router thread (running `router`) and the writer thread (`Writer.run`),
    joined by the bounded `outq` of batches; `submit` feeds the bounded `inq` of
    chunks. `make_writer` builds the writer, given the router's callbacks."""

    def __init__(self, make_writer: WriterFactory, stats: IngestStats,
                 config: PipelineConfig | None = None, tracker=None,
                 decoders: dict[str, Callable[[str], object]] | None = None,
                 shard: Shard | None = None):
        self.stats = stats
        self.config = config or PipelineConfig()
        self.router = Router(self.config, stats, self._send, tracker=tracker,
                             decoders=decoders, shard=shard)
        self.writer = make_writer(on_aircraft_failed=self.router.forget_aircraft,
                                  on_untracked=self.router.set_untracked)
        self.inq: queue.Queue = queue.Queue(self.config.in_queue_chunks)
        self.outq: queue.Queue = queue.Queue(self.config.out_queue_batches)
        stats.queue_depth["router_in"] = self.inq.qsize
        stats.queue_depth["writer_in"] = self.outq.qsize
        # The accounting's in_flight: accepted fixes counted where they wait (stats.py).
        stats.in_flight_at.update(
            router_batch=lambda: len(self.router.batch.fixes),
            writer_queue=lambda: fixes_queued(self.outq),
            writer_batch=lambda: 0 if self._writer_done.is_set()
            else fixes_in([self.writer.writing]),
            left_over=lambda: fixes_in(self._unsent) + fixes_in(self._writer_left))
        self._threads: list[threading.Thread] = []
        self._pool: ParsePool | None = None
        self.spool = Spool(Path(self.config.spool_dir), self.writer.conninfo) \
            if self.config.spool_dir is not None else None
        self.failed: PipelineError | None = None
        # Set by close() when the deadline passes (or on a second signal): the writer
        # stops retrying and hands back what it did not commit; the router stops
        # handing batches to the writer and they are kept in `_unsent`.
        self._abandon = threading.Event()
        self._writer_done = threading.Event()
        self._writer_left: list[Batch] = []
        self._unsent: list[Batch] = []
        self._closed = False
        self._dropping: set[str] = set()   # sources whose drops were logged (once a streak)
        # The disk buffer in use (opened by start, live feeds only) and its feeder thread.
        self.overflow: Overflow | None = None
        self._feeder: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------

    def start(self, stop: threading.Event | None = None) -> None:
        """Write what an earlier shutdown spooled (before any new data; `stop`
        interrupts it, leaving the rest spooled), then start the threads."""
        if self.spool is not None:
            self._restore(stop)
        self._open_overflow()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        # What start-up loaded (modules, airports, restored flights) never becomes
        # garbage: out of the collector's generations, full collections stop scanning
        # it (they paused the writer; docs/benchmarks.md).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        router = self.router
        state = reader.read_start(self.writer.conninfo, router.tracker and router.tracker.cfg,
                                  track=router.tracker is not None,
                                  connect_timeout_s=self.writer.config.connect_timeout_s)
        router.set_untracked(state.untracked)
        if self.config.parse_workers:
            try:
                self._pool = ParsePool(self.config.parse_workers)
            except BrokenProcessPool as exc:
                self.failed = PipelineError(f"{PARSE_DIED}: {first_line(exc)}")
                raise self.failed from None
        if state.restored is not None:
            # A restart continues the flights the database says are active.
            router.restore(state.restored)
        for target, name in ((self._router_thread, "soar-router"),
                             (self._writer_thread, "soar-writer")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        if self.overflow is not None:
            self._feeder = threading.Thread(target=self._feeder_thread, name="soar-overflow",
                                            daemon=True)
            self._feeder.start()

    def _open_overflow(self) -> None:
        """The disk buffer, for live feeds only (a replay waits instead); what an
        earlier run left there counts in now and is routed before new live data."""
        cfg = self.config
        if cfg.overflow_dir is None or cfg.drop_after_s is None:
            return
        buf = DiskBuffer(Path(cfg.overflow_dir), OverflowConfig(
            budget_bytes=cfg.overflow_budget_bytes,
            free_floor_bytes=cfg.overflow_free_floor_bytes))
        self.overflow = Overflow(buf, self.inq, self.stats, parsing=self._parsing,
                                 failed=lambda: self.failed is not None,
                                 router_stopped=self._router_stopped, lose=self._lose,
                                 slice_s=_SLICE_S)
        self.stats.disk_buffer = buf
        self.stats.overflow_resumed = buf.messages
        if buf.messages:
            log.info("disk buffer %s: %d messages (%d bytes) from an earlier run are routed "
                     "first", buf.folder, buf.messages, buf.bytes)

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
                        f"cannot write the spooled batch {path}: {first_line(exc, named=True)}; "
                        "fix the cause, or move the file out of the spool folder to start "
                        "without it") from exc
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
            # What was routed before the failure is consistent: keep it.
            self.router.flush()
        except BaseException as exc:   # noqa: BLE001 -- the first failure is the one named
            log.debug("router: handing off after the failure", exc_info=exc)
        finally:
            self._put_end()

    def _writer_thread(self) -> None:
        try:
            self._writer_left = self.writer.run(
                self.outq, self.config.untracked_refresh_s, abandon=self._abandon)
        except BaseException as exc:   # noqa: BLE001 -- reported through `failed`
            self._fail("the writer thread died", exc)
            batch = self.writer.writing
            self._writer_left = [batch] if batch is not None else []
        finally:
            self._writer_done.set()

    def fail(self, where: str, exc: BaseException | None = None) -> None:
        """Stop the pipeline: `where` died (of `exc`). The first failure wins."""
        self._fail(where, exc)

    def _fail(self, where: str, exc: BaseException | None) -> None:
        if self.failed is not None:
            return
        detail = first_line(exc, named=True) if exc is not None else ""
        if where == PARSE_DIED and self._pool is not None:
            detail = self._pool.death(wait_s=2.0) or detail
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
        for t in (*self._threads, *([self._feeder] if self._feeder else [])):
            if not t.is_alive():
                self._fail(f"the {t.name} thread stopped", None)

    def close(self, abandon: threading.Event | None = None,
              deadline_at: float | None = None, stop: threading.Event | None = None) -> None:
        """Flush and stop within `shutdown_deadline_s` (sooner once `abandon` is
        set); spool what the writer could not commit by then. With `stop` (the
        caller's stop signal) not yet set, the input ended by itself: the deadline
        starts only when `stop` is set, so a replay is written to its end."""
        if self._closed:
            return
        self._closed = True
        if self._threads:
            self._stop_threads(abandon, deadline_at, stop)
        left, self._writer_left = list(self._writer_left), []
        writer_thread = self._threads[1] if self._threads else None
        if writer_thread is not None and writer_thread.is_alive():
            # Stuck in a database call past the grace: take its batch over; if it
            # commits after all, the batch's key makes the restore skip it.
            log.error("the writer did not return after the shutdown deadline")
            batch = self.writer.writing
            if batch is not None:
                left.append(batch)
                self.writer.writing = None
        left += [b for b in _drain(self.outq) if b is not END_OF_BATCHES]
        left += self._unsent
        self._unsent = []
        cause = self.failed.__cause__ if self.failed is not None else None
        if isinstance(cause, FatalWriteError):
            # Kept because of this error: the same error at the next start quarantines
            # them (Writer.write_until_done) instead of failing every start.
            for b in left:
                b.fatal = b.fatal or cause.sqlstate
        if self.failed is not None or not self._threads:
            for item in _drain(self.inq):        # never routed: the router is gone
                if item is not _STOP:
                    self._lose(item[0] if type(item) is tuple else item)
        self._keep(left)
        if self.overflow is not None:
            self.overflow.close()
        if self._pool is not None:
            self._pool.close()
        if writer_thread is None or not writer_thread.is_alive():
            self.writer.close()

    def _stop_threads(self, abandon: threading.Event | None, deadline_at: float | None,
                      stop: threading.Event | None) -> None:
        router, writer = self._threads
        # The deadline counts from the stop signal when the caller knows when that was
        # (run_live: its readers' joins spent part of the budget already); with a
        # `stop` not yet set, from the moment it is or a stage fails.
        budget = self.config.shutdown_deadline_s
        if deadline_at is not None:
            deadline = deadline_at
        elif stop is not None and not stop.is_set() and self.failed is None:
            deadline = None
        else:
            deadline = time.monotonic() + budget
        abandoned_at = None
        stop_sent = False
        if self.overflow is not None:
            self.overflow.stopping.set()
        feeder = self._feeder
        while router.is_alive() or writer.is_alive():
            if feeder is not None and feeder.is_alive():
                # Its chunk in transit reaches the queue first: _STOP comes after it.
                feeder.join(_SLICE_S)
            elif not stop_sent and router.is_alive():
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
                elif deadline is None:
                    if stop.is_set() or self.failed is not None:
                        deadline = time.monotonic() + budget
                    continue
                elif time.monotonic() >= deadline:
                    log.warning("shutdown deadline (%.0f s) passed with the writer still "
                                "writing: spooling what is not written", budget)
                else:
                    continue
                self._abandon.set()
                abandoned_at = time.monotonic()
            elif time.monotonic() - abandoned_at > self.config.abandon_grace_s:
                if (self.failed is not None and router.is_alive()
                        and self._writer_done.is_set()):
                    # Failed with the writer gone: the router routes what was queued
                    # before the failure into `_unsent` (spooled: a revoked INSERT keeps
                    # everything) and ends, as nothing more is taken. Leaving before it
                    # ended lost what it routed after close() took `_unsent`, uncounted
                    # (a busy machine: the backlog outlived the grace).
                    continue
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
                      "lost (%s, %s)", len(batches), fixes, DB, UNWRITTEN)
            stats.reject(DB, UNWRITTEN, fixes)
            return
        kept = 0
        for i, batch in enumerate(batches):
            try:
                self.spool.add(batch)
            except (OSError, SoarError) as exc:
                rest = batches[i:]
                n = sum(len(b.fixes) for b in rest)
                log.error("cannot spool to %s (%s): %d batches (%d fixes) counted as lost "
                          "(%s, %s)", self.spool.folder, exc, len(rest), n, DB, UNWRITTEN)
                stats.reject(DB, UNWRITTEN, n)
                break
            kept += 1
            stats.spooled_batches += 1
            stats.spooled_fixes += len(batch.fixes)
        if kept:
            log.warning("spooled %d batches (%d fixes) to %s: they are written at the next "
                        "start", kept, sum(len(b.fixes) for b in batches[:kept]),
                        self.spool.folder)

    # -- the feeds' side --------------------------------------------------------

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
        if drop_after is not None and self.overflow is not None:
            if not self.overflow.submit(chunk, drop_after):
                return self._drop(chunk, source)      # the disk refused it
            self._dropping.discard(source or chunk[0].kind)
            return True
        if drop_after == 0 and self.inq.full():
            return self._drop(chunk, source)      # not even parsed: nowhere to put it
        item = self._parsing(chunk)
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

    def _parsing(self, chunk: list[Message]):
        """The queue item for a chunk: an APRS chunk with its parse started in the pool
        (before a queue slot is free: at most one chunk more than the queue holds is in
        memory), any other chunk as it is."""
        if self._pool is None or chunk[0].kind != "aprs":
            return chunk
        try:
            return (chunk, self._pool.submit(chunk))
        except BrokenProcessPool as exc:
            self._fail(PARSE_DIED, exc)
            self._lose(chunk)
            raise self.failed from None

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
            self.stats.reject(kind, PIPELINE_FAILED, len(chunk))

    # -- feeder thread: disk buffer -> router queue ------------------------------

    def _feeder_thread(self) -> None:
        try:
            self.overflow.feed_back()
        except BrokenProcessPool as exc:
            self._fail(PARSE_DIED, exc)
        except BaseException as exc:   # noqa: BLE001 -- reported through `failed`
            self._fail("the overflow feeder thread died", exc)

    def _router_stopped(self) -> bool:
        """True once the pipeline failed; a router thread found dead fails it first."""
        if self.failed is None and self._threads and not self._threads[0].is_alive():
            self._fail("the router thread stopped", None)
        return self.failed is not None

    # -- router thread -------------------------------------------------------

    def _route(self) -> None:
        router, cfg = self.router, self.config
        while True:
            try:
                chunk = self.inq.get(timeout=cfg.batch_age_s / 2)
            except queue.Empty:
                chunk = None
            if chunk is _STOP:
                break
            if chunk:
                router.receiving()
                if type(chunk) is tuple:           # (chunk, its parse in the pool)
                    try:
                        parsed = chunk[1].result()
                    except BaseException:
                        self._lose(chunk[0])
                        raise
                    router.handle(chunk[0], parsed)
                else:
                    router.handle(chunk)
            if router.due():
                router.flush()
        router.finish()

    def _send(self, batch: Batch) -> None:
        """The router's hand-off: to the writer, waiting while it is busy; kept for
        close() to spool once the writer stopped taking batches (shutdown deadline
        passed, or it died)."""
        while not (self._abandon.is_set() or self._writer_done.is_set()):
            try:
                self.outq.put(batch, timeout=_SLICE_S)
                return
            except queue.Full:
                pass
        self._unsent.append(batch)

    def _put_end(self) -> None:
        # The writer, even abandoning, reads up to END_OF_BATCHES: room comes.
        while not self._writer_done.is_set():
            try:
                self.outq.put(END_OF_BATCHES, timeout=_SLICE_S)
                return
            except queue.Full:
                pass


def _drain(q: queue.Queue) -> list:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out
