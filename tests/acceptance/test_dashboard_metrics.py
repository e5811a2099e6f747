"""The Grafana dashboard (deploy/grafana/soar.json) points at metrics that exist: `soar
run` on a live loopback feed (the simulator's APRS-IS server) and `soar worker`
(watching the embedded PgBouncer) are scraped, and every metric name any panel
queries must be among what they export. A dashboard that points at nothing fails."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from helpers import refdata
from helpers.net import free_port
from helpers.wait import WaitTimeout, wait_until
from soar.db.pgbouncer import Bouncer
from soar.simulate import SimConfig, serve

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "soar.json"
SOAR = str(Path(sys.executable).with_name("soar"))


def queried() -> set[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    assert doc["templating"]["list"][1]["name"] == "env"
    assert all('env="$env"' in e for e in exprs)
    return {m for e in exprs for m in re.findall(r"\b(soar_[a-z0-9_]+)", e)}


def exported(port: int) -> set[str]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def scrape_until(port: int, wanted: set[str], ceiling_s: float = 240) -> set[str]:
    """Scrape until every wanted name is there (metrics with labels appear with their
    first observation), or the ceiling passes; the last scrape."""
    got: set[str] = set()

    def scrape() -> bool:
        nonlocal got
        try:
            got = exported(port)
        except OSError:
            got = set()
        return wanted <= got

    try:
        wait_until(scrape, ceiling_s, what="every wanted metric", poll_s=0.2)
    except WaitTimeout:
        pass                                 # the caller names what is missing
    return got


@pytest.fixture
def feed():
    stop, ready = threading.Event(), threading.Event()
    info: dict = {}

    def on_ready(i):
        info.update(i)
        ready.set()

    config = SimConfig(start=datetime.now(timezone.utc).replace(microsecond=0)
                       - timedelta(seconds=5), duration_s=3600, aircraft=60, beast_aircraft=0,
                       seed=3)
    t = threading.Thread(target=serve, kwargs=dict(config=config, beast_port=None, stop=stop,
                                                   on_ready=on_ready), daemon=True)
    t.start()
    assert ready.wait(120)
    yield info["aprs_port"]
    stop.set()
    t.join(60)


def test_every_metric_the_dashboard_queries_is_exported(pg_cluster, refdb, data_dir, feed):
    names = queried()
    assert len(names) >= 15
    ingest_port, worker_port = free_port(), free_port()
    bouncer = Bouncer(pg_cluster, free_port())
    bouncer.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    # The worker goes through PgBouncer (transaction pooling, as in production): its
    # pool is what the PgBouncer panels show.
    env.update(SOAR_DATABASE_URL=refdb.url(), SOAR_INGEST_DATABASE_URL=refdb.url("ingest"),
               SOAR_WORKER_DATABASE_URL=bouncer.url(refdb.name, user="soar_worker"),
               SOAR_HOME=str(Path(refdb.cluster.home) / f"home-{refdb.name}"))
    with refdb.connect() as c:
        refdata.add_winch_flight(c, data_dir, "DDEFF7")     # work for the worker
        before = c.execute("SELECT count(*) FROM fixes").fetchone()[0]
    run = subprocess.Popen([SOAR, "run", "--ogn", f"127.0.0.1:{feed}", "--metrics-port",
                            str(ingest_port), "--stats-interval", "5"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = subprocess.Popen([SOAR, "worker", "--metrics-port", str(worker_port),
                               "--pgbouncer-stats-url",
                               bouncer.url("pgbouncer", user="postgres")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ingest_names = {n for n in names if not n.startswith(("soar_worker", "soar_pgbouncer"))}
        worker_names = names - ingest_names
        got_ingest = scrape_until(ingest_port, ingest_names)
        got_worker = scrape_until(worker_port, worker_names)
    finally:
        for p in (run, worker):
            p.send_signal(signal.SIGTERM)
        for p in (run, worker):
            try:
                p.wait(120)
            except subprocess.TimeoutExpired:
                p.kill()
        bouncer.stop()
    assert ingest_names - got_ingest == set(), run.stderr.read()[-2000:]
    assert worker_names - got_worker == set(), worker.stderr.read()[-2000:]
    # The ingest really ran on the live feed: what it says it stored is in the database.
    summary = json.loads(run.stdout.read().strip().splitlines()[-1])
    stored = summary["accounting"]["fixes_stored"]
    with refdb.connect() as c:
        assert c.execute("SELECT count(*) FROM fixes").fetchone()[0] - before == stored > 0

