"""Geocoding concurrency independent of database connections: a process has many
Pelias calls in flight over a few pooled connections, and every message still
completes exactly once; a stop finishes the messages in hand; a Pelias that never
answers does not stall the queue. Real database, real HTTP (the fake Pelias holds
every request until released, so concurrency is observed, not timed)."""

from __future__ import annotations

import signal
import subprocess
import threading
from datetime import timedelta

import pytest
from test_worker import (
    SOAR,
    T0,
    _env,
    audit,
    config,
    counts,
    lfpg_takeoff,
    read_counts,
    wait_for,
)
from test_worker import fake as fake  # noqa: F401 - the fixture
from test_worker import refdb as refdb  # noqa: F401 - the fixture (with the audit)

from helpers import refdata
from helpers.refdata import FixRow
from worker import metrics
from worker.loop import run_workers
from worker.metrics import Stats


def airborne_flights(c, n: int, base: int) -> list:
    """n flights first seen airborne, each over a cell of its own (0.01 degree apart),
    so each needs a Pelias call of its own."""
    fids = []
    for i in range(n):
        aid = refdata.add_aircraft(c, base + i)
        rows = [FixRow(T0 + timedelta(seconds=k), 47.0 + i * 0.01, 11.0 + k * 0.001, 1500.0,
                       90.0, 90.0) for k in range(5)]
        refdata.copy_fixes(c, aid, rows)
        fids.append(refdata.add_flight(c, aid, started_at=rows[0].time))
    return fids


def worker_connections(c) -> int:
    return c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND application_name = 'soar-worker'").fetchone()[0]


def test_more_pelias_calls_in_flight_than_database_connections(refdb, fake):
    """8 message slots over 2 pooled connections: with every Pelias request held,
    8 calls are in flight at once (never more: a message is read only into a free
    slot) while the worker holds at most 2 connections; released, each of the 20
    messages completes exactly once, each cell geocoded once."""
    with refdb.connect() as c:
        fids = airborne_flights(c, 20, 0xF10000)
    fake.hold()
    stats = Stats()
    cfg = config(pelias_url=fake.url, concurrency=8, db_connections=2,
                 pelias_read_timeout_s=600, pelias_deadline_s=600)
    t = threading.Thread(target=run_workers, args=(refdb.url("worker"), cfg),
                         kwargs=dict(drain=True, stats=stats), daemon=True)
    t.start()
    try:
        assert fake.wait_in_flight(8, timeout_s=300), "8 Pelias calls in flight"
        with refdb.connect(autocommit=True) as c:
            assert worker_connections(c) <= 2
            # Exactly the messages in hand were read; the rest wait, unread.
            reads = sorted(r[0] for r in c.execute(
                "SELECT read_ct FROM pgmq.q_flight_enrichment"))
            assert reads == [0] * 12 + [1] * 8
    finally:
        fake.release()
    t.join(300)
    assert not t.is_alive()
    assert fake.max_in_flight == 8
    assert (stats.processed, stats.lost, stats.retried, stats.dead, stats.fallbacks) == (
        20, 0, 0, 0, 0)
    assert len(stats.committed) == len(set(stats.committed)) == 20
    assert fake.count == 20
    with refdb.connect() as c:
        assert counts(c) == {"queue": 0, "archived": 20, "dead": 0}
        assert sorted(read_counts(c).values()) == [1] * 20
        assert sorted((f, side, st) for f, side, st in audit(c)) == sorted(
            (f, "takeoff", "done") for f in fids)
        assert c.execute("SELECT source, count(*) FROM locations GROUP BY 1").fetchall() == [
            ("pelias", 20)]


