"""Assembling and running the ingest: sources -> pipeline -> database, for replays and
live feeds, with graceful shutdown and a periodic stats line.

Shutdown: the first SIGINT/SIGTERM stops reading and flushes, for at most the
pipeline's `shutdown_deadline_s`; what the database has not acknowledged by then is
spooled to disk ($SOAR_HOME/spool) and written first at the next start. A second
signal spools at once. Any dead thread or parse process ends the run with one line
naming it (a SoarError), never a hang.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path

import psycopg

from soar import db
from soar.db import embedded
from soar.errors import SoarError
from soar.feeds import modes, recordings, sbs
from soar.feeds.aprs_client import AprsClient
from soar.feeds.beast import signal_dbfs
from soar.feeds.beast_client import BeastClient
from soar.feeds.sbs_client import SbsClient, SbsFeed
from soar.ingest import archive as raw_archive
from soar.ingest.archive import Archive, ArchiveConfig
from soar.ingest.pipeline import Pipeline, PipelineConfig, PipelineError
from soar.ingest.shard import Shard
from soar.ingest.spool import Spool
from soar.ingest.stats import IngestStats
from soar.ingest.writer import Writer, WriterConfig
from soar.records import Message
from soar.reference import terrain
from soar.tracker import FlightTracker, TrackerConfig, store

log = logging.getLogger(__name__)


def build(conninfo: str, stats: IngestStats, config: PipelineConfig | None = None,
          track: bool = True, tracker_config: TrackerConfig | None = None,
          srtm_dir: str | None = None,
          receiver_position: tuple[float, float] | None = None,
          shard: Shard | None = None, sbs_timezone: tzinfo | None = None,
          sbs_timezones: dict[str, tzinfo] | None = None,
          writer_config: WriterConfig | None = None) -> Pipeline:
    """The ingest pipeline, with the flight tracker unless `track` is False.

    `sbs_timezone`: the zone of the SBS feeds' generated times (None: UTC);
    `sbs_timezones`: another zone for the feeds (receiver names) it names.

    `shard`: keep only this shard's messages (soar.ingest.shard); None keeps all.

    `receiver_position`: where the Beast/Mode-S receiver stands; lets the decoder place
    aircraft on the ground before they have flown (surface CPR needs a reference).
    `srtm_dir`: SRTM .hgt tiles for height above ground (else airport elevations only).
    `writer_config`: the writer's connection and retry settings (None: the defaults).
    """
    def latency(op, ms: float) -> None:
        metric = store.latency_metric(op)
        if metric is not None:
            stats.latency[metric.split(".")[1]].observe(ms)

    def writer(**callbacks) -> Writer:
        return Writer(conninfo, stats, write_flight_op=store.write_op,
                      on_flight_latency=latency, config=writer_config, **callbacks)

    airports = _airports(conninfo)
    tracker = None
    if track:
        tracker = FlightTracker(tracker_config or TrackerConfig(),
                                terrain=_terrain(airports, srtm_dir))
        stats.gauges["flight_tracker_active_aircraft"] = lambda: tracker.stats.active_aircraft
        stats.gauges["flight_tracker_active_flights"] = lambda: tracker.stats.active_flights
    lat, lon = receiver_position or (None, None)
    near = airports.near if airports is not None else None
    decoders = {
        "modes": lambda receiver: modes.ModeSDecoder(receiver, lat, lon, airport_near=near),
        "sbs": lambda receiver: sbs.SbsDecoder(
            receiver, (sbs_timezones or {}).get(receiver, sbs_timezone)),
    }
    return Pipeline(writer, stats, config, tracker=tracker, decoders=decoders, shard=shard)


def _airports(conninfo: str) -> terrain.AirportElevations | None:
    """The airports table in memory (read once here, at start-up, never on the fix
    path): elevations for height above ground, places for surface positions."""
    with psycopg.connect(conninfo, prepare_threshold=None) as conn:
        airports = terrain.AirportElevations.from_db(conn)
    return airports if len(airports) else None


def _terrain(airports: terrain.AirportElevations | None, srtm_dir: str | None):
    srtm_dir = srtm_dir or os.environ.get("SOAR_SRTM_DIR")
    srtm = terrain.SrtmTiles(srtm_dir) if srtm_dir else None
    return terrain.make_terrain(srtm, airports)


class StatsLogger(threading.Thread):
    """One log line every `interval` seconds with the pipeline's figures."""

    def __init__(self, stats: IngestStats, interval: float):
        super().__init__(name="soar-stats", daemon=True)
        self.stats, self.interval = stats, interval
        self.stop = threading.Event()

    def line(self, last_fixes: int, last_msgs: int, last_flights: dict) -> str:
        s = self.stats
        flights = dict(s.flights)
        delta = {k: flights.get(k, 0) - last_flights.get(k, 0) for k in flights}
        created = sum(v for k, v in delta.items() if k.startswith("start_"))
        completed = delta.get("end_landing", 0)
        timed_out = sum(v for k, v in delta.items() if k.startswith("end_") and k != "end_landing")
        gauges = " ".join(f"{k.removeprefix('flight_tracker_')}={fn()}"
                          for k, fn in s.gauges.items())
        depths = " ".join(f"{k}={fn()}" for k, fn in s.queue_depth.items())
        latencies = " ".join(f"{name} p50={_ms(h.percentile(50))} p99={_ms(h.percentile(99))}"
                             for name, h in s.latency.items())
        drops = ""
        if s.dropped_by_source:
            drops = " drops: " + " ".join(f"{src}={n}" for src, n in sorted(
                s.dropped_by_source.items()))
        disk = ""
        if s.disk_buffer is not None:
            # Depth and age of the disk buffer; out/s against in/s is the catch-up.
            o = s.overflow()
            disk = (f" disk: msgs={o['messages']} bytes={o['bytes']} age_s={o['age_s']:.0f} "
                    f"in={o['in']} out={o['out']} refused={o['refused']}")
        # Messages in so far by source (aprs, modes, sbs): which feed carries what.
        by_source = " ".join(f"{kind}={n}" for kind, n in sorted(dict(s.messages).items()))
        return (f"stats: msgs/s={(sum(s.messages.values()) - last_msgs) / self.interval:.0f} "
                f"msgs: {by_source or '-'} "
                f"fixes/s={(s.fixes_written - last_fixes) / self.interval:.0f} {gauges} "
                f"flights created={created} completed={completed} timed_out={timed_out} "
                f"{s.accounting_line()}{drops}{disk} queues: {depths} "
                f"latency_ms: {latencies}")

    def run(self) -> None:
        s = self.stats
        last = (s.fixes_written, sum(s.messages.values()), dict(s.flights))
        while not self.stop.wait(self.interval):
            log.info(self.line(*last))
            last = (s.fixes_written, sum(s.messages.values()), dict(s.flights))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


