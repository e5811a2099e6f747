"""Incident benchmark: the same simulated load through the pipeline as built and
through the old design as it ran (bench/baseline.py), with a slow but alive Pelias,
over a fixes hypertable of production's size, printing JSON (the last line) and
drawing a PNG.

The production failure this answers: the old router's queue filled (1000/1000),
flight INSERTs took 32 s and completions 25 s (runway detection over the fixes
hypertable and reverse geocoding inline), throughput fell to 3 ADS-B operations/s.
The rule shown here: soar's flight writes and ingest do not depend on Pelias; the
old design's do.

The database (bench/preload.py): an embedded cluster kept under the results folder,
its template migrated with all OurAirports airports and GeoNames places and the
fixes hypertable preloaded (`--preload-rows`, default 20 million, over
`--preload-days` one-day chunks before the load), TimescaleDB's background workers
on; made once per set of parameters, one file-copy clone per run.

The load (soar.simulate with its ground truth; made once and kept): by default 1,350
OGN aircraft at 135 airfields (~2,500 APRS lines per second of data, the OGN
network's reported peak) and 100 ADS-B aircraft on a Beast feed, short flights, and
`Profile.early_events` (takeoffs and landings from the first minutes of data), fed at
`--speed` (10x: data time 10x faster than wall time) in chunks of at most 500
messages (as the live Chunker), each submitted when its last message is due. Every
run feeds the same data from its start, for as long as it needs (below).

Runs, per fake-Pelias latency (default 0, 1, 2, 5 and 30 s; tests/helpers/fake_pelias.py
in a process of its own):
- pipeline: soar.ingest.build as `soar run` uses it (router queue of 256 chunks; a chunk
  that finds it full goes to the disk buffer, `overflow-<run>/`, as `soar run`'s default
  `--overflow-dir` does, and comes back in order; after the feed the run waits up to
  `--overflow-drain` s for the buffer to empty before closing); the enrichment worker
  is a real `soar worker` subprocess (default options, PELIAS_URL set), stopped once
  its queue drained (bounded by `--drain-ceiling`).
- sync, the old design (bench/baseline.py): a router queue of 1,000 messages (2 chunks
  of 500) that blocks the feed reader up to `FEED_BLOCK_S`, then drops (counted); a
  reader that fell more than `UPSTREAM_BUFFER_S` behind loses what the server could
  not send (counted as dropped upstream); fixes committed by the writer; flights
  created and completed by a pool of 20 connections, each event op with runway
  detection, the completion's fixes read and a Pelias call (no cache) inline.
Each run lasts `--warmup` s plus a measured window of max(`--min-window`, `--rounds` x
latency - `--warmup`) s of wall time (so at least `--rounds` Pelias round trips per
connection at that latency), then gets `--grace` s to finish, else it is measured as
it stands (the cutoff) and abandoned (what is not committed counted as
`db/unwritten`; the old design's ops in progress rolled back). The pipeline's worker
then gets max(`--drain-ceiling`, latency) s to empty its queue.

Per run (definitions; figures over the measured window unless said):
- flight_event_ops_per_s: takeoff creates and landing completes COMMITTED per wall
  second; offered_event_ops_per_s: the truth's takeoffs and landings in the window's
  data, per wall second.
- beast_msgs_per_s, aprs_msgs_per_s: messages taken by the router (not dropped).
- fixes_stored_fraction (whole run, to its end or cutoff): fixes committed over the
  fixes offered, those in dropped chunks estimated at the run's own fixes-per-message
  ratio (a dropped chunk is never parsed).
- create_takeoff_ms, complete_landing_ms (p50/p99/max, event ops only): the flight
  statement timed in the writer thread (pipeline), the whole op with its inline
  enrichment on its pool connection (sync).
- flight_commit_lag_s: from the wall time an event's last fix was fed to the commit of
  its flights row.
- probe_ms (bench/floor.py `Probe`): a takeoff create of the same shape, from a thread
  of the bench process, rolled back, every 5 ms during the same window: what the
  machine gives that statement then; create_takeoff p99 is read against it, per run.
- enriched_fraction, pelias_fraction: events with a place / of those, places from
  Pelias (the rest: the offline fallback); pipeline: in the database after the drain;
  sync: inline calls made / answered.
- detection (soar.simulate.score, `--tolerance` 10 s, events in the last 60 s of the
  run's data optional): takeoffs and landings found and missed, for both designs.
- router queue depth every 100 ms (max, p99, fill), enrichment lag (pgmq archive
  enqueued_at -> archived_at; still queued at the ceiling: their age, lower bounds),
  RSS, the accounting (every message offered is routed or dropped, counted).

Summary keys: the per-run figures by run (`<design>_<latency>`), the old ones kept
(`throughput_ratio_*` over msgs/s, `create_flight_p99_ms` etc.: the worst pipeline
run, `round_trip_floor_p99_ms`: that same run's probe), and
`event_ratio_pipeline_vs_sync_pelias30` (flight_event_ops_per_s at the highest
latency).

    .venv/bin/python bench/incident.py [--png PATH] [--out DIR] [--quick]
    make bench-incident
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # helpers.fake_pelias (used as is)

import psycopg  # noqa: E402

from bench import floor, process  # noqa: E402
from bench.baseline import OldDesign  # noqa: E402
from bench.events import LANDING, TAKEOFF, EventLog, PipelineHooks  # noqa: E402
from bench.preload import BenchDatabase, Preload  # noqa: E402
from bench.worker import PeliasProcess, measure_burst  # noqa: E402
from soar import ingest  # noqa: E402
from soar.ingest.pipeline import PipelineConfig  # noqa: E402
from soar.ingest.stats import IngestStats  # noqa: E402
from soar.products.flights import fetch  # noqa: E402
from soar.records import aircraft_id  # noqa: E402
from soar.simulate import Profile, SimConfig, read_truth, record, replay_chunks, score  # noqa: E402

START = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)
SAMPLE_S = 0.1          # queue depth / counter sampling period
CHUNK_MAX = 500         # messages per chunk, as the live Chunker (soar.ingest.app)
EDGE_S = 60.0           # data seconds at the end of a run whose events are optional
PRELOAD = Preload()     # the default preload (bench/preload.py)
# The old design's router queue: 1,000 messages (the seed's), as chunks of CHUNK_MAX.
OLD_ROUTER_QUEUE_MESSAGES = 1000
# How long its feed reader blocks on a full queue before the chunk is dropped, and how
# far behind it may fall before the server drops what it cannot send (the APRS-IS
# server's buffer for a slow client).
FEED_BLOCK_S = 0.5
UPSTREAM_BUFFER_S = 2.0
# Short flights, takeoffs and landings from the first minutes (soar.simulate).
PROFILE = Profile(glider_flight_s=(60.0, 240.0), powered_flight_s=(60.0, 240.0),
                  wait_s=(30.0, 120.0), xc_fraction=0.0, soaring_radius_m=(1000.0, 4000.0),
                  early_events=True)
PLACES = """
SELECT count(*) FILTER (WHERE f.takeoff_time IS NOT NULL),
       count(ls.id) FILTER (WHERE f.takeoff_time IS NOT NULL),
       count(*) FILTER (WHERE f.takeoff_time IS NOT NULL AND ls.source = 'pelias'),
       count(*) FILTER (WHERE f.landing_time IS NOT NULL),
       count(le.id) FILTER (WHERE f.landing_time IS NOT NULL),
       count(*) FILTER (WHERE f.landing_time IS NOT NULL AND le.source = 'pelias')
  FROM flights f
  LEFT JOIN locations ls ON ls.id = f.start_location_id
  LEFT JOIN locations le ON le.id = f.end_location_id
