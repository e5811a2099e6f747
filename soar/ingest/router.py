"""The router: one message at a time, from what a feed said to what a batch writes.

For each message: decode it (APRS parsed here or by the parse pool, Mode-S and SBS by
a stateful decoder per kind and feed: `decoders[kind]`), validate it, drop what
another shard owns, de-duplicate (one fix per aircraft per second, the first copy
kept: the one the tracker meets), remember the aircraft row (written again only when
it changes or every AIRCRAFT_REFRESH), run the flight tracker and its timeout sweep (data time), and add
its flight writes. A full batch goes to the `hand_off` callback (the pipeline's
queue to the writer). Every message ends counted: an outcome in IngestStats.

Caches are bounded: de-duplication by its window, aircraft rows by age and count
(data time), the tracker by its own timeouts.

Sharding (`shard`, soar.ingest.shard): the router keeps the messages its shard owns
and counts the others as dropped (`other_shard`); Mode-S frames and SBS lines are
sorted by address before their decode. Aerotows pair a glider with a tow plane that
another shard may own, so the tracker also follows other shards' OGN gliders and tow
planes ("shadow" aircraft, soar.ingest.shard.Shadows: tracked, their fixes never
written, counted as `other_shard` like the rest). A shadow glider's flight writes are
dropped (its shard writes them, tow links included). A shadow tow plane's (OGN type 2
or 8, not an ICAO address: see Shadows.op) are written here too, in the order its
tracker made them, from each flight it saw take off (same deterministic id, same
values as its own shard writes; a bare aircraft row first): so an owned glider's tow
link never waits for the other shard's commit, and, the tow plane's earlier flight
being closed by this shard too, its next takeoff is never refused as a second active
flight. Whichever shard writes a create first stores it, the other's changes nothing
(a counted replay skip); an update writes the same values twice.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from soar.feeds import sbs
from soar.feeds.parse_pool import parse_line, unpack
from soar.ingest import validate
from soar.ingest.batch import AircraftRow, Batch
from soar.ingest.clock import HostClock
from soar.ingest.shard import Shadows, Shard
from soar.ingest.stats import IngestStats
from soar.records import (
    DUPLICATE,
    NO_TRACKING,
    OTHER_SHARD,
    PARSE_ERROR,
    PIPELINE_FAILED,
    SERVER_COMMENT,
    Fix,
    Message,
    ReceiverBeacon,
    ServerTime,
)
from soar.tracker.ops import CreateFlight

log = logging.getLogger(__name__)

# An aircraft row unchanged is written again this often (aircraft.last_seen).
AIRCRAFT_REFRESH = timedelta(minutes=10)
# A shadow tow plane's flight id is remembered (its updates written) this long after
# its start (data time): longer than any tow plane flies.
SHADOW_FLIGHTS_KEPT = timedelta(hours=12)
# Which shard decodes a message of a kind with a stateful decoder: (mine, its address).
_OWNS = {"modes": Shard.owns_frame, "sbs": Shard.owns_sbs}


@dataclass
class RouterConfig:
    batch_size: int = 5000
    batch_age_s: float = 0.5
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
    # An APRS-IS server time line this far (s) from the host clock counts as
    # `clock_skew`, is warned about, and its skew is applied to OGN fixes' received_at
    # until the next line (soar.ingest.clock). 10 s: validate's future_skew.
    clock_skew_max_s: float = 10.0
    # ...but a server line further off than this (s) is counted and warned about, not
    # believed: a host clock a day off is not a step, and a wrong server line must not
    # make every fix look future or stale.
    clock_skew_trusted_max_s: float = 86400.0


class Router:
    """Messages in (`handle`), batches out (`hand_off`). Runs in one thread (the
    pipeline's router thread); `forget_aircraft` and `set_untracked` are called from
    the writer thread and only swap or pop (atomic under the GIL)."""

    def __init__(self, config: RouterConfig, stats: IngestStats,
                 hand_off: Callable[[Batch], None], tracker=None,
                 decoders: dict[str, Callable[[str], object]] | None = None,
                 shard: Shard | None = None):
        self.config = config
        self.stats = stats
        self._send = hand_off
        self.tracker = tracker
        # kind -> a decoder factory (its feed's receiver name -> decoder); one decoder
        # per kind and feed, in this thread: Mode-S CPR and the SBS merge are state.
        # SBS lines are decoded by soar.feeds.sbs unless told otherwise.
        self._factories = {"sbs": sbs.SbsDecoder, **(decoders or {})}
        self._decoders: dict[str, dict[str, object]] = {k: {} for k in self._factories}
        self.batch = Batch()
        self.aircraft: dict[int, AircraftRow] = {}
        self.untracked: set[int] = set()
        # De-duplication: second -> the aircraft ids with a fix in it. Bucketed by
        # second so that forgetting old seconds costs nothing per key.
        self._seen: dict[int, set[int]] = {}
        self._newest: datetime | None = None
        self._last_expire: datetime | None = None
        self.server_time: datetime | None = None
        self.clock = HostClock(stats, config.clock_skew_max_s,
                               config.clock_skew_trusted_max_s)
        self._last_prune: datetime | None = None
        # Sharding: None (or 1 shard) keeps everything.
        self.shard = shard if shard is not None and shard.n > 1 else None
        stats.shard = str(shard) if shard is not None else None
        self.shadows = Shadows()

    # -- from the pipeline ---------------------------------------------------------

    def restore(self, restored) -> None:
        """Continue the flights a restart found active (soar.tracker.store.Restored):
        with a shard, its own aircraft's only."""
        flights, fixes = restored.flights, restored.fixes
        if self.shard is not None:
            owns = self.shard.owns_address
            flights = [f for f in flights if owns(f.aircraft_id & 0xFFFFFF)]
            fixes = {a: fx for a, fx in fixes.items() if owns(a & 0xFFFFFF)}
        self._add_ops(self.tracker.restore(flights, fixes), count=False)
        if restored.closed:
            log.info("closed %d flights left active too long", len(restored.closed))

    def receiving(self) -> None:
        """A chunk arrived: a batch's age counts from its first."""
        if not self.batch:
            self.batch.opened = time.monotonic()

    def due(self) -> bool:
        """Whether the batch is full or old enough to hand off."""
        batch, cfg = self.batch, self.config
        return bool(batch) and (len(batch.fixes) >= cfg.batch_size
                                or batch.age() >= cfg.batch_age_s)

    def flush(self) -> None:
        """Hand off the batch (if it holds anything) and start the next."""
        if not len(self.batch):
            self.batch = Batch()
            return
        self._send(self.batch)
        self.batch = Batch()
        self._prune_seen()
        self._prune_aircraft()

    def finish(self) -> None:
        """The end of the input: the tracker's timeouts at the newest data time, then
        the last batch."""
        if self._newest is not None and self.tracker is not None:
            self._add_ops(self.tracker.expire(self._newest), count=False)
        self.flush()

    # -- from the writer thread ----------------------------------------------------

    def forget_aircraft(self, ids: set[int]) -> None:
        """Aircraft rows handed over but not committed: forgetting them makes the
        router send the row again with the next fix (a row re-added meanwhile is just
        written again)."""
        for aid in ids:
            self.aircraft.pop(aid, None)
        self.shadows.forget_rows(ids)

    def set_untracked(self, untracked: set[int]) -> None:
        self.untracked = untracked

    # -- one message ---------------------------------------------------------------

    def _decoder(self, kind: str, receiver: str):
        feeds = self._decoders[kind]
        dec = feeds.get(receiver)
        if dec is None:
            dec = feeds[receiver] = self._factories[kind](receiver)
        return dec

    def handle(self, chunk: list[Message], parsed: list | None = None) -> None:
        """Route a chunk. `parsed`: the chunk's APRS results from the parse pool, if it
        went there."""
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
                else:
                    if shard is not None:
                        mine, address = _OWNS[kind](shard, msg.payload)
                        if not mine and (address is None
                                         or not self.shadows.follows_address(address)):
                            if address is not None:   # its decode would have moved the clock
                                self._decoder(kind, msg.receiver).advance(msg.received_at)
                            stats.reject(kind, OTHER_SHARD)
                            continue
                    try:
                        result = self._decoder(kind, msg.receiver).decode(
                            msg.payload, msg.received_at, msg.signal_db)
                    except Exception:   # noqa: BLE001 -- the decoder promises not to raise
                        log.debug("%s decoder raised", kind, exc_info=True)
                        result = PARSE_ERROR
                if type(result) is ServerTime:
                    self.server_time = result.time or self.server_time   # every shard's
                    if result.time is not None:
                        self.clock.observe(result.time, msg.received_at)
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
            stats.reject(kind, PIPELINE_FAILED, rest)
            raise

    def _accept(self, kind: str, fix: Fix) -> None:
        stats = self.stats
        if kind == "aprs":
            self.clock.correct(fix)
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
            bucket = self._seen[second] = set()
        if aid in bucket:
            # The first copy of a second is kept: the one the tracker met. (Keeping the
            # best signal instead depended on whether the first copy's batch was still
            # unwritten, so on wall-clock batch cuts: a replay stored other rows.)
            stats.reject(kind, DUPLICATE)
            return
        bucket.add(aid)
        self._remember_aircraft(aid, fix)
        if self.tracker is not None:
            self._track(fix)
        elif self._newest is None or fix.time > self._newest:
            self._newest = fix.time
        stats.fixes_accepted += 1
        self.batch.fixes.append(fix)
        if len(self.batch.fixes) >= self.config.batch_size:
            self.flush()

    def _follow(self, kind: str, fix: Fix) -> None:
        """Another shard's fix: dropped (`other_shard`); one Shadows follows also goes
        through the same checks into the tracker."""
        self.stats.reject(kind, OTHER_SHARD)
        if self.tracker is None or not self.shadows.follows(fix):
            return
        aid = fix.aircraft_id
        if kind == "aprs":
            self.clock.correct(fix)
        if validate.check(fix) is not None or fix.no_tracking or aid in self.untracked:
            return
        second = int(fix.time.timestamp())
        bucket = self._seen.get(second)
        if bucket is None:
            bucket = self._seen[second] = set()
        if aid in bucket:
            return
        bucket.add(aid)
        self.shadows.saw(fix)
        self.stats.shadow_fixes += 1
        self._track(fix)

    def _track(self, fix: Fix) -> None:
        """The tracker's ops for a fix (owned or shadow), its timeout sweep, data time."""
        ops = self.tracker.process(fix)
        if ops:
            self._add_ops(ops)
        t = fix.time
        if self._last_expire is None:
            self._last_expire = t
        elif (t - self._last_expire).total_seconds() >= self.config.expire_every_s:
            self._last_expire = t
            self._add_ops(self.tracker.expire(t))
        if self._newest is None or t > self._newest:
            self._newest = t

    def _add_ops(self, ops: list, count: bool = True) -> None:
        """The tracker's flight writes into the batch (counted by kind); with a shard,
        only its own aircraft's, and what Shadows decides for another shard's."""
        shard, batch, flights = self.shard, self.batch, self.stats.flights
        if shard is None:
            batch.flight_ops.extend(ops)
            if count:
                for op in ops:
                    flights[op.kind] += 1
            return
        for op in ops:
            aid = op.row["aircraft_id"] if type(op) is CreateFlight else op.aircraft_id
            if aid is None or shard.owns_address(aid & 0xFFFFFF):
                batch.flight_ops.append(op)
                if count:
                    flights[op.kind] += 1
                continue
            write, row = self.shadows.op(op, aid)
            if row is not None:
                batch.aircraft.setdefault(aid, row)
            if write:
                batch.flight_ops.append(op)
                self.stats.shadow_flight_ops += 1

    def _remember_aircraft(self, aid: int, fix: Fix) -> None:
        known = self.aircraft.get(aid)
        # Nearly every fix says nothing new about its aircraft: answered without
        # building a row (docs/benchmarks.md: a py-spy profile of the router thread).
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

    # -- bounded caches ------------------------------------------------------------

    def _prune_seen(self) -> None:
        if self._newest is None:
            return
        horizon = int(self._newest.timestamp()) - self.config.dedup_window_s
        for second in [s for s in self._seen if s < horizon]:
            del self._seen[second]

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
            self.shadows.prune(horizon, newest - SHADOW_FLIGHTS_KEPT)
        excess = len(cache) - cfg.aircraft_cache_max
        if excess > 0:
            # Insertion order: the first keys are the rows written longest ago (a
            # rewrite keeps its place, so an aircraft heard all along may go: it is
            # written once more). A tenth more than needed, so this runs rarely.
            for aid in list(itertools.islice(cache, excess + cfg.aircraft_cache_max // 10)):
                del cache[aid]
