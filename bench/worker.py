"""Enrichment worker benchmark: the one-minute OGN capture's enrichment burst, drained
with default settings against a loopback Pelias, printing JSON.

Starts a throw-away embedded cluster; each run gets a fresh database there (migrated,
OurAirports and GeoNames places, an empty location cache) and replays the OGN
one-minute capture (`oneminute.txt`) through the real pipeline as `soar replay`
does: 2,212 enrichment events (2,183
airborne_start, 26 takeoffs, 3 landings), then drains them with `soar worker
--drain`'s loop and default settings. The messages are made `max_wait_s` old first,
as after a two-minute outage of the worker: the capture's last takeoffs never get
the fixes 20 s after them, and would otherwise be deferred for 120 s, measuring the
wait, not the worker.

Runs: Pelias answering in 0.2 s and in 0 s (a fake Pelias, tests/helpers/fake_pelias.py,
in a process of its own on 127.0.0.1, so it does not share the worker's GIL), Pelias
down (every place from the offline fallback), and the steady state: the burst's
messages made visible at the capture's own rate (2,212 a minute) while a worker runs,
the lag from visible to enriched measured per message.

    .venv/bin/python bench/worker.py [--steady-s 60]

Another benchmark can call `measure_burst(url, pelias_url)` on its own database.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402

from soar import ingest  # noqa: E402
from soar.db import embedded, migrate  # noqa: E402
from soar.feeds import recordings  # noqa: E402
from soar.ingest.pipeline import PipelineConfig  # noqa: E402
from soar.ingest.stats import IngestStats  # noqa: E402
from soar.reference import airports, places, samples  # noqa: E402
from worker.config import WorkerConfig  # noqa: E402
from worker.loop import run_workers  # noqa: E402
from worker.metrics import Stats  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def role_url(url: str, role: str) -> str:
    """The same database as another login (the embedded cluster trusts its socket)."""
    params = conninfo_to_dict(url)
    params["user"] = role
    params.pop("password", None)
    return make_conninfo(**params)


def database_url(url: str, dbname: str) -> str:
    return make_conninfo(**{**conninfo_to_dict(url), "dbname": dbname})


TEMPLATE = "soar_bench_worker_template"
_templates: set[str] = set()


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new database on the cluster of `url` (a superuser login): migrated, with
    OurAirports and GeoNames places (cloned from a template made once per process),
    dropped afterwards. Its superuser URL."""
    cluster = make_conninfo(**{k: v for k, v in conninfo_to_dict(url).items()
                               if k not in ("dbname",)})
    with psycopg.connect(url, autocommit=True) as c:
        if cluster not in _templates:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(TEMPLATE)))
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
            template_url = database_url(url, TEMPLATE)
            migrate.upgrade(template_url)
            with psycopg.connect(template_url) as t:
                airports.import_airports(t, *airports.default_sources())
                places.import_places(t, places.default_source())
            # No session may use a template while it is copied: TimescaleDB's
            # scheduler connects to every database it may.
            c.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false")
                      .format(sql.Identifier(TEMPLATE)))
            _templates.add(cluster)
        name = f"soar_bench_worker_{uuid.uuid4().hex[:8]}"
        for attempt in range(20):
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (TEMPLATE,))
            try:
                c.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}")
                          .format(sql.Identifier(name), sql.Identifier(TEMPLATE)))
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.5)
    try:
        yield database_url(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# -- the burst ---------------------------------------------------------------------------

def replay_capture(admin_url: str, ingest_url: str) -> int:
    """Replay the one-minute capture through the pipeline, a day after the latest fix
    already stored (fresh flights each time); the messages it enqueued."""
    capture = samples.path("oneminute.txt")
    first = next(iter(recordings.aprs_messages(capture))).received_at
    with psycopg.connect(admin_url, autocommit=True) as c:
        latest = c.execute("SELECT max(time) FROM fixes").fetchone()[0]
        before = c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0]
    days = 0 if latest is None else max(0, (latest - first).days + 1)
    delta = timedelta(days=days)
    stats = IngestStats()
    pipeline = ingest.build(ingest_url, stats, PipelineConfig())
    pipeline.start()
    messages = (m._replace(received_at=m.received_at + delta)
                for m in recordings.aprs_messages(capture))
    ingest.feed(pipeline, recordings.chunked(messages, None), threading.Event())
    pipeline.close()
    if pipeline.failed is not None:
        raise RuntimeError(f"the replay failed: {pipeline.failed}")
    with psycopg.connect(admin_url, autocommit=True) as c:
        return c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0] - before