class Signals:
    """What SIGINT/SIGTERM asked for: `stop` (the first: stop reading, flush within
    the deadline) and `abandon` (the second: spool what is not written, exit now)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.abandon = threading.Event()


@contextmanager
def stop_on_signals(deadline_s: float | None = None) -> Iterator[Signals]:
    """SIGINT/SIGTERM set `stop`, a second one `abandon` (installed only when called
    from the main thread).

    The Python handler does nothing: the signal's number reaches a relay thread
    through the wakeup fd, and that thread sets the events. Setting an Event inside
    the handler can deadlock: the handler runs on the main thread, which may be
    inside `stop.wait()` holding that Event's lock at that very moment.
    """
    signals = Signals()
    if threading.current_thread() is not threading.main_thread():
        yield signals
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    relay = threading.Thread(target=_relay, args=(r, signals, deadline_s), name="soar-signals",
                             daemon=True)
    relay.start()
    try:
        yield signals
    finally:
        signal.set_wakeup_fd(old_fd)
        for sig, h in previous.items():
            signal.signal(sig, h)
        os.close(w)                 # the relay reads end-of-file and ends
        relay.join()
        os.close(r)


def _ignore(_signum, _frame) -> None:
    """The wakeup fd carries the signal to the relay thread."""


def _relay(fd: int, signals: Signals, deadline_s: float | None) -> None:
    while data := os.read(fd, 64):
        for signum in data:
            if signum not in (signal.SIGINT, signal.SIGTERM):
                continue            # another handler's signal (the wakeup fd sees all)
            if not signals.stop.is_set():
                log.info("signal %d: flushing and stopping%s; a second signal spools what "
                         "is not written and exits", signum,
                         f" (at most {deadline_s:.0f} s)" if deadline_s is not None else "")
                signals.stop.set()
            elif not signals.abandon.is_set():
                signals.abandon.set()


def feed(pipeline: Pipeline, chunks: Iterable[list], stop: threading.Event,
         progress=None) -> None:
    """Push chunks into the pipeline until they end or `stop` is set; raises
    PipelineError when the pipeline failed."""
    for chunk in chunks:
        if stop.is_set():
            break
        if not pipeline.submit(chunk, stop=stop) and stop.is_set():
            break
        if progress:
            progress(len(chunk))


def summary(stats: IngestStats, pipeline: Pipeline | None = None) -> dict:
    """The stats summary, with drops per feed and the spool's counts."""
    out = stats.summary()
    if pipeline is not None and pipeline.failed is not None:
        out["failed"] = str(pipeline.failed)
    return out


