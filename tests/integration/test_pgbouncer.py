"""soar through a real PgBouncer in transaction pooling mode; its stop signals only
the pgbouncer it started."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from helpers.net import free_port
from helpers.pipeline import run
from soar import ingest
from soar.db.embedded import Cluster
from soar.db.pgbouncer import Bouncer
from soar.feeds import recordings
from soar.ingest.pipeline import PipelineConfig
from soar.ingest.stats import IngestStats
from soar.reference import samples


@pytest.fixture(scope="module")
def bouncer(pg_cluster):
    b = Bouncer(pg_cluster, free_port())
    b.start()
    yield b
    b.stop()


def test_pool_mode_is_transaction(bouncer):
    admin = f"host={bouncer.home} port={bouncer.port} dbname=pgbouncer user=postgres"
    with psycopg.connect(admin, autocommit=True) as c:
        rows = c.execute("SHOW CONFIG").fetchall()
    assert ("pool_mode", "transaction") in {(r[0], r[1]) for r in rows}


def test_ingest_through_pgbouncer(bouncer, database, conn, tmp_path):
    lines = samples.path("oneminute.txt").read_text().splitlines()[:5000]
    part = tmp_path / "part.txt"
    part.write_text("\n".join(lines) + "\n")
    stats = IngestStats()
    url = bouncer.url(database.name, user="soar_ingest")
    pipeline = ingest.build(url, stats, PipelineConfig(batch_size=500))
    run(pipeline, recordings.replay(part, "aprs"))
    assert pipeline.failed is None
    assert stats.batches >= 5
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == stats.fixes_written > 3000


@pytest.fixture
def home():
    path = Path(tempfile.mkdtemp(prefix="soar-bouncer-"))
    os.chmod(path, 0o755)     # as root pgbouncer runs as `postgres`, which must reach it
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def bystander():
    """An unrelated process a stale pidfile might name."""
    proc = subprocess.Popen(["sleep", "600"])
    yield proc
    proc.kill()
    proc.wait()


def test_stop_leaves_a_process_that_is_not_its_pgbouncer_alone(home, bystander):
    b = Bouncer(Cluster(home=home), free_port())
    b.home.mkdir(mode=0o700)
    b.pidfile.write_text(f"{bystander.pid}\n")
    assert "another process: left alone" in b.stop()
    assert bystander.poll() is None
    # Not through a link to a pidfile elsewhere either.
    elsewhere = home / "elsewhere.pid"
    b.pidfile.rename(elsewhere)
    b.pidfile.symlink_to(elsewhere)
    assert b.stop() == "not running"
    assert bystander.poll() is None


def test_stop_ends_its_own_pgbouncer(home, pg_cluster):
    b = Bouncer(Cluster(home=home, port=pg_cluster.port), free_port())
    b.start()
    pid = int(b.pidfile.read_text())
    assert b.owns(pid)
    for f in (b.ini, b.home / "userlist.txt", b.logfile):     # written 0600, never world-readable
        assert stat.S_IMODE(os.lstat(f).st_mode) == 0o600, f
    assert b.stop() == "stopped"
    assert not Path(f"/proc/{pid}").exists() or not b.owns(pid)