def age_queue(admin_url: str, seconds: float) -> None:
    """Make every queued message `seconds` older (as if the worker had been down)."""
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute("UPDATE pgmq.q_flight_enrichment SET enqueued_at = enqueued_at "
                  "- make_interval(secs => %s)", (seconds,))


def default_config(pelias_url: str | None, **overrides) -> WorkerConfig:
    """`soar worker --drain`'s settings: the defaults, the environment ignored."""
    return WorkerConfig(pelias_url=pelias_url, **overrides)


def measure_burst(url: str, pelias_url: str | None, *, config: WorkerConfig | None = None,
                  threads: int = 1) -> dict:
    """The one-minute OGN capture's enrichment burst (2,212 events) drained by `soar
    worker --drain`'s loop with default settings (unless `config`), geocoding with
    the Pelias at `pelias_url` (None: offline places). `url`: a superuser login to a
    cluster with soar's extensions (any database); the burst runs in a scratch
    database made there and dropped (see scratch_database), so a caller's data is
    neither used nor touched. Returns the events, the drain's seconds and
    events_per_s, and the worker's counts."""
    config = config or default_config(pelias_url, listen=False)
    with scratch_database(url) as db:
        events = replay_capture(db, role_url(db, "soar_ingest"))
        age_queue(db, config.max_wait_s)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        stats = run_workers(role_url(db, "soar_worker"), config, threads=threads, drain=True)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        with psycopg.connect(db, autocommit=True) as c:
            left = c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0]
    return {"events": events, "seconds": round(seconds, 2),
            "events_per_s": round(events / seconds, 1), "processed": stats.processed,
            "left": left, "fallbacks": stats.fallbacks, "deferred": stats.deferred,
            "retried": stats.retried, "dead": stats.dead, "lost": stats.lost,
            "worker_cpu_ms_per_event": round(cpu * 1000 / max(1, events), 2),
            "concurrency": config.concurrency, "db_connections": config.db_connections}


# -- the steady state -----------------------------------------------------------------------

def measure_steady(url: str, pelias_url: str | None, rate_per_s: float, duration_s: float, *,
                   config: WorkerConfig | None = None) -> dict:
    """A worker runs (default settings, LISTEN on) while the capture's messages are
    made visible at `rate_per_s` for `duration_s`; the lag of each, from visible to
    archived (the server's clock), as p50/p99/max."""
    config = config or default_config(pelias_url)
    with scratch_database(url) as db:
        return _steady(db, config, rate_per_s, duration_s)


def _steady(url: str, config: WorkerConfig, rate_per_s: float, duration_s: float) -> dict:
    replay_capture(url, role_url(url, "soar_ingest"))
    age_queue(url, config.max_wait_s)
    released: dict[int, object] = {}
    stop = threading.Event()
    stats = Stats()
    with psycopg.connect(url, autocommit=True) as c:
        # Hidden until released: a message's lag starts when it becomes visible.
        ids = [r[0] for r in c.execute(
            "UPDATE pgmq.q_flight_enrichment SET vt = clock_timestamp() + interval '1 day' "
            "RETURNING msg_id").fetchall()]
        ids.sort()
        t = threading.Thread(target=run_workers, args=(role_url(url, "soar_worker"), config),
                             kwargs=dict(stop=stop, stats=stats), daemon=True)
        t.start()
        time.sleep(1.0)                     # the worker is up and idle
        n = min(len(ids), int(rate_per_s * duration_s))
        t0 = time.monotonic()
        for i, msg_id in enumerate(ids[:n]):
            wait = t0 + i / rate_per_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            released[msg_id] = c.execute(
                "UPDATE pgmq.q_flight_enrichment SET vt = clock_timestamp() WHERE msg_id = %s "
                "RETURNING clock_timestamp()", (msg_id,)).fetchone()[0]
        deadline = time.monotonic() + 600
        while stats.processed + stats.dead < n and time.monotonic() < deadline and t.is_alive():
            time.sleep(0.1)
        stop.set()
        t.join(120)
        archived = dict(c.execute("SELECT msg_id, archived_at FROM pgmq.a_flight_enrichment "
                                  "WHERE msg_id = ANY(%s)", (list(released),)).fetchall())
        # The rest of the capture back to the queue, for whoever comes next.
        c.execute("UPDATE pgmq.q_flight_enrichment SET vt = clock_timestamp()")
    lags = [(archived[m] - v).total_seconds() for m, v in released.items() if m in archived]
    return {"rate_per_s": rate_per_s, "messages": n, "enriched": len(lags),
            "lag_p50_s": round(_percentile(lags, 0.5) or 0, 3),
            "lag_p99_s": round(_percentile(lags, 0.99) or 0, 3),
            "lag_max_s": round(max(lags, default=0), 3), "fallbacks": stats.fallbacks,
            "lost": stats.lost, "dead": stats.dead}