def default_spool_dir() -> Path:
    """$SOAR_HOME/spool (SOAR_SPOOL_DIR overrides)."""
    return Path(os.environ.get("SOAR_SPOOL_DIR") or embedded.default_cluster().home / "spool")


def default_overflow_dir() -> Path:
    """$SOAR_HOME/overflow (SOAR_OVERFLOW_DIR overrides)."""
    return Path(os.environ.get("SOAR_OVERFLOW_DIR")
                or embedded.default_cluster().home / "overflow")


def overflow_folder(root: Path | str, conninfo: str, shard: Shard | None = None) -> Path:
    """The disk buffer of one database (and shard) under `root`: named like its spool
    folder, so a start against another database never routes this one's messages."""
    folder = Path(root) / Spool(Path(root), conninfo).folder.name
    return folder / f"shard-{shard.k}-of-{shard.n}" if shard is not None else folder


class Chunker:
    """Groups single live messages into chunks for the pipeline (one queue operation
    per chunk, not per message); flushed by size, or by age from a timer."""

    def __init__(self, pipeline: Pipeline, size: int = 500, max_age_s: float = 0.2,
                 source: str | None = None, archive: Archive | None = None,
                 handoff: threading.Lock | None = None):
        self.pipeline, self.size, self.max_age_s = pipeline, size, max_age_s
        self.source = source      # the feed's name: drops are counted per feed
        self.archive = archive    # gets each chunk before the router does (never waits)
        # Shared by all the chunkers of a run: the archive and the router queue get
        # the feeds' chunks in the same order (docs/ingest.md, "Raw archive").
        self.handoff = handoff or threading.Lock()
        self._chunk: list = []
        self._lock = threading.Lock()

    def add(self, message: tuple) -> None:
        with self._lock:
            self._chunk.append(message)
            if len(self._chunk) < self.size:
                return
            chunk, self._chunk = self._chunk, []
        self._submit(chunk)

    def flush(self) -> None:
        with self._lock:
            chunk, self._chunk = self._chunk, []
        if chunk:
            self._submit(chunk)

    def _submit(self, chunk: list) -> None:
        """The archive's offer and the router's submit of a chunk happen as one step
        for all the feeds: the archive's FIFO queue then holds the chunks in the very
        order the router takes them, and its order record replays that order. Holding
        the lock is safe: `offer` never waits, and live `submit` (drop_after_s 0) never
        waits on the router queue either (a full one drops or goes to the overflow
        disk, which already serialises the feeds under Overflow._order). With
        `--queue-timeout` above 0 a feed waiting for room holds the others too; they
        would find the same full queue."""
        with self.handoff:
            if self.archive is not None:
                self.archive.offer(chunk)
            self.pipeline.submit(chunk, self.source)

    def run_timer(self, stop: threading.Event) -> None:
        while not stop.wait(self.max_age_s):
            self.flush()
        self.flush()


