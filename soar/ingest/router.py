"""The ingest router: sources -> parse/validate/track -> binary COPY writer.

Three stages joined by bounded queues, so a slow database slows the reader down
instead of growing memory:

    source thread(s) --chunks--> [in queue] --> router thread --batches--> [out queue] --> writer thread

The router thread parses, validates, de-duplicates, upserts aircraft in memory and
runs the flight tracker; it hands the writer a Batch when it holds `batch_size`
fixes or is `batch_age_s` old. Live sources give up on a full queue after
`drop_after_s` and count the drop; replays wait.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from soar.feeds.parse_pool import ParsePool, parse_line, unpack
from soar.ingest import validate
from soar.ingest.batch import AircraftRow, Batch
from soar.ingest.stats import IngestStats
from soar.ingest.writer import END_OF_BATCHES, Writer
from soar.records import (
    DUPLICATE,
    NO_TRACKING,
    PARSE_ERROR,
    Fix,
    Message,
    ReceiverBeacon,
    ServerTime,
)

log = logging.getLogger(__name__)

_STOP = object()   # closes the router's input queue


@dataclass
class PipelineConfig:
    batch_size: int = 5000
    batch_age_s: float = 0.5
    in_queue_chunks: int = 256
    out_queue_batches: int = 4
    drop_after_s: float | None = None   # None: block (replays); live feeds set a bound
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
                 tracker=None, modes_decoder: Callable[[str], object] | None = None):
        self.writer = writer
        self.stats = stats
        self.config = config or PipelineConfig()
        self.tracker = tracker
        self._modes_decoder_factory = modes_decoder
        self._modes_decoders: dict[str, object] = {}
        self.inq: queue.Queue = queue.Queue(self.config.in_queue_chunks)
        self.outq: queue.Queue = queue.Queue(self.config.out_queue_batches)
        stats.queue_depth["router_in"] = self.inq.qsize
        stats.queue_depth["writer_in"] = self.outq.qsize
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
        self._threads: list[threading.Thread] = []
        self._pool: ParsePool | None = None
        self.failed: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        # The writer mostly waits on the network and must then win the GIL back from
        # the CPU-bound router: a 1 ms switch interval (default 5 ms) cut the measured
        # create/complete p99 from ~22/40 ms to ~9/12 ms and raised throughput ~14%
        # (bench/ingest.py, docs/benchmarks.md).
        sys.setswitchinterval(0.001)
        self.untracked = self.writer.untracked_aircraft()
        if self.config.parse_workers:
            self._pool = ParsePool(self.config.parse_workers)
        if self.tracker is not None:
            # A restart continues the flights the database says are active.
            restored = self.writer.load_active(self.tracker.cfg)
            self.batch.flight_ops.extend(
                self.tracker.restore(restored.flights, restored.fixes))
            if restored.closed:
                log.info("closed %d flights left active too long", len(restored.closed))
        writer = functools.partial(self.writer.run, self.outq, self.config.untracked_refresh_s,
                                   self._set_untracked)
        for target, name in ((self._route, "soar-router"), (writer, "soar-writer")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _set_untracked(self, untracked: set[int]) -> None:
        # Called from the writer thread; the router reads the attribute (one reference
        # swap, atomic under the GIL).
        self.untracked = untracked

    def close(self) -> None:
        """Flush everything buffered, then stop (graceful shutdown)."""
        self.inq.put(_STOP)
        for t in self._threads:
            t.join()
        if self._pool is not None:
            self._pool.close()
        self.writer.close()

    def submit(self, chunk: list[Message]) -> bool:
        """Hand a chunk of messages to the router; False if it was dropped (counted)."""
        if self.failed:
            raise RuntimeError("ingest pipeline stopped") from self.failed
        try:
            # Parsing starts before a queue slot is free: at most one chunk more than
            # the queue holds is in memory.
            item = chunk
            if self._pool is not None and chunk and chunk[0].kind == "aprs":
                item = (chunk, self._pool.submit(chunk))
            self.inq.put(item, timeout=self.config.drop_after_s)
            return True
        except queue.Full:
            self.stats.dropped_queue_full += len(chunk)
            self.stats.reject(chunk[0].kind if chunk else "?", "queue_full", len(chunk))
            log.warning("router queue full: dropped %d messages", len(chunk))
            return False

    # -- router thread -------------------------------------------------------

    def _route(self) -> None:
        cfg = self.config
        try:
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
                        self._handle(chunk[0], chunk[1].result())
                    else:
                        self._handle(chunk)
                if self.batch and (len(self.batch.fixes) >= cfg.batch_size
                                   or self.batch.age() >= cfg.batch_age_s):
                    self._hand_off()
            if self._newest is not None and self.tracker is not None:
                self.batch.flight_ops.extend(self.tracker.expire(self._newest))
            self._hand_off()
        except BaseException as exc:   # noqa: BLE001 -- reported to the caller, not lost
            log.exception("router stopped")
            self.failed = exc
        finally:
            self.outq.put(END_OF_BATCHES)

    def _hand_off(self) -> None:
        if not len(self.batch):
            self.batch = Batch()
            return
        self.outq.put(self.batch)
        self.batch = Batch()
        self._batch_no += 1
        self._prune_seen()

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

    def _handle(self, chunk: list[Message], parsed: list | None = None) -> None:
        """`parsed`: the chunk's APRS results from the parse pool, if it went there."""
        stats = self.stats
        for i, msg in enumerate(chunk):
            kind = msg.kind
            stats.messages[kind] += 1
            if parsed is not None:
                result = parsed[i]
                if type(result) is tuple:        # a Fix packed by the parse process
                    result = unpack(result)
            elif kind == "aprs":
                result = parse_line(msg.payload, msg.received_at)
            else:
                try:
                    result = self._decoder(msg.receiver).decode(
                        msg.payload, msg.received_at, msg.signal_db)
                except Exception:   # noqa: BLE001 -- the decoder promises not to raise
                    log.debug("decoder raised", exc_info=True)
                    result = PARSE_ERROR
            if type(result) is ServerTime:
                self.server_time = result.time or self.server_time
                stats.reject(kind, "server_comment")
            elif result is None:
                stats.state_only += 1     # e.g. Mode-S velocity or identification
            elif isinstance(result, Fix):
                self._accept(kind, result)
            elif isinstance(result, ReceiverBeacon):
                stats.receiver_beacons += 1
                self.batch.add_receiver(result)
            elif isinstance(result, list):
                for item in result:
                    self._accept(kind, item)
            else:
                stats.reject(kind, result)

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
                    self.batch.fixes[seen[1]] = fix
            return
        bucket[aid] = (self._batch_no, len(self.batch.fixes))
        self._remember_aircraft(aid, fix)
        if self.tracker is not None:
            ops = self.tracker.process(fix)
            if ops:
                self.batch.flight_ops.extend(ops)
                for op in ops:
                    stats.flights[op.kind] += 1
            self._maybe_expire(fix.time)
        if self._newest is None or fix.time > self._newest:
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
            ops = self.tracker.expire(t)
            self.batch.flight_ops.extend(ops)
            for op in ops:
                self.stats.flights[op.kind] += 1

    def _remember_aircraft(self, aid: int, fix: Fix) -> None:
        known = self.aircraft.get(aid)
        row = AircraftRow(
            aid, fix.address, fix.address_type,
            fix.aircraft_type if fix.aircraft_type is not None else (known and known.aircraft_type),
            known.category if known else None,
            fix.registration or (known and known.registration) or None,
            fix.callsign or (known and known.callsign) or None,
            fix.model or (known and known.model) or None,
            fix.time)
        if known is None or known.key() != row.key() or \
                fix.time - known.seen_at > timedelta(minutes=10):
            self.aircraft[aid] = row
            self.batch.aircraft[aid] = row