# -- a fake Pelias in a process of its own ---------------------------------------------------

def _serve_pelias(delay_s: float, port, ready, control) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers.fake_pelias import FakePelias
    from helpers.paths import TEST_DATA

    fake = FakePelias(TEST_DATA / "pelias", keep_alive=True)
    fake.delay_s = delay_s
    fake.start()
    port.value = int(fake.url.rsplit(":", 1)[1])
    ready.set()
    # Commands from the parent, answered in order: ("delay", s) -> None, ("count",) -> n.
    while True:
        try:
            command = control.recv()
        except EOFError:
            return
        if command[0] == "delay":
            fake.delay_s = command[1]
            control.send(None)
        elif command[0] == "count":
            control.send(fake.count)


class PeliasProcess:
    """tests/helpers/fake_pelias.py answering after delay_s, in a child process (so
    serving it costs the measured process no CPU or GIL); its latency can be changed
    and its request count read, through a pipe."""

    def __init__(self, delay_s: float):
        ctx = multiprocessing.get_context("spawn")
        self._port = ctx.Value("i", 0)
        ready = ctx.Event()
        self._control, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_pelias,
                                 args=(delay_s, self._port, ready, child), daemon=True)
        self._proc.start()
        if not ready.wait(60):
            raise RuntimeError("the fake Pelias did not start")
        self.url = f"http://127.0.0.1:{self._port.value}"

    def set_delay(self, delay_s: float) -> None:
        self._control.send(("delay", delay_s))
        self._control.recv()

    @property
    def count(self) -> int:
        """Requests it has received (counted on arrival)."""
        self._control.send(("count",))
        return self._control.recv()

    def close(self) -> None:
        self._proc.terminate()
        self._proc.join(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steady-s", type=float, default=60.0,
                    help="duration of the steady-state run (0: skip it)")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="soar-bench-worker-"))
    os.chmod(home, 0o755)
    cluster = embedded.Cluster(home=home, port=free_port())
    result: dict = {}
    fakes = []
    try:
        cluster.start()
        url = cluster.url()
        slow = PeliasProcess(0.2)
        fast = PeliasProcess(0.0)
        fakes += [slow, fast]
        down = f"http://127.0.0.1:{free_port()}"            # nobody listens
        runs = {"pelias200ms": measure_burst(url, slow.url),
                "pelias0ms": measure_burst(url, fast.url),
                "pelias_down": measure_burst(url, down)}
        result = {
            "enrichment_events_per_s_pelias200ms": runs["pelias200ms"]["events_per_s"],
            "enrichment_drain_s_pelias200ms": runs["pelias200ms"]["seconds"],
            "enrichment_events_per_s_pelias0ms": runs["pelias0ms"]["events_per_s"],
            "enrichment_drain_s_pelias0ms": runs["pelias0ms"]["seconds"],
            "enrichment_events": runs["pelias200ms"]["events"],
            "runs": runs,
        }
        if args.steady_s > 0:
            steady = measure_steady(url, slow.url, rate_per_s=2212 / 60, duration_s=args.steady_s)
            result["enrichment_lag_p99_s_pelias200ms"] = steady["lag_p99_s"]
            result["steady"] = steady
    finally:
        for f in fakes:
            f.close()
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