def test_a_burst_from_one_airfield_calls_pelias_once(refdb, fake):
    """Ten takeoffs from CDG at once: one message calls Pelias for the airport's cell,
    the nine others wait for its answer (no connection held) instead of calling."""
    with refdb.connect() as c:
        fids = [lfpg_takeoff(c, 0xF20000 + i) for i in range(10)]
    fake.hold()
    saved_before = sum(metrics.GEOCODE_LOOKUPS.labels(r)._value.get() for r in ("shared", "cache"))
    stats = Stats()
    t = threading.Thread(target=run_workers,
                         args=(refdb.url("worker"), config(pelias_url=fake.url, concurrency=16)),
                         kwargs=dict(drain=True, stats=stats), daemon=True)
    t.start()
    try:
        assert fake.wait_in_flight(1, timeout_s=300)
        with refdb.connect(autocommit=True) as c:
            wait_for(lambda: c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment "
                                       "WHERE read_ct = 1").fetchone()[0] == 10,
                     "all ten messages in hand")
    finally:
        fake.release()
    t.join(300)
    assert not t.is_alive()
    assert fake.count == 1 and fake.max_in_flight == 1
    assert (stats.processed, stats.lost, stats.fallbacks) == (10, 0, 0)
    # The nine others waited for that call's answer, or found it stored.
    assert sum(metrics.GEOCODE_LOOKUPS.labels(r)._value.get()
               for r in ("shared", "cache")) == saved_before + 9
    with refdb.connect() as c:
        assert counts(c) == {"queue": 0, "archived": 10, "dead": 0}
        assert sorted(read_counts(c).values()) == [1] * 10
        assert len({st for _, _, st in audit(c)}) == 1 and len(audit(c)) == 10
        assert c.execute("SELECT count(*) FROM locations").fetchone()[0] == 1
        starts = {c.execute("SELECT start_location_id FROM flights WHERE id = %s",
                            (f,)).fetchone()[0] for f in fids}
        assert len(starts) == 1


def test_sigterm_finishes_the_messages_in_hand(refdb, fake):
    """`soar worker` with 4 slots, every Pelias request held: SIGTERM while 4 messages
    wait for Pelias. It reads nothing more, finishes those 4 once Pelias answers,
    and exits 0; the other 6 were never read. A drain then does exactly those 6."""
    with refdb.connect() as c:
        airborne_flights(c, 10, 0xF30000)
    fake.hold()
    proc = subprocess.Popen([*SOAR, "worker", "--concurrency", "4", "--no-listen",
                             "--poll-interval", "0.1"],
                            env=_env(refdb, {"PELIAS_URL": fake.url, "PELIAS_READ_TIMEOUT": "600",
                                             "SOAR_WORKER_PELIAS_DEADLINE_S": "600"}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        assert fake.wait_in_flight(4, timeout_s=300), "4 Pelias calls in flight"
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: any("finishing the 4 message(s) in hand" in x for x in lines),
                 "the worker to stop reading")
        with refdb.connect(autocommit=True) as c:
            # Stopping: the messages in hand are still invisible, not given up.
            assert c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment "
                             "WHERE read_ct = 1").fetchone()[0] == 4
    finally:
        fake.release()
    out = proc.stdout.read()
    assert proc.wait(300) == 0, lines
    reader.join(10)
    assert "processed 4, retried 0, deferred 0, dead 0, lost 0" in out
    assert fake.count == 4 and fake.max_in_flight == 4
    with refdb.connect() as c:
        assert counts(c) == {"queue": 6, "archived": 4, "dead": 0}
        assert sorted(r[0] for r in c.execute("SELECT read_ct FROM pgmq.q_flight_enrichment")
                      ) == [0] * 6
    stats = run_workers(refdb.url("worker"), config(pelias_url=fake.url), drain=True)
    assert (stats.processed, stats.lost) == (6, 0)
    with refdb.connect() as c:
        assert counts(c) == {"queue": 0, "archived": 10, "dead": 0}
        assert sorted(read_counts(c).values()) == [1] * 10
        assert len(audit(c)) == 10


@pytest.mark.parametrize("slots", [4, 64])
def test_a_pelias_that_never_answers_does_not_stall_the_queue(refdb, fake, slots):
    """Every Pelias request hangs (held until the test ends). Each call ends at its
    deadline, the breaker opens after 2 failures, and every other message gets its
    offline place at once: all 24 are enriched, none retried or dead, and no more
    calls are made than there were slots when the breaker opened."""
    with refdb.connect() as c:
        airborne_flights(c, 24, 0xF40000 + slots * 0x100)
    fake.hold()
    try:
        stats = run_workers(refdb.url("worker"),
                            config(pelias_url=fake.url, concurrency=slots, pelias_retries=0,
                                   pelias_deadline_s=1, pelias_read_timeout_s=5,
                                   breaker_threshold=2, breaker_reset_s=3600),
                            drain=True)
    finally:
        fake.release()
    assert (stats.processed, stats.fallbacks, stats.retried, stats.dead, stats.lost) == (
        24, 24, 0, 0, 0)
    assert 2 <= fake.count <= slots
    with refdb.connect() as c:
        assert counts(c) == {"queue": 0, "archived": 24, "dead": 0}
        assert c.execute("SELECT count(*) FROM geocode_fallbacks").fetchone()[0] == 24
