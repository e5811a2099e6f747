"""Incident benchmark: the same simulated load through the pipeline as built and
through a synchronous baseline of the replaced system, with a slow Pelias, printing
JSON (the last line) and drawing a PNG.

The production failure this answers: the old router's queue filled (1000/1000),
flight INSERTs took 32 s and completions 25 s (runway detection and reverse
geocoding inline), throughput fell to 3 ADS-B operations/s. The rule shown here:
soar's ingest throughput does not depend on Pelias; the old design's does.

One command, one throw-away embedded cluster (default durability, as bench/ingest.py),
a template database migrated with all OurAirports airports and GeoNames places, one
clone of it per run. The load (soar.simulate, with its ground truth; made once and
kept in the results folder): by default 1,350 OGN aircraft at 135 airfields (~2,500
APRS lines per second of data, the OGN network's reported peak) and 100 ADS-B
aircraft on a Beast feed, 360 s of data (short flights, so that takeoffs and some
landings fall inside), fed at 10x speed (data time 10x faster than wall time: ~25,000
APRS lines/s plus ~4,000 Mode-S frames/s), in chunks of at most 500 messages (as the
live Chunker) submitted when their last message is due, with live semantics
(PipelineConfig.drop_after_s=0: a full router queue drops the chunk and counts it).
Data time drives the tracker, so flights are detected as live.

Runs, each at fake-Pelias latency 0 s, 5 s and 30 s (tests/helpers/fake_pelias.py on
loopback):
- pipeline: soar.ingest.build as `soar run` uses it; the enrichment worker is a real
  `soar worker` subprocess (default options, PELIAS_URL set; `--worker-args` adds
  more) started before the feed and stopped once the queue drained (bounded by
  `--drain-ceiling`).
- sync: the same pipeline whose writer enriches inline (bench/baseline.py:
  detect_runway and a blocking Pelias call inside create/complete), no worker.
After the feed ends, each run gets `--grace` seconds to finish; a run that has not
(the sync runs at 5 s/30 s) is measured as it stands then (the cutoff) and abandoned
(the call in progress cut, what is not committed counted as `db/unwritten`).

Per run: messages/s and fixes/s sustained, router queue depth sampled every 100 ms
(max, p99, as a fraction of capacity), create/complete latency p50/p99/max
(IngestStats, measured in the writer thread around the flight statement: inline
enrichment included for sync), enrichment lag (pgmq archive enqueued_at ->
archived_at of flight_enrichment; messages still queued at the drain ceiling count
with their age then, as lower bounds), detection against the ground truth
(soar.simulate.score), peak RSS (bench process, which holds the load, and worker),
and the accounting (every message offered is routed or dropped).

Key figures (the last line's top-level keys):
- msgs/s of a run: messages finished (routed by the router and, for fixes,
  committed: the messages routed minus those dropped at the router queue, minus
  accepted fixes unwritten or still in flight at the end; messages still waiting in
  the router queue at a cutoff do not count), per second of wall time from the first
  chunk to the end of the run (the pipeline closed, or the cutoff). The pipeline's
  worker shares the machine: at 0 s latency it enriches (CPU), at 5/30 s it mostly
  waits on Pelias, so pelias30/pelias0 can exceed 1.
- throughput_ratio_pelias30_vs_pelias0: pipeline msgs/s at the highest latency over
  pipeline msgs/s at 0 s (target >= 0.95).
- throughput_ratio_pipeline_vs_sync_pelias30: pipeline over sync msgs/s, both at the
  highest latency.
- create_flight_p99_ms, complete_flight_p99_ms: the worst p99 of the pipeline runs.
- round_trip_floor_p99_ms: the worst p99 of a one-row INSERT sent every 5 ms by a
  separate process during the pipeline runs (bench/floor.py): the machine's own wait
  for any statement under this load, to read the create/complete p99 against.
- router_queue_max_fill: the highest router queue depth of the pipeline runs over
  its capacity (0..1; target < 0.5).
- enrichment_lag_p99_s: the worst p99 of the pipeline runs (lower bound when
  `enrichment_lag_censored`); per latency in `enrichment_lag_p99_s_by_pelias`.
- detection_missed, detection_extra: takeoffs + landings missed / extra against the
  truth (soar.simulate.score: 60 s tolerance; events in the last 60 s of data are
  optional), the worst of the pipeline runs (the sync runs' are in their details).
- enrichment_events_per_s_pelias200ms: bench/worker.py's burst figure (see
  `enrichment_events_per_s_pelias200ms` below).

    .venv/bin/python bench/incident.py [--png PATH] [--out DIR] [--quick]
    make bench-incident
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # helpers.fake_pelias (used as is)

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from bench.baseline import SyncEnrichment  # noqa: E402
from bench.floor import Floor  # noqa: E402
from bench.worker import PeliasProcess, free_port, measure_burst  # noqa: E402
from soar import ingest  # noqa: E402
from soar.db import embedded, migrate  # noqa: E402
from soar.ingest.pipeline import PipelineConfig  # noqa: E402
from soar.ingest.stats import IngestStats  # noqa: E402
from soar.products.flights import fetch  # noqa: E402
from soar.reference import airports, places  # noqa: E402
from soar.simulate import Profile, SimConfig, read_truth, record, replay_chunks, score  # noqa: E402

START = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)
TEMPLATE = "incident_template"
SAMPLE_S = 0.1          # queue depth / throughput sampling period
CHUNK_MAX = 500         # messages per chunk, as the live Chunker (soar.ingest.app)
# Short flights, so that a few minutes of data hold takeoffs AND landings.
PROFILE = Profile(glider_flight_s=(60.0, 240.0), powered_flight_s=(60.0, 240.0),
                  wait_s=(30.0, 120.0), xc_fraction=0.0, soaring_radius_m=(1000.0, 4000.0))


@dataclass
class Load:
    meta: dict
    folder: Path
    chunks: list              # (due offset in data seconds, chunk)
    offered: int
    data_s: float


@dataclass
class Sampler:
    """Samples the pipeline every SAMPLE_S: queue depths, counters, RSS."""
    stats: IngestStats
    t0: float
    rows: list = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        s = self.stats
        while not self.stop.wait(SAMPLE_S):
            depth = s.queue_depth
            self.rows.append((time.monotonic() - self.t0, depth["router_in"](),
                              depth["writer_in"](), sum(dict(s.messages).values()),
                              s.dropped_queue_full, s.fixes_written, _rss_mb("self")))


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
    return None if v is None else round(v, nd)


# -- the load ---------------------------------------------------------------------------

def simulate(args, out: Path) -> Load:
    cfg = SimConfig(start=START, duration_s=args.duration, aircraft=args.aircraft,
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
    chunks, offered, first = [], 0, None
    for chunk in replay_chunks(folder, chunk_s=1.0, max_chunk=CHUNK_MAX):
        t = chunk[-1].received_at.timestamp()
        if first is None:
            first = chunk[0].received_at.timestamp()
        chunks.append((t - first, chunk))
        offered += len(chunk)
    chunks.sort(key=lambda c: c[0])
    print(f"load: {meta['aprs_lines']} APRS lines + {meta['frames']} frames, "
          f"{len(chunks)} chunks, ready in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return Load(meta, folder, chunks, offered, chunks[-1][0] if chunks else 0.0)


# -- the database -----------------------------------------------------------------------

def prepare_template(cluster: embedded.Cluster) -> None:
    t0 = time.monotonic()
    with psycopg.connect(cluster.url(), autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    url = cluster.url(TEMPLATE)
    migrate.upgrade(url)
    with psycopg.connect(url) as c:
        airports.import_airports(c, *airports.default_sources())
        places.import_places(c, places.default_source())
        # Bench only: the sync baseline runs detect_runway inside the ingest writer's
        # transaction, as the old system did; soar's ingest role never may.
        c.execute("GRANT EXECUTE ON FUNCTION runway_ident_from_heading(double precision), "
                  "detect_runway(uuid, text, interval, double precision, double precision, "
                  "real) TO soar_ingest")
    with psycopg.connect(cluster.url(), autocommit=True) as c:
        c.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true").format(
            sql.Identifier(TEMPLATE)))
    print(f"database: template ready in {time.monotonic() - t0:.1f} s", file=sys.stderr)


def clone(cluster: embedded.Cluster, name: str) -> None:
    with psycopg.connect(cluster.url(), autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        c.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE)))


def drop(cluster: embedded.Cluster, name: str) -> None:
    with psycopg.connect(cluster.url(), autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# -- the worker subprocess --------------------------------------------------------------

def start_worker(cluster: embedded.Cluster, dbname: str, pelias_url: str, extra: list[str],
                 log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, SOAR_WORKER_DATABASE_URL=cluster.url(dbname, user="soar_worker"),
               PELIAS_URL=pelias_url)
    log = open(log_path, "ab")   # noqa: SIM115 -- handed to the child, closed with it
    try:
        return subprocess.Popen([sys.executable, "-m", "soar", "worker", *extra],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    finally:
        log.close()


def stop_worker(proc: subprocess.Popen) -> float | None:
    """SIGTERM, then kill after 5 s (its database is dropped anyway); its peak RSS."""
    peak = _rss_mb(proc.pid, "VmHWM")
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
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


# -- one run ----------------------------------------------------------------------------

def run_once(cluster, load: Load, fake: PeliasProcess, design: str, latency_s: float, args,
             out: Path) -> dict:
    name = f"incident_{design}_{str(latency_s).replace('.', '_')}"
    clone(cluster, name)
    fake.set_delay(latency_s)
    requests_before = fake.count
    stats = IngestStats()
    config = PipelineConfig(drop_after_s=0, shutdown_deadline_s=args.grace + 600)
    pipeline = ingest.build(cluster.url(name, user="soar_ingest"), stats, config,
                            receiver_position=tuple(load.meta["beast_receiver_position"]))
    sync = None
    if design == "sync":
        sync = SyncEnrichment(fake.url)
        pipeline.writer.write_flight_op = sync.write_op
    worker = None
    if design == "pipeline":
        worker = start_worker(cluster, name, fake.url, args.worker_args.split(),
                              out / f"worker-{name}.log")
    pipeline.start()
    rss_before = _rss_mb("self")
    floor = Floor(cluster.url(name)).start()
    t0 = time.monotonic()
    sampler = Sampler(stats, t0)
    sampling = threading.Thread(target=sampler.run, name="bench-sampler", daemon=True)
    sampling.start()

    # The feeder: each chunk when its last message is due (data time / speed).
    speed, behind = args.speed, 0.0
    for due_data, chunk in load.chunks:
        due = t0 + due_data / speed
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        else:
            behind = max(behind, now - due)
        pipeline.submit(chunk, source=chunk[0].kind)
    t_fed = time.monotonic()

    # Grace, then the cutoff: measure what got through, abandon the rest.
    abandon = threading.Event()
    closer = threading.Thread(target=pipeline.close, kwargs={"abandon": abandon},
                              name="bench-close", daemon=True)
    closer.start()
    closer.join(args.grace)
    cut = closer.is_alive()
    # The chart shows the run up to its end (the cutoff included), not the wind-down.
    sampler.stop.set()
    sampling.join()
    if cut:
        snap = _snapshot(stats, sync)
        t_end = time.monotonic()
        if sync is not None:
            sync.cut()
        abandon.set()
        closer.join(180)
    else:
        t_end = time.monotonic()
        snap = _snapshot(stats, sync)
    floor.stop()
    final = stats.accounting()

    worker_peak = None
    drained = None
    if worker is not None:
        url = cluster.url(name)
        deadline = time.monotonic() + args.drain_ceiling
        while (left := queue_left(url)) and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.5)
        drained = left == 0
        worker_peak = stop_worker(worker)
    t_done = time.monotonic()

    lag_done, lag_left = enrichment_lags(cluster.url(name)) if worker is not None else ([], [])
    lags = lag_done + lag_left
    flights = fetch(cluster.url(name), limit=1_000_000)
    detection = score(read_truth(load.folder / "truth.jsonl"), flights, load.meta["start"],
                      load.meta["end"])
    drop(cluster, name)

    elapsed = t_end - t0
    finished = snap["finished"]
    rows = sampler.rows
    depths = [r[1] for r in rows]
    cap = config.in_queue_chunks
    result = {
        "design": design, "pelias_latency_s": latency_s,
        "offered": load.offered, "messages_in": final["messages_in"],
        "dropped_queue_full": stats.dropped_queue_full,
        "finished_by_end": finished, "cut_off": cut,
        "wall_s": round(elapsed, 2), "feed_s": round(t_fed - t0, 2),
        "feeder_max_behind_s": round(behind, 3),
        "msgs_per_s": round(finished / elapsed, 1),
        "offered_per_s": round(load.offered / max(t_fed - t0, 1e-9), 1),
        "fixes_per_s": round(snap["fixes_written"] / elapsed, 1),
        "fixes_written": snap["fixes_written"],
        "router_queue": {
            "capacity_chunks": cap, "max": max(depths, default=0),
            "p99": _pct(depths, 99), "max_fill": round(max(depths, default=0) / cap, 3),
            "p99_fill": round((_pct(depths, 99) or 0) / cap, 3)},
        "writer_queue_max": max((r[2] for r in rows), default=0),
        "create_flight_ms": snap["create_flight"], "complete_flight_ms": snap["complete_flight"],
        "inline_enriched_ms": snap["inline_enriched_ms"],
        "round_trip_floor_ms": floor.result,
        "flight_ops": snap["flights"],
        "enrichment": None if worker is None else {
            "archived": len(lag_done), "still_queued": len(lag_left), "drained": drained,
            "lag_p50_s": _r(_pct(lags, 50), 2), "lag_p99_s": _r(_pct(lags, 99), 2),
            "lag_max_s": _r(max(lags, default=None), 2), "censored": bool(lag_left),
            "drain_s": round(t_done - t_end, 1)},
        "pelias_requests": fake.count - requests_before,
        "sync": sync.summary() if sync is not None else None,
        "detection": _detection(detection),
        "rss_mb": {"bench_before": _r(rss_before, 1),
                   "bench_peak": _r(max((r[6] for r in rows if r[6]), default=None), 1),
                   "worker_peak": _r(worker_peak, 1)},
        "accounting": {"balanced": final["balanced"], "unaccounted": final["unaccounted"],
                       "in_flight": final["in_flight"], "dropped": final["dropped"],
                       "rejected": final["rejected"],
                       "offered_equals_in": final["messages_in"] == load.offered},
        "failed": str(pipeline.failed) if pipeline.failed else None,
        "series": dict(_series(rows), feed_end_s=round(t_fed - t0, 2)),
    }
    print(f"run {design} pelias={latency_s}s: {result['msgs_per_s']:.0f} msgs/s, "
          f"dropped {result['dropped_queue_full']}, queue max {result['router_queue']['max']}"
          f"/{cap}, create p99 {snap['create_flight']['p99']} ms "
          f"(round-trip floor p99 {floor.result['p99_ms']} ms), cut={cut}", file=sys.stderr)
    return result


def _snapshot(stats: IngestStats, sync: SyncEnrichment | None) -> dict:
    """What a run achieved at this moment (its end, or the cutoff)."""
    acc = stats.accounting()
    unwritten = sum(n for (kind, reason), n in dict(stats.rejected).items() if kind == "db")
    finished = (acc["messages_in"] - sum(acc["dropped"].values()) - acc["in_flight"]
                - unwritten)
    out = {"finished": finished, "fixes_written": stats.fixes_written,
           "flights": dict(stats.flights)}
    for name, lat in stats.latency.items():
        data = list(lat.recent)
        out[name] = _latency(data)
    # The sync baseline's creates/completes that carried an event (a takeoff, a
    # landing): the ops whose inline enrichment the old system waited for. Among all
    # creates they are few (most flights are first seen airborne), so the p99 above
    # can miss them; this is their own distribution.
    out["inline_enriched_ms"] = _latency(list(sync.inline_ms)) if sync is not None else None
    return out


def _latency(data: list[float]) -> dict:
    return {"n": len(data), "p50": _r(_pct(data, 50)), "p99": _r(_pct(data, 99)),
            "max": _r(max(data, default=None))}


def _detection(result: dict) -> dict:
    out = {}
    for event in ("takeoff", "landing"):
        r = result[event]
        out[event] = {k: r.get(k) for k in ("truth", "matched", "missed", "extra", "error_s_p50",
                                            "error_s_p95", "located", "airport_correct",
                                            "runway_correct")}
    return out


def _series(rows: list) -> dict:
    """Per-second series for the chart: router queue depth (max in the second) and
    messages routed and fixes written per second."""
    t, depth, msgs, fixes = [], [], [], []
    last_m = last_f = 0
    bucket: list = []
    for row in rows:
        bucket.append(row)
        if len(bucket) * SAMPLE_S >= 1.0 - 1e-9:
            tt, m, f = bucket[-1][0], bucket[-1][3] - bucket[-1][4], bucket[-1][5]
            dt = len(bucket) * SAMPLE_S
            t.append(round(tt, 1))
            depth.append(max(b[1] for b in bucket))
            msgs.append(round((m - last_m) / dt))
            fixes.append(round((f - last_f) / dt))
            last_m, last_f = m, f
            bucket = []
    return {"t_s": t, "router_queue": depth, "msgs_per_s": msgs, "fixes_per_s": fixes}


# -- the worker's burst figure ----------------------------------------------------------

def enrichment_events_per_s_pelias200ms(cluster: embedded.Cluster, fake: PeliasProcess) -> dict:
    """The worker's burst figure: bench/worker.py's `measure_burst` (the one-minute
    OGN capture's 2,212 enrichment events drained with default settings, in a scratch
    database of this cluster) against the fake Pelias answering in 0.2 s."""
    fake.set_delay(0.2)
    t0 = time.monotonic()
    result = dict(measure_burst(cluster.url(), fake.url))
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
    fig, axes = plt.subplots(2, len(latencies), figsize=(5.5 * len(latencies), 8), squeeze=False,
                             sharex=True)
    colours = {"pipeline": "tab:blue", "sync": "tab:red"}
    for col, lat in enumerate(latencies):
        top, bottom = axes[0][col], axes[1][col]
        for r in runs:
            if r["pelias_latency_s"] != lat:
                continue
            s, cap = r["series"], r["router_queue"]["capacity_chunks"]
            label = f"{r['design']} ({r['msgs_per_s']:,.0f} msgs/s)"
            top.plot(s["t_s"], [100 * d / cap for d in s["router_queue"]],
                     color=colours[r["design"]], label=r["design"])
            bottom.plot(s["t_s"], s["msgs_per_s"], color=colours[r["design"]], label=label)
            bottom.axhline(r["offered_per_s"], color="grey", linestyle=":", linewidth=1)
            for ax in (top, bottom):
                ax.axvline(s["feed_end_s"], color="grey", linestyle="-.", linewidth=0.8)
        top.set_title(f"Pelias latency {lat:g} s")
        top.set_ylim(0, 105)
        top.axhline(50, color="grey", linestyle="--", linewidth=1)
        top.set_ylabel("router queue fill (%)")
        bottom.set_ylabel("messages routed / s")
        bottom.set_xlabel("wall time (s)")
        top.legend(loc="upper left")
        bottom.legend(loc="lower left", fontsize="small")
    fig.suptitle("soar incident benchmark: pipeline vs synchronous enrichment "
                 f"(pelias30/pelias0 = {summary['throughput_ratio_pelias30_vs_pelias0']}, "
                 f"pipeline/sync at 30 s = {summary['throughput_ratio_pipeline_vs_sync_pelias30']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


# -- main -------------------------------------------------------------------------------

def summarise(runs: list[dict], latencies: list[float], args, load: Load, burst) -> dict:
    pipe = {r["pelias_latency_s"]: r for r in runs if r["design"] == "pipeline"}
    sync = {r["pelias_latency_s"]: r for r in runs if r["design"] == "sync"}
    lo, hi = min(latencies), max(latencies)

    def ratio(a, b):
        return round(a["msgs_per_s"] / b["msgs_per_s"], 3) if a and b and b["msgs_per_s"] else None

    def worst(key):
        vals = [r[key]["p99"] for r in pipe.values() if r[key]["p99"] is not None]
        return max(vals, default=None)

    lags = {f"{k:g}": (r["enrichment"] or {}).get("lag_p99_s") for k, r in pipe.items()}
    return {
        "throughput_ratio_pelias30_vs_pelias0": ratio(pipe.get(hi), pipe.get(lo)),
        "throughput_ratio_pipeline_vs_sync_pelias30": ratio(pipe.get(hi), sync.get(hi)),
        "create_flight_p99_ms": worst("create_flight_ms"),
        "complete_flight_p99_ms": worst("complete_flight_ms"),
        # A one-row INSERT from another process during the same runs (bench/floor.py):
        # the machine's own p99 for a round trip under this load.
        "round_trip_floor_p99_ms": max((r["round_trip_floor_ms"]["p99_ms"] for r in pipe.values()
                                        if r["round_trip_floor_ms"]["p99_ms"] is not None),
                                       default=None),
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
        "msgs_per_s": {f"{d}_{k:g}": r["msgs_per_s"] for d, group in (("pipeline", pipe),
                       ("sync", sync)) for k, r in group.items()},
        "sync_create_flight_p99_ms": {f"{k:g}": r["create_flight_ms"]["p99"]
                                      for k, r in sync.items()},
        "sync_complete_flight_p99_ms": {f"{k:g}": r["complete_flight_ms"]["p99"]
                                        for k, r in sync.items()},
        "sync_inline_enriched_max_ms": {f"{k:g}": r["inline_enriched_ms"]["max"]
                                        for k, r in sync.items()},
        "latencies_s": latencies,
        "load": {"aprs_lines": load.meta["aprs_lines"], "frames": load.meta["frames"],
                 "offered": load.offered, "data_s": load.meta["duration_s"],
                 "speed": args.speed, "aircraft": args.aircraft,
                 "beast_aircraft": args.beast_aircraft,
                 "truth_events": load.meta.get("truth_events"),
                 "aprs_lines_per_wall_s": round(load.meta["aprs_lines"] / load.meta["duration_s"]
                                                * args.speed)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / ".soar" / "bench-incident",
                    help="results folder: the load, worker logs, incident.json")
    ap.add_argument("--png", type=Path, default=None, help="chart (default OUT/incident.png)")
    ap.add_argument("--quick", action="store_true",
                    help="a tiny load (a few seconds per run, no burst figure): checks the "
                         "pieces, not speed")
    ap.add_argument("--aircraft", type=int, default=1350, help="OGN aircraft (~2,500 lines/s)")
    ap.add_argument("--beast-aircraft", type=int, default=100)
    ap.add_argument("--duration", type=int, default=360, help="seconds of data")
    ap.add_argument("--speed", type=float, default=10.0, help="data seconds per wall second")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--latencies", default="0,5,30", help="fake Pelias latencies, seconds")
    ap.add_argument("--grace", type=float, default=10.0,
                    help="seconds a run may take after the feed ends before it is cut off")
    ap.add_argument("--drain-ceiling", type=float, default=20.0,
                    help="seconds the worker gets after the run to empty the queue")
    ap.add_argument("--worker-args", default="", help="extra `soar worker` options")
    ap.add_argument("--no-burst", action="store_true", help="skip the worker burst figure")
    args = ap.parse_args()
    if args.quick:
        args.aircraft, args.beast_aircraft, args.duration, args.speed = 40, 4, 150, 30.0
        args.grace, args.drain_ceiling = 3.0, 5.0
    latencies = [float(x) for x in args.latencies.split(",")]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    png = args.png or out / "incident.png"
    t_start = time.monotonic()

    load = simulate(args, out)
    home = Path(tempfile.mkdtemp(prefix="soar-incident-"))
    os.chmod(home, 0o755)   # the server runs as `postgres` when run as root
    cluster = embedded.Cluster(home=home, port=free_port(), settings={
        # No TimescaleDB scheduler connected to the template while it is cloned.
        "timescaledb.max_background_workers": "0"})
    runs: list[dict] = []
    # In a process of its own: serving Pelias costs the pipeline no CPU or GIL here.
    fake = PeliasProcess(0.0)
    try:
        cluster.start()
        prepare_template(cluster)
        for latency in latencies:
            for design in ("pipeline", "sync"):
                runs.append(run_once(cluster, load, fake, design, latency, args, out))
        burst = ({"events_per_s": None, "skipped": "--no-burst or --quick"}
                 if args.no_burst or args.quick
                 else enrichment_events_per_s_pelias200ms(cluster, fake))
    finally:
        fake.close()
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    summary = summarise(runs, latencies, args, load, burst)
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