# -- the two ways to run it ------------------------------------------------------------

def _config(spool_dir: Path | str | None, shutdown_deadline_s: float | None,
            shard: Shard | None = None, **kw) -> PipelineConfig:
    spool_dir = Path(spool_dir or default_spool_dir())
    if shard is not None:
        # Shards on one machine must not share a spool: each writes back its own.
        spool_dir = spool_dir / f"shard-{shard.k}-of-{shard.n}"
    config = PipelineConfig(spool_dir=spool_dir, **kw)
    if shutdown_deadline_s is not None:
        config.shutdown_deadline_s = shutdown_deadline_s
    return config


SIM = "sim"   # replay format: a `soar simulate` recording folder, APRS and Mode-S merged
ARCHIVE = "archive"   # replay format: a folder of `soar run --archive` files, in live order


def replay(path: Path, fmt: str, speed: float | None, receiver: str | None = None,
           start: datetime | None = None, batch_size: int = 5000,
           receiver_position: tuple[float, float] | None = None,
           progress_interval: float = 10.0, spool_dir: Path | str | None = None,
           shutdown_deadline_s: float | None = None, shard: Shard | None = None,
           sbs_timezone: tzinfo | None = None) -> dict:
    """Replay a recording through the live path as the ingest role; the stats summary.
    Raises SoarError (one line) when the pipeline failed. `fmt` "sim": a `soar
    simulate` folder, its aprs.txt and modes.jsonl merged in time order (as fast as
    possible; the receiver position from its simulation.json). `sbs_timezone`: the
    zone of an SBS recording's times (None: UTC)."""
    if fmt == SIM:
        chunks, receiver_position = _simulation(path, speed, receiver, receiver_position)
    elif fmt == ARCHIVE:
        if speed is not None or receiver is not None:
            raise SoarError("--format archive replays as fast as possible under the receiver "
                            "names its files give: leave out --speed and --receiver (or "
                            "replay one file with its own format)")
        chunks = raw_archive.replay_chunks(path)
    else:
        chunks = recordings.replay(path, fmt, speed, receiver, start, sbs_timezone)
    stats = IngestStats()
    url = db.role_url("ingest")
    db.connect(url).close()
    pipeline = build(url, stats, _config(spool_dir, shutdown_deadline_s, shard,
                                         batch_size=batch_size),
                     receiver_position=receiver_position, shard=shard,
                     sbs_timezone=sbs_timezone)
    out = run_replay(pipeline, chunks, progress_interval)
    out["file"] = str(path)
    return out


def _simulation(path: Path, speed: float | None, receiver: str | None,
                position: tuple[float, float] | None):
    from soar.simulate import replay_chunks  # only for this format
    if speed is not None:
        raise SoarError("--format sim replays as fast as possible: leave out --speed "
                        "(or replay aprs.txt and modes.jsonl one by one at a speed)")
    meta = path / "simulation.json"
    if not meta.is_file():
        raise SoarError(f"{path}: not a `soar simulate` recording (no simulation.json)")
    if position is None:
        pos = json.loads(meta.read_text()).get("beast_receiver_position")
        position = (pos[0], pos[1]) if pos else None
    return replay_chunks(path, receiver or "sim"), position