"""


@dataclass
class Load:
    meta: dict
    folder: Path
    chunks: list              # (due offset in data seconds, chunk)
    offered: int
    first_ts: float           # data time of the first message (unix s)
    truth: list
    events_at: list           # data offsets of the truth's takeoffs and landings


@dataclass
class Sampler:
    """Samples the pipeline every SAMPLE_S: queue depth, counters, RSS."""
    stats: IngestStats
    t0: float
    rows: list = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        s = self.stats
        while not self.stop.wait(SAMPLE_S):
            msgs = dict(s.messages)
            dropped = dict(s.dropped_by_source)
            self.rows.append((time.monotonic(), s.queue_depth["router_in"](),
                              msgs.get("aprs", 0) - dropped.get("aprs", 0),
                              msgs.get("modes", 0) - dropped.get("modes", 0),
                              s.fixes_written, _rss_mb("self")))


def _rss_mb(pid: str | int, key: str = "VmRSS") -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    data = sorted(values)
    return data[min(len(data) - 1, int(q / 100 * len(data)))]


def _r(v, nd: int = 3):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(v, nd)


def _latency(data: list[float], nd: int = 3) -> dict:
    return {"n": len(data), "p50": _r(_pct(data, 50), nd), "p99": _r(_pct(data, 99), nd),
            "max": _r(max(data, default=None), nd)}


def window_s(latency_s: float, args) -> float:
    """The measured window of a run: with the warm-up before it, long enough for
    `--rounds` Pelias round trips per connection at its latency."""
    return max(args.min_window, args.rounds * latency_s - args.warmup)


# -- the load ---------------------------------------------------------------------------

def simulate(args, out: Path, data_s: int) -> Load:
    cfg = SimConfig(start=START, duration_s=data_s, aircraft=args.aircraft,
                    beast_aircraft=args.beast_aircraft, seed=args.seed,
                    aircraft_per_field=10, airborne_fraction=0.5, profile=PROFILE)
    key = hashlib.sha256(repr(cfg).encode()).hexdigest()[:12]
    folder = out / f"sim-{key}"
    meta_file = folder / "simulation.json"
    t0 = time.monotonic()
    if meta_file.exists():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        print(f"load: reusing {folder}", file=sys.stderr)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        meta = record(cfg, folder, beast=False)
    chunks = _chunks(folder)
    first = chunks[0][1][0].received_at.timestamp() if chunks else None
    offered = sum(len(c) for _, c in chunks)
    truth = read_truth(folder / "truth.jsonl")
    events_at = sorted(datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp() - first
                       for r in truth if r["event"] in (TAKEOFF, LANDING))
    print(f"load: {meta['aprs_lines']} APRS lines + {meta['frames']} frames, "
          f"{len(chunks)} chunks, ready in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return Load(meta, folder, chunks, offered, first or 0.0, truth, events_at)


def _chunks(folder: Path) -> list:
    """The recording as (due offset, chunk) pairs. Parsing the files makes ~50,000
    messages/s (minutes for the 30 s runs' data), so the result is kept beside them as
    a pickle (this benchmark's own cache, written and read by it only) that loads
    ~5x faster, with the collector off (millions of new tuples)."""
    cache = folder / f"chunks-{CHUNK_MAX}.pickle"
    gc.disable()
    try:
        if cache.exists():
            with open(cache, "rb") as f:
                return [pickle.load(f) for _ in range(pickle.load(f))]
        chunks, first = [], None
        for chunk in replay_chunks(folder, chunk_s=1.0, max_chunk=CHUNK_MAX):
            if first is None:
                first = chunk[0].received_at.timestamp()
            chunks.append((chunk[-1].received_at.timestamp() - first, chunk))
        chunks.sort(key=lambda c: c[0])
        tmp = cache.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            # A count, then one pickle per chunk: the pickler's memo stays one chunk's
            # size (one pickle of millions of messages would double the memory).
            pickle.dump(len(chunks), f)
            for item in chunks:
                pickle.dump(item, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cache)
        return chunks
    finally:
        gc.enable()
        gc.freeze()     # the load lives for the whole benchmark: never scanned again


def aircraft_ids(load: Load) -> list[int]:
    return sorted(aircraft_id(int(r["address_type"]), int(r["address"], 16))
                  for r in load.truth if r["event"] == "aircraft")


# -- the worker subprocess --------------------------------------------------------------

def start_worker(url: str, pelias_url: str, extra: list[str], log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, SOAR_WORKER_DATABASE_URL=url, PELIAS_URL=pelias_url)
    log = open(log_path, "ab")   # noqa: SIM115 -- handed to the child, closed with it
    try:
        return subprocess.Popen([sys.executable, "-m", "soar", "worker", *extra],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    finally:
        log.close()


def stop_worker(proc: subprocess.Popen) -> float | None:
    """SIGTERM, then kill after 5 s (its database is dropped anyway); its peak RSS."""
    peak = _rss_mb(proc.pid, "VmHWM")
    process.stop(proc, 5)
    return peak


def queue_left(url: str) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0]


def enrichment_lags(url: str) -> tuple[list[float], list[float]]:
    """(lags of archived messages, ages of those still queued), seconds."""
    with psycopg.connect(url) as c:
        done = [r[0] for r in c.execute(
            "SELECT extract(epoch FROM archived_at - enqueued_at)::float8 "
            "FROM pgmq.a_flight_enrichment")]
        left = [r[0] for r in c.execute(
            "SELECT extract(epoch FROM clock_timestamp() - enqueued_at)::float8 "
            "FROM pgmq.q_flight_enrichment")]
    return done, left


def places_in_database(url: str) -> dict:
    with psycopg.connect(url) as c:
        t, t_placed, t_pelias, ld, l_placed, l_pelias = c.execute(PLACES).fetchone()
    events, placed, pelias = t + ld, t_placed + l_placed, t_pelias + l_pelias
    return {"events": events, "placed": placed, "pelias": pelias,
            "enriched_fraction": _r(placed / events if events else None),
            "pelias_fraction": _r(pelias / placed if placed else None)}


# -- one run ----------------------------------------------------------------------------

class Feeder:
    """Feeds the load's chunks when due. For the old design, a reader more than
    UPSTREAM_BUFFER_S behind loses the chunks the server could not send (counted)."""

    def __init__(self, pipeline, load: Load, speed: float, until_data_s: float,
                 upstream_buffer_s: float | None):
        self.pipeline, self.load, self.speed = pipeline, load, speed
        self.until, self.buffer = until_data_s, upstream_buffer_s
        self.offered = 0
        self.dropped_upstream: dict[str, int] = {}
        self.behind = 0.0

    def run(self, t0: float) -> None:
        for due_data, chunk in self.load.chunks:
            if due_data > self.until:
                break
            self.offered += len(chunk)
            due = t0 + due_data / self.speed
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            else:
                self.behind = max(self.behind, now - due)
                if self.buffer is not None and now - due > self.buffer:
                    kind = chunk[0].kind
                    self.dropped_upstream[kind] = self.dropped_upstream.get(kind, 0) + len(chunk)
                    continue
            self.pipeline.submit(chunk, source=chunk[0].kind)


def run_once(db: BenchDatabase, load: Load, fake: PeliasProcess, design: str,
             latency_s: float, args, out: Path) -> dict:
    cluster = db.cluster
    name = f"incident_{design}_{str(latency_s).replace('.', '_')}"
    t_clone = time.monotonic()
    db.clone(name)
    owner_url = cluster.url(name)
    with psycopg.connect(owner_url) as c:
        c.execute(floor.INSERT_PROBE_AIRCRAFT,
                  (floor.PROBE_AIRCRAFT, floor.PROBE_ADDRESS, floor.PROBE_ADDRESS_TYPE))
    clone_s = time.monotonic() - t_clone
    fake.set_delay(latency_s)
    requests_before = fake.count
    stats = IngestStats()
    window = window_s(latency_s, args)
    until_data = (args.warmup + window) * args.speed
    if design == "sync":
        config = PipelineConfig(in_queue_chunks=max(1, OLD_ROUTER_QUEUE_MESSAGES // CHUNK_MAX),
                                drop_after_s=FEED_BLOCK_S, shutdown_deadline_s=args.grace + 600)
    else:
        overflow_dir = out / f"overflow-{name}"
        shutil.rmtree(overflow_dir, ignore_errors=True)
        config = PipelineConfig(drop_after_s=0, shutdown_deadline_s=args.grace + 600,
                                overflow_dir=overflow_dir)
    ingest_url = cluster.url(name, user="soar_ingest")
    pipeline = ingest.build(ingest_url, stats, config,
                            receiver_position=tuple(load.meta["beast_receiver_position"]))
    clock: dict[str, float] = {}

    def received_wall(t: datetime) -> float:
        return clock["t0"] + (t.timestamp() - load.first_ts) / args.speed

    log = EventLog(received_wall)
    old = worker = None
    if design == "sync":
        OldDesign.prepare(owner_url)
        old = OldDesign(owner_url, fake.url, log).attach(pipeline.writer)
    else:
        PipelineHooks(pipeline.writer, log)
        worker = start_worker(cluster.url(name, user="soar_worker"), fake.url,
                              args.worker_args.split(), out / f"worker-{name}.log")
    pipeline.start()
    rss_before = _rss_mb("self")
    probe = floor.Probe(ingest_url).start()
    feeder = Feeder(pipeline, load, args.speed, until_data,
                    UPSTREAM_BUFFER_S if design == "sync" else None)
    t0 = clock["t0"] = time.monotonic()
    sampler = Sampler(stats, t0)
    sampling = threading.Thread(target=sampler.run, name="bench-sampler", daemon=True)
    sampling.start()
    feeder.run(t0)
    t_fed = time.monotonic()
    w0, w1 = t0 + args.warmup, t_fed

    # The disk buffer's backlog is live data routed late: it is waited for (a ceiling),
    # not abandoned, as `soar run` routes it once there is room.
    overflow_wait_s = 0.0
    if stats.disk_buffer is not None:
        ceiling = time.monotonic() + args.overflow_drain
        while stats.disk_buffer.messages and time.monotonic() < ceiling:
            time.sleep(0.1)
        overflow_wait_s = time.monotonic() - t_fed
    # Grace, then the cutoff: measure what got through, abandon the rest.
    abandon = threading.Event()
    closer = threading.Thread(target=pipeline.close, kwargs={"abandon": abandon},
                              name="bench-close", daemon=True)
    closer.start()
    closer.join(args.grace)
    cut = closer.is_alive()
    t_graced = time.monotonic()
    sampler.stop.set()
    sampling.join()
    t_sampled = time.monotonic()
    probe.stop()
    t_end = time.monotonic()
    snap = stats.accounting()
    if cut:
        if old is not None:
            old.cut()
        abandon.set()
        closer.join(180)
    if old is not None:
        old.close()        # after a cutoff: nothing more is written (cut above)
    final = stats.accounting()

    worker_peak = drained = None
    if worker is not None:
        deadline = time.monotonic() + max(args.drain_ceiling, latency_s)
        while ((left := queue_left(owner_url)) and time.monotonic() < deadline
               and worker.poll() is None):
            time.sleep(0.5)
        drained = left == 0
        worker_peak = stop_worker(worker)
    t_done = time.monotonic()

    lag_done, lag_left = enrichment_lags(owner_url) if worker is not None else ([], [])
    lags = lag_done + lag_left
    placed = places_in_database(owner_url) if worker is not None else None
    flights = fetch(owner_url, limit=1_000_000)
    horizon = datetime.fromtimestamp(load.first_ts + until_data, timezone.utc)
    detection = score(load.truth, flights, load.meta["start"], horizon,
                      tolerance_s=args.tolerance, edge_s=EDGE_S)
    bgw = db.background_workers(name)
    db.drop(name)
    if config.overflow_dir is not None:
        shutil.rmtree(config.overflow_dir, ignore_errors=True)

    rows = sampler.rows
    win = [r for r in rows if w0 <= r[0] <= w1]
    span = (win[-1][0] - win[0][0]) if len(win) > 1 else 0.0

    def rate(col: int) -> float | None:
        return round((win[-1][col] - win[0][col]) / span, 1) if span > 0 else None

    commits = [c for c in log.commits if w0 <= c[0] <= w1]
    wall_w = w1 - w0
    data_w0, data_w1 = (w0 - t0) * args.speed, (w1 - t0) * args.speed
    offered_events = sum(1 for t in load.events_at if data_w0 <= t < data_w1)
    depths = [r[1] for r in rows]
    cap = config.in_queue_chunks
    dropped_msgs = sum(final["dropped"].values()) + sum(feeder.dropped_upstream.values())
    routed = final["messages_in"] - sum(final["dropped"].values())
    accepted = stats.fixes_accepted
    fixes_offered = accepted + (dropped_msgs * accepted / routed if routed else 0)
    create = [ms for at, ms in log.write_ms[TAKEOFF] if w0 <= at <= w1]
    complete = [ms for at, ms in log.write_ms[LANDING] if w0 <= at <= w1]
    probe_w = probe.between(w0, w1)
    det = _detection(detection)
    if old is not None:
        s = old.summary()
        enrich = {"enriched_fraction": _r(s["events_enriched_inline"] / len(log.commits)
                                          if log.commits else None),
                  "pelias_fraction": _r(s["pelias_calls"] / s["events_enriched_inline"]
                                        if s["events_enriched_inline"] else None)}
    else:
        enrich = {k: placed[k] for k in ("enriched_fraction", "pelias_fraction")}
    result = {
        "design": design, "pelias_latency_s": latency_s,
        "offered": feeder.offered, "messages_in": final["messages_in"],
        "dropped_queue_full": stats.dropped_queue_full,
        "dropped_upstream": dict(feeder.dropped_upstream),
        "dropped_by_source": dict(stats.dropped_by_source),
        "overflow": {**stats.overflow(), "wait_s": round(overflow_wait_s, 2)}
        if stats.disk_buffer is not None else None,
        "cut_off": cut, "wall_s": round(t_end - t0, 2), "feed_s": round(t_fed - t0, 2),
        "window_s": round(wall_w, 2), "warmup_s": args.warmup,
        "data_s": round(until_data, 1), "feeder_max_behind_s": round(feeder.behind, 3),
        "clone_s": round(clone_s, 1),
        "end_phases_s": {"grace": round(t_graced - t_fed, 2),
                         "sampler": round(t_sampled - t_graced, 2),
                         "probe": round(t_end - t_sampled, 2)},
        # The measured window's figures.
        "flight_event_ops_per_s": round(len(commits) / wall_w, 2) if wall_w > 0 else None,
        "offered_event_ops_per_s": round(offered_events / wall_w, 2) if wall_w > 0 else None,
        "beast_msgs_per_s": rate(3), "aprs_msgs_per_s": rate(2),
        "msgs_per_s": (round(rate(2) + rate(3), 1) if span > 0 else None),
        "fixes_per_s": rate(4),
        "offered_per_s": round(feeder.offered / max(t_fed - t0, 1e-9), 1),
        "fixes_written": stats.fixes_written,
        # At the run's end (its cutoff): what the writer commits after it is not counted.
        "fixes_stored_fraction": round(snap["fixes_stored"] / fixes_offered, 4)
        if fixes_offered else None,
        "create_takeoff_ms": _latency(create), "complete_landing_ms": _latency(complete),
        "probe_ms": probe_w,
        "create_takeoff_p99_over_probe_p99": _r(_pct(create, 99) / probe_w["p99_ms"], 2)
        if create and probe_w["p99_ms"] else None,
        "flight_commit_lag_s": _latency([c[2] for c in commits], 2),
        **enrich,
        "places": placed,
        # The writer thread's own flight-op timings (every op, whole run: IngestStats).
        "create_flight_ms": _latency(list(stats.latency["create_flight"].recent)),
        "complete_flight_ms": _latency(list(stats.latency["complete_flight"].recent)),
        "router_queue": {
            "capacity_chunks": cap, "capacity_messages": cap * CHUNK_MAX,
            "max": max(depths, default=0), "p99": _pct(depths, 99),
            "max_fill": round(max(depths, default=0) / cap, 3),
            "p99_fill": round((_pct(depths, 99) or 0) / cap, 3)},
        "enrichment": None if worker is None else {
            "archived": len(lag_done), "still_queued": len(lag_left), "drained": drained,
            "lag_p50_s": _r(_pct(lags, 50), 2), "lag_p99_s": _r(_pct(lags, 99), 2),
            "lag_max_s": _r(max(lags, default=None), 2), "censored": bool(lag_left),
            "drain_s": round(t_done - t_end, 1)},
        "pelias_requests": fake.count - requests_before,
        "sync": None if old is None else dict(
            old.summary(), detect_runway_ms=_latency(old.detect_runway_ms),
            completion_read_ms=_latency(old.completion_read_ms),
            pelias_ms=_latency(old.pelias_ms, 1)),
        "detection": det,
        "timescaledb_background_workers": bgw,
        "rss_mb": {"bench_before": _r(rss_before, 1),
                   "bench_peak": _r(max((r[5] for r in rows if r[5]), default=None), 1),
                   "worker_peak": _r(worker_peak, 1)},
        "accounting": {"balanced": final["balanced"], "unaccounted": final["unaccounted"],
                       "in_flight": final["in_flight"], "dropped": final["dropped"],
                       "rejected": final["rejected"], "in_flight_at_end": snap["in_flight"],
                       "offered_equals_in": final["messages_in"]
                       + sum(feeder.dropped_upstream.values()) == feeder.offered},
        "failed": str(pipeline.failed) if pipeline.failed else None,
        "series": _series(rows, log.commits, t0, t_fed, cap),
    }
    print(f"run {design} pelias={latency_s}s: {result['flight_event_ops_per_s']} events/s "
          f"(offered {result['offered_event_ops_per_s']}), {result['msgs_per_s']} msgs/s, "
          f"beast {result['beast_msgs_per_s']}/s, fixes stored "
          f"{result['fixes_stored_fraction']}, queue max {result['router_queue']['max']}/{cap}, "
          f"create p99 {result['create_takeoff_ms']['p99']} ms (probe p99 "
          f"{probe_w['p99_ms']} ms), takeoffs {det['takeoff']['matched']}/"
          f"{det['takeoff']['truth']}, landings {det['landing']['matched']}/"
          f"{det['landing']['truth']}, cut={cut}, {time.monotonic() - t_clone:.0f} s",
          file=sys.stderr)
    return result


def _detection(result: dict) -> dict:
    out = {}
    for event in (TAKEOFF, LANDING):
        r = result[event]
        out[event] = {k: r.get(k) for k in ("truth", "matched", "missed", "extra", "error_s_p50",
                                            "error_s_p95", "located", "airport_correct",
                                            "runway_correct")}
    out["tolerance_s"] = result.get("tolerance_s")
    return out


def _series(rows: list, commits: list, t0: float, t_fed: float, cap: int) -> dict:
    """Per-second series for the chart: router queue fill (max in the second), flight
    events committed, fixes written, takeoffs committed so far."""
    t, fill, fixes, events, takeoffs = [], [], [], [], []
    commit_s = sorted((c[0], c[1]) for c in commits)
    last_f, i, n_takeoffs = None, 0, 0
    bucket: list = []
    for row in rows:
        bucket.append(row)
        if len(bucket) * SAMPLE_S < 1.0 - 1e-9:
            continue
        tt = bucket[-1][0]
        dt = len(bucket) * SAMPLE_S
        n_events = 0
        while i < len(commit_s) and commit_s[i][0] <= tt:
            n_events += 1
            n_takeoffs += commit_s[i][1] == TAKEOFF
            i += 1
        f = bucket[-1][4]
        t.append(round(tt - t0, 1))
        fill.append(round(100 * max(b[1] for b in bucket) / cap, 1))
        fixes.append(round((f - (last_f if last_f is not None else bucket[0][4])) / dt))
        events.append(round(n_events / dt, 2))
        takeoffs.append(n_takeoffs)
        last_f = f
        bucket = []
    return {"t_s": t, "router_queue_fill_pct": fill, "fixes_per_s": fixes,
            "events_per_s": events, "takeoffs_committed": takeoffs,
            "feed_end_s": round(t_fed - t0, 2)}


# -- the worker's burst figure ----------------------------------------------------------

def enrichment_events_per_s_pelias200ms(url: str, fake: PeliasProcess) -> dict:
    """The worker's burst figure: bench/worker.py's `measure_burst` (the one-minute
    OGN capture's 2,212 enrichment events drained with default settings, in a scratch
    database of this cluster) against the fake Pelias answering in 0.2 s."""
    fake.set_delay(0.2)
    t0 = time.monotonic()
    result = dict(measure_burst(url, fake.url))
    result["bench_s"] = round(time.monotonic() - t0, 1)
    print(f"burst: {result.get('events_per_s')} events/s at 0.2 s ({result['bench_s']} s)",
          file=sys.stderr)
    return result


# -- the chart --------------------------------------------------------------------------

def chart(runs: list[dict], path: Path, summary: dict) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: pip install -e '.[bench]' (make bench-incident does)"
    latencies = sorted({r["pelias_latency_s"] for r in runs})
    panels = (("events_per_s", "flight events committed / s"),
              ("fixes_per_s", "fixes stored / s"),
              ("takeoffs_committed", "takeoffs committed (cumulative)"),
              ("router_queue_fill_pct", "router queue fill (%)"))
    fig, axes = plt.subplots(len(panels), len(latencies), figsize=(4.5 * len(latencies), 11),
                             squeeze=False)
    colours = {"pipeline": "tab:blue", "sync": "tab:red"}
    labels = {"pipeline": "pipeline", "sync": "old design"}
    for col, lat in enumerate(latencies):
        for r in runs:
            if r["pelias_latency_s"] != lat:
                continue
            s = r["series"]
            for row, (key, _) in enumerate(panels):
                ax = axes[row][col]
                ax.plot(s["t_s"], s[key], color=colours[r["design"]], linewidth=1,
                        label=f"{labels[r['design']]} ({r['flight_event_ops_per_s']} events/s)"
                        if row == 0 else labels[r["design"]])
                ax.axvline(s["feed_end_s"], color="grey", linestyle="-.", linewidth=0.8)
                ax.axvline(r["warmup_s"], color="grey", linestyle=":", linewidth=0.8)
            if r["design"] == "pipeline":
                axes[0][col].axhline(r["offered_event_ops_per_s"] or 0, color="grey",
                                     linestyle=":", linewidth=1)
        axes[0][col].set_title(f"Pelias latency {lat:g} s")
        axes[3][col].set_ylim(0, 105)
        axes[-1][col].set_xlabel("wall time (s)")
        axes[0][col].legend(loc="upper left", fontsize="small")
    for row, (_, label) in enumerate(panels):
        axes[row][0].set_ylabel(label)
    fig.suptitle("soar incident benchmark: pipeline vs the old design "
                 f"(events/s pipeline/old at the highest latency = "
                 f"{summary['event_ratio_pipeline_vs_sync_pelias30']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


# -- main -------------------------------------------------------------------------------

def summarise(runs: list[dict], latencies: list[float], args, load: Load, burst: dict,
              db: BenchDatabase) -> dict:
    pipe = {r["pelias_latency_s"]: r for r in runs if r["design"] == "pipeline"}
    sync = {r["pelias_latency_s"]: r for r in runs if r["design"] == "sync"}
    hi, lo = max(latencies), min(latencies)

    def ratio(a, b, key):
        return round(a[key] / b[key], 3) if a and b and a[key] is not None and b[key] else None

    def by_run(fn) -> dict:
        return {f"{d}_{k:g}": fn(r) for d, group in (("pipeline", pipe), ("sync", sync))
                for k, r in sorted(group.items())}

    worst = max(pipe.values(), key=lambda r: r["create_flight_ms"]["p99"] or 0, default=None)
    lags = {f"{k:g}": (r["enrichment"] or {}).get("lag_p99_s") for k, r in pipe.items()}
    return {
        "flight_event_ops_per_s": by_run(lambda r: r["flight_event_ops_per_s"]),
        "offered_event_ops_per_s": by_run(lambda r: r["offered_event_ops_per_s"]),
        "beast_msgs_per_s": by_run(lambda r: r["beast_msgs_per_s"]),
        "fixes_stored_fraction": by_run(lambda r: r["fixes_stored_fraction"]),
        "create_takeoff_p99_ms": by_run(lambda r: r["create_takeoff_ms"]["p99"]),
        "complete_landing_p99_ms": by_run(lambda r: r["complete_landing_ms"]["p99"]),
        "probe_p99_ms": by_run(lambda r: r["probe_ms"]["p99_ms"]),
        "flight_commit_lag_p99_s": by_run(lambda r: r["flight_commit_lag_s"]["p99"]),
        "enriched_fraction": by_run(lambda r: r["enriched_fraction"]),
        "pelias_fraction": by_run(lambda r: r["pelias_fraction"]),
        "takeoffs_found": by_run(lambda r: r["detection"]["takeoff"]["matched"]),
        "takeoffs_missed": by_run(lambda r: r["detection"]["takeoff"]["missed"]),
        "landings_found": by_run(lambda r: r["detection"]["landing"]["matched"]),
        "landings_missed": by_run(lambda r: r["detection"]["landing"]["missed"]),
        # Landings before the run's horizon (the later ones are optional).
        "landings_scored": by_run(lambda r: r["detection"]["landing"]["matched"]
                                  + r["detection"]["landing"]["missed"]),
        "dropped": by_run(lambda r: r["dropped_queue_full"] + sum(r["dropped_upstream"].values())),
        "router_queue_max_fill_by_run": by_run(lambda r: r["router_queue"]["max_fill"]),
        "sync_detect_runway_p99_ms": {f"{k:g}": r["sync"]["detect_runway_ms"]["p99"]
                                      for k, r in sync.items()},
        "sync_completion_read_p99_ms": {f"{k:g}": r["sync"]["completion_read_ms"]["p99"]
                                        for k, r in sync.items()},
        "sync_pelias_p99_ms": {f"{k:g}": r["sync"]["pelias_ms"]["p99"] for k, r in sync.items()},
        # The earlier keys for the old design (its event ops, inline enrichment included).
        "sync_create_flight_p99_ms": {f"{k:g}": r["create_takeoff_ms"]["p99"]
                                      for k, r in sync.items()},
        "sync_complete_flight_p99_ms": {f"{k:g}": r["complete_landing_ms"]["p99"]
                                        for k, r in sync.items()},
        "sync_inline_enriched_max_ms": {
            f"{k:g}": max((v for v in (r["create_takeoff_ms"]["max"],
                                       r["complete_landing_ms"]["max"]) if v is not None),
                          default=None) for k, r in sync.items()},
        "event_ratio_pipeline_vs_sync_pelias30": ratio(pipe.get(hi), sync.get(hi),
                                                       "flight_event_ops_per_s"),
        # The keys kept from the earlier method (msgs/s now over the measured window).
        "throughput_ratio_pelias30_vs_pelias0": ratio(pipe.get(hi), pipe.get(lo), "msgs_per_s"),
        "throughput_ratio_pipeline_vs_sync_pelias30": ratio(pipe.get(hi), sync.get(hi),
                                                            "msgs_per_s"),
        "create_flight_p99_ms": worst["create_flight_ms"]["p99"] if worst else None,
        "complete_flight_p99_ms": max((r["complete_flight_ms"]["p99"] or 0
                                       for r in pipe.values()), default=None),
        # The probe of the same run as create_flight_p99_ms (never another run's).
        "round_trip_floor_p99_ms": worst["probe_ms"]["p99_ms"] if worst else None,
        "router_queue_max_fill": max((r["router_queue"]["max_fill"] for r in pipe.values()),
                                     default=None),
        "enrichment_lag_p99_s": max((v for v in lags.values() if v is not None), default=None),
        "enrichment_lag_censored": any((r["enrichment"] or {}).get("censored")
                                       for r in pipe.values()),
        "enrichment_lag_p99_s_by_pelias": lags,
        "detection_missed": max((r["detection"]["takeoff"]["missed"]
                                 + r["detection"]["landing"]["missed"] for r in pipe.values()),
                                default=None),
        "detection_extra": max((r["detection"]["takeoff"]["extra"]
                                + r["detection"]["landing"]["extra"] for r in pipe.values()),
                               default=None),
        "enrichment_events_per_s_pelias200ms": burst.get("events_per_s"),
        "enrichment_burst": burst,
        "msgs_per_s": by_run(lambda r: r["msgs_per_s"]),
        "latencies_s": latencies,
        "windows_s": {f"{k:g}": window_s(k, args) for k in latencies},
        "database": {"preload_rows": db.preload.rows, "preload_days": db.preload.days,
                     "reused": db.reused, "prepare_s": round(db.prepare_s, 1)},
        "load": {"aprs_lines": load.meta["aprs_lines"], "frames": load.meta["frames"],
                 "offered": load.offered, "data_s": load.meta["duration_s"],
                 "speed": args.speed, "aircraft": args.aircraft,
                 "beast_aircraft": args.beast_aircraft, "warmup_s": args.warmup,
                 "rounds": args.rounds, "tolerance_s": args.tolerance,
                 "truth_events": load.meta.get("truth_events"),
                 "aprs_lines_per_wall_s": round(load.meta["aprs_lines"] / load.meta["duration_s"]
                                                * args.speed)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / ".soar" / "bench-incident",
                    help="results folder: the load, the database, worker logs, incident.json")
    ap.add_argument("--png", type=Path, default=None, help="chart (default OUT/incident.png)")
    ap.add_argument("--quick", action="store_true",
                    help="a tiny load and preload, short runs, no burst figure: checks the "
                         "pieces, not speed")
    ap.add_argument("--aircraft", type=int, default=1350, help="OGN aircraft (~2,500 lines/s)")
    ap.add_argument("--beast-aircraft", type=int, default=100)
    ap.add_argument("--speed", type=float, default=10.0, help="data seconds per wall second")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--latencies", default="0,1,2,5,30", help="fake Pelias latencies, seconds")
    ap.add_argument("--warmup", type=float, default=5.0,
                    help="wall seconds fed before the measured window")
    ap.add_argument("--min-window", type=float, default=20.0,
                    help="shortest measured window, wall seconds")
    ap.add_argument("--rounds", type=int, default=10,
                    help="Pelias round trips per connection a window lasts at its latency")
    ap.add_argument("--tolerance", type=float, default=10.0,
                    help="detection tolerance against the truth, seconds")
    ap.add_argument("--preload-rows", type=int, default=None,
                    help=f"fixes in the database before each run (default {PRELOAD.rows:,}; "
                         "--quick: 200,000)")
    ap.add_argument("--preload-days", type=int, default=None,
                    help=f"one-day chunks they fill (default {PRELOAD.days}; --quick: 2)")
    ap.add_argument("--grace", type=float, default=3.0,
                    help="seconds a run may take after the feed ends before it is cut off")
    ap.add_argument("--drain-ceiling", type=float, default=3.0,
                    help="seconds the worker gets after the run to empty the queue, at least "
                         "the run's Pelias latency (messages still queued then count with "
                         "their age as lower bounds)")
    ap.add_argument("--overflow-drain", type=float, default=120.0,
                    help="seconds the pipeline may take after the feed to route what waits in "
                         "its disk buffer (then the grace and cutoff as before)")
    ap.add_argument("--worker-args", default="", help="extra `soar worker` options")
    ap.add_argument("--no-burst", action="store_true", help="skip the worker burst figure")
    args = ap.parse_args()
    args.preload_rows = args.preload_rows if args.preload_rows is not None or args.quick \
        else PRELOAD.rows
    args.preload_days = args.preload_days if args.preload_days is not None or args.quick \
        else PRELOAD.days
    if args.quick:
        args.aircraft, args.beast_aircraft, args.speed = 40, 4, 30.0
        args.warmup, args.min_window, args.rounds = 1.0, 3.0, 0
        args.preload_rows = args.preload_rows or 200_000
        args.preload_days = args.preload_days or 2
        args.grace, args.drain_ceiling = 3.0, 5.0
    latencies = [float(x) for x in args.latencies.split(",")]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    png = args.png or out / "incident.png"
    t_start = time.monotonic()

    longest = max(args.warmup + window_s(lat, args) for lat in latencies)
    load = simulate(args, out, math.ceil(longest * args.speed + 2 * EDGE_S))
    db = BenchDatabase(out, Preload(args.preload_rows, args.preload_days), aircraft_ids(load),
                       START)
    runs: list[dict] = []
    # In a process of its own: serving Pelias costs the pipeline no CPU or GIL here.
    fake = PeliasProcess(0.0)
    try:
        cluster = db.start()
        for latency in latencies:
            for design in ("pipeline", "sync"):
                runs.append(run_once(db, load, fake, design, latency, args, out))
        burst = ({"events_per_s": None, "skipped": "--no-burst or --quick"}
                 if args.no_burst or args.quick
                 else enrichment_events_per_s_pelias200ms(cluster.url(), fake))
    finally:
        fake.close()
        db.stop()
    summary = summarise(runs, latencies, args, load, burst, db)
    chart_error = chart(runs, png, summary)
    summary["png"] = str(png) if chart_error is None else None
    if chart_error:
        print(chart_error, file=sys.stderr)
    summary["total_s"] = round(time.monotonic() - t_start, 1)
    summary["runs"] = runs
    (out / "incident.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
