"""soar through a real PgBouncer in transaction pooling mode."""

from __future__ import annotations

import threading

import psycopg
import pytest

from helpers.net import free_port
from soar import ingest
from soar.db.pgbouncer import Bouncer
from soar.feeds import recordings
from soar.ingest.router import PipelineConfig
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
    pipeline.start()
    ingest.feed(pipeline, recordings.replay(part, "aprs"), threading.Event())
    pipeline.close()
    assert pipeline.failed is None
    assert stats.batches >= 5
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == stats.fixes_written > 3000