def run_replay(pipeline: Pipeline, chunks: Iterable[list], progress_interval: float = 10.0,
               signals: Signals | None = None) -> dict:
    """Start the pipeline (spooled batches first), feed it `chunks` until they end, a
    signal or a failure, close it within its deadline; the summary. Raises SoarError
    naming the cause when a thread or parse process died. `signals`: given by tests;
    otherwise SIGINT/SIGTERM are handled here."""
    with _signals(signals, pipeline) as sig:
        stats = pipeline.stats
        progress = StatsLogger(stats, progress_interval)   # long replays show their rate
        try:
            pipeline.start(sig.stop)
            progress.start()
            feed(pipeline, chunks, sig.stop)
        except PipelineError:
            pass                               # named below, once
        finally:
            # The file's end is no stop signal: what is read is written, however slow
            # the database; a signal starts the shutdown deadline.
            pipeline.close(sig.abandon, stop=sig.stop)
            progress.stop.set()
    if pipeline.failed is not None:
        raise SoarError(f"ingest stopped: {pipeline.failed}")
    return summary(stats)


@contextmanager
def _signals(given: Signals | None, pipeline: Pipeline) -> Iterator[Signals]:
    if given is not None:
        yield given
    else:
        with stop_on_signals(pipeline.config.shutdown_deadline_s) as sig:
            yield sig


def run_live(ogn: tuple[str, int] | None, beast: list[tuple[str, int]], *,
             sbs_feeds: list[SbsFeed] = (), sbs_timezone: tzinfo | None = None,
             ogn_filter: str | None = None, callsign: str = "N0CALL",
             beast_position: tuple[float, float] | None = None,
             metrics_port: int | None = None, stats_interval: float = 30.0,
             queue_timeout: float = 0.0, spool_dir: Path | str | None = None,
             shutdown_deadline_s: float | None = None, shard: Shard | None = None,
             overflow_dir: Path | str | None = None, overflow_budget_bytes: int | None = None,
             overflow_free_floor_bytes: int | None = None,
             archive: ArchiveConfig | None = None,
             retry_max_s: float | None = None) -> dict:
    """Ingest live feeds until SIGINT/SIGTERM (or the pipeline fails), flush, and
    return the stats summary (with `failed` when the pipeline stopped on an error).
    One reader thread and one chunk timer per feed. `sbs_timezone`: the SBS feeds'
    times' zone (None: UTC), unless a feed gives its own. `overflow_dir`: the root of
    the disk buffer (default $SOAR_HOME/overflow; a folder per database under it),
    with its size budget and free-space floor (None: PipelineConfig's defaults).
    `archive`: keep every received line or frame there too (soar.ingest.archive).
    `retry_max_s`: the longest pause between write attempts while the database is
    unreachable (None: WriterConfig's default)."""
    clients: list[tuple[str, object, str]] = []
    if ogn:
        host, port = ogn
        clients.append(("aprs", AprsClient(host, port, callsign=callsign, filter=ogn_filter),
                        f"ogn {host}:{port}"))
    for host, port in beast:
        clients.append(("beast", BeastClient(host, port), f"beast {host}:{port}"))
    for feed in sbs_feeds:
        clients.append(("sbs", SbsClient(feed.host, feed.port), feed.name))

    stats = IngestStats()
    url = db.role_url("ingest")
    db.connect(url).close()
    limits = {k: v for k, v in (("overflow_budget_bytes", overflow_budget_bytes),
                                ("overflow_free_floor_bytes", overflow_free_floor_bytes))
              if v is not None}
    pipeline = build(url, stats, _config(
                         spool_dir, shutdown_deadline_s, shard, drop_after_s=queue_timeout,
                         overflow_dir=overflow_folder(overflow_dir or default_overflow_dir(),
                                                      url, shard), **limits),
                     receiver_position=beast_position, shard=shard, sbs_timezone=sbs_timezone,
                     sbs_timezones={f.name: f.timezone for f in sbs_feeds if f.timezone},
                     writer_config=(WriterConfig(retry_max_s=retry_max_s)
                                    if retry_max_s is not None else None))
    if metrics_port:
        from soar.ingest import metrics
        metrics.serve(metrics_port, stats)
    return live(pipeline, clients, stats_interval,
                archive=Archive(archive) if archive is not None else None)


