"""Assembling and running the ingest: sources -> pipeline -> database, for replays and
live feeds, with graceful shutdown and a periodic stats line."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psycopg

from soar import db
from soar.errors import SoarError
from soar.feeds import modes, recordings
from soar.feeds.aprs_client import AprsClient
from soar.feeds.beast import signal_dbfs
from soar.feeds.beast_client import BeastClient
from soar.ingest.router import Pipeline, PipelineConfig
from soar.ingest.stats import IngestStats
from soar.ingest.writer import Writer
from soar.records import Message
from soar.reference import terrain
from soar.tracker import FlightTracker, TrackerConfig, store

log = logging.getLogger(__name__)


def build(conninfo: str, stats: IngestStats, config: PipelineConfig | None = None,
          track: bool = True, tracker_config: TrackerConfig | None = None,
          srtm_dir: str | None = None,
          receiver_position: tuple[float, float] | None = None) -> Pipeline:
    """The ingest pipeline, with the flight tracker unless `track` is False.

    `receiver_position`: where the Beast/Mode-S receiver stands; lets the decoder place
    aircraft on the ground before they have flown (surface CPR needs a reference).
    `srtm_dir`: SRTM .hgt tiles for height above ground (else airport elevations only).
    """
    def latency(op, ms: float) -> None:
        metric = store.latency_metric(op)
        if metric is not None:
            stats.latency[metric.split(".")[1]].observe(ms)

    writer = Writer(conninfo, stats, write_flight_op=store.write_op,
                    on_flight_latency=latency)
    airports = _airports(conninfo)
    tracker = None
    if track:
        tracker = FlightTracker(tracker_config or TrackerConfig(),
                                terrain=_terrain(airports, srtm_dir))
        stats.gauges["flight_tracker_active_aircraft"] = lambda: tracker.stats.active_aircraft
        stats.gauges["flight_tracker_active_flights"] = lambda: tracker.stats.active_flights
    lat, lon = receiver_position or (None, None)
    near = airports.near if airports is not None else None
    return Pipeline(writer, stats, config, tracker=tracker,
                    modes_decoder=lambda receiver: modes.ModeSDecoder(
                        receiver, lat, lon, airport_near=near))


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
        return (f"stats: msgs/s={(sum(s.messages.values()) - last_msgs) / self.interval:.0f} "
                f"fixes/s={(s.fixes_written - last_fixes) / self.interval:.0f} {gauges} "
                f"flights created={created} completed={completed} timed_out={timed_out} "
                f"rejected={sum(s.rejected.values())} queues: {depths} latency_ms: {latencies}")

    def run(self) -> None:
        s = self.stats
        last = (s.fixes_written, sum(s.messages.values()), dict(s.flights))
        while not self.stop.wait(self.interval):
            log.info(self.line(*last))
            last = (s.fixes_written, sum(s.messages.values()), dict(s.flights))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set the event; the caller stops reading and flushes."""
    stop = threading.Event()
    previous = {}

    def handler(signum, _frame):
        log.info("signal %d: flushing and stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def feed(pipeline: Pipeline, chunks: Iterable[list], stop: threading.Event,
         progress=None) -> None:
    """Push chunks into the pipeline until they end or `stop` is set."""
    for chunk in chunks:
        if stop.is_set() or pipeline.failed:
            break
        pipeline.submit(chunk)
        if progress:
            progress(len(chunk))


class Chunker:
    """Groups single live messages into chunks for the pipeline (one queue operation
    per chunk, not per message); flushed by size, or by age from a timer."""

    def __init__(self, pipeline: Pipeline, size: int = 500, max_age_s: float = 0.2):
        self.pipeline, self.size, self.max_age_s = pipeline, size, max_age_s
        self._chunk: list = []
        self._lock = threading.Lock()

    def add(self, message: tuple) -> None:
        with self._lock:
            self._chunk.append(message)
            if len(self._chunk) < self.size:
                return
            chunk, self._chunk = self._chunk, []
        self.pipeline.submit(chunk)

    def flush(self) -> None:
        with self._lock:
            chunk, self._chunk = self._chunk, []
        if chunk:
            self.pipeline.submit(chunk)

    def run_timer(self, stop: threading.Event) -> None:
        while not stop.wait(self.max_age_s):
            self.flush()
        self.flush()


# -- the two ways to run it ------------------------------------------------------------

def replay(path: Path, fmt: str, speed: float | None, receiver: str | None = None,
           start: datetime | None = None, batch_size: int = 5000,
           receiver_position: tuple[float, float] | None = None,
           progress_interval: float = 10.0) -> dict:
    """Replay a recording through the live path as the ingest role; the stats summary."""
    stats = IngestStats()
    url = db.role_url("ingest")
    db.connect(url).close()
    pipeline = build(url, stats, PipelineConfig(batch_size=batch_size),
                     receiver_position=receiver_position)
    pipeline.start()
    progress = StatsLogger(stats, progress_interval)   # long replays show their rate
    progress.start()
    with stop_on_signals() as stop:
        try:
            feed(pipeline, recordings.replay(path, fmt, speed, receiver, start), stop)
        finally:
            pipeline.close()
            progress.stop.set()
    if pipeline.failed:
        raise SoarError(f"ingest stopped: {pipeline.failed}")
    summary = stats.summary()
    summary["file"] = str(path)
    return summary


def run_live(ogn: tuple[str, int] | None, beast: list[tuple[str, int]], *,
             ogn_filter: str | None = None, callsign: str = "N0CALL",
             beast_position: tuple[float, float] | None = None,
             metrics_port: int | None = None, stats_interval: float = 30.0,
             queue_timeout: float = 5.0) -> dict:
    """Ingest live feeds until SIGINT/SIGTERM (or the pipeline fails), flush, and
    return the stats summary (with `failed` when the pipeline stopped on an error).
    One reader thread and one chunk timer per feed."""
    clients: list[tuple[str, object, str]] = []
    if ogn:
        host, port = ogn
        clients.append(("aprs", AprsClient(host, port, callsign=callsign, filter=ogn_filter),
                        f"{host}:{port}"))
    for host, port in beast:
        clients.append(("beast", BeastClient(host, port), f"{host}:{port}"))

    stats = IngestStats()
    url = db.role_url("ingest")
    db.connect(url).close()
    pipeline = build(url, stats, PipelineConfig(drop_after_s=queue_timeout),
                     receiver_position=beast_position)
    if metrics_port:
        from soar.ingest import metrics
        metrics.serve(metrics_port, stats)
    pipeline.start()
    logger = StatsLogger(stats, stats_interval)
    logger.start()
    threads = []
    with stop_on_signals() as stop:
        for kind, client, name in clients:
            chunker = Chunker(pipeline)
            if kind == "aprs":
                def on_line(received_at, raw, c=chunker):
                    c.add(Message("aprs", received_at, raw))
                callback = on_line
            else:
                def on_frame(received_at, frame, c=chunker, n=name):
                    c.add(Message("modes", received_at, frame.payload, signal_dbfs(frame.signal), n))
                callback = on_frame
            for fn, args in ((client.run, (callback, stop)), (chunker.run_timer, (stop,))):
                t = threading.Thread(target=fn, args=args, daemon=True)
                t.start()
                threads.append(t)
        while not stop.wait(1.0):
            if pipeline.failed:
                stop.set()
        for t in threads:
            t.join(timeout=10)
    pipeline.close()
    logger.stop.set()
    summary = stats.summary()
    if pipeline.failed:
        summary["failed"] = str(pipeline.failed)
    return summary