def live(pipeline: Pipeline, clients: list[tuple[str, object, str]],
         stats_interval: float = 30.0, signals: Signals | None = None,
         archive: Archive | None = None) -> dict:
    """Run `clients` ((kind, client, name): "aprs", "beast" or "sbs"; an SBS feed's
    name is its receiver's) into the started-here pipeline until a signal (or
    `signals.stop`) or a failure; close within the
    deadline; the summary, with `failed` naming the cause when something died.
    `archive`: started here, handed every chunk before the router, closed after the
    feeds stopped; its counters join the summary."""
    stats = pipeline.stats
    threads = []
    stopped_at: float | None = None        # when `stop` was seen: the shutdown budget's start
    if archive is not None:
        stats.gauges.update(archive.gauges())
        archive.start()
    with _signals(signals, pipeline) as sig:
        stop = sig.stop
        logger = StatsLogger(stats, stats_interval)
        try:
            try:
                pipeline.start(stop)
            except PipelineError:
                stop.set()                     # reported in the summary, once
            logger.start()
            handoff = threading.Lock()
            for kind, client, name in ([] if stop.is_set() else clients):
                chunker = Chunker(pipeline, source=name, archive=archive, handoff=handoff)
                if kind == "aprs":
                    def on_line(received_at, raw, c=chunker):
                        c.add(Message("aprs", received_at, raw))
                    callback = on_line
                elif kind == "sbs":
                    def on_sbs(received_at, line, c=chunker, n=name):
                        c.add(Message("sbs", received_at, line, None, n))
                    callback = on_sbs
                else:
                    receiver = name.removeprefix("beast ")
                    def on_frame(received_at, frame, c=chunker, n=receiver):
                        c.add(Message("modes", received_at, frame.payload,
                                      signal_dbfs(frame.signal), n))
                    callback = on_frame
                for fn, args, what in ((client.run, (callback, stop), f"the {name} reader"),
                                       (chunker.run_timer, (stop,), f"the {name} chunk timer")):
                    t = threading.Thread(target=_guarded, args=(pipeline, stop, what, fn, *args),
                                         name=what, daemon=True)
                    t.start()
                    threads.append(t)
            while not stop.wait(1.0):
                pipeline.check()
                if pipeline.failed is not None:
                    stop.set()
            # One budget from here (PipelineConfig.shutdown_deadline_s): readers notice
            # `stop` within 0.2 s, a connect in progress within its timeout; their joins
            # spend at most half of it, together, and the writer has the rest.
            stopped_at = time.monotonic()
            budget = pipeline.config.shutdown_deadline_s
            for t in threads:
                t.join(timeout=max(0.0, stopped_at + budget / 2 - time.monotonic()))
        finally:
            stop.set()
            if stopped_at is None:
                stopped_at = time.monotonic()
            # the archive writes its queue meanwhile
            pipeline.close(sig.abandon, deadline_at=stopped_at + pipeline.config.shutdown_deadline_s)
            if archive is not None:
                archive.close()
            logger.stop.set()
    out = summary(stats, pipeline)
    if archive is not None:
        out["archive"] = archive.summary()
    return out


def _guarded(pipeline: Pipeline, stop: threading.Event, what: str, fn, *args) -> None:
    """A feed thread: its death ends the pipeline, named; a clean return before `stop`
    is a death too (the readers loop until told to stop)."""
    try:
        fn(*args)
    except PipelineError:
        return                      # the pipeline failed first; that is the cause
    except BaseException as exc:   # noqa: BLE001 -- reported through pipeline.failed
        pipeline.fail(f"{what} died", exc)
        return
    if not stop.is_set():
        pipeline.fail(f"{what} stopped")
