"""Every component's connections survive PgBouncer in transaction mode with a small
server pool: 2 server connections, more clients, each statement run at least 20 times.

psycopg prepares a statement after 5 executions on one connection; PgBouncer 1.18
(Debian 12) does not carry it to the next server connection, so a prepared statement
meets a server that never saw it (`prepared statement "_pg3_0" does not exist`), or a
server where another client, or an earlier connection, already prepared that name
(`prepared statement "_pg3_0" already exists`): which of the two comes first depends on
how the pool hands out servers. The first test shows the hazard is real in this set-up
(so the others can fail), the rest run each component's own code through it."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from soar import db
from soar.backfill import enrichment
from soar.db import retention
from soar.products import alerts, flights, logbook, queue_health, statistics
from soar.records import aircraft_id

UTC = timezone.utc
ROUNDS = 20


class Crowd:
    """Other clients sharing the 2 server connections, so that consecutive transactions
    of the client under test land on different servers."""

    def __init__(self, url: str, clients: int = 3):
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.transactions = 0
        self.threads = [threading.Thread(target=self._run, args=(url,), daemon=True)
                        for _ in range(clients)]

    def _run(self, url: str) -> None:
        try:
            with db.connect(url) as conn:
                while not self.stop.is_set():
                    conn.execute("SELECT count(*) FROM flights WHERE started_at > %s",
                                 (datetime(2000, 1, 1, tzinfo=UTC),)).fetchone()
                    conn.commit()
                    self.transactions += 1
        except psycopg.Error as exc:
            self.errors.append(str(exc))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        assert self.errors == []
        assert self.transactions > 0


def _repeat(url: str, **kwargs) -> None:
    with psycopg.connect(url, autocommit=False, **kwargs) as conn:
        for i in range(ROUNDS):
            conn.execute("SELECT %s::int + count(*) FROM aircraft", (i,)).fetchone()
            conn.commit()


def test_a_prepared_statement_breaks_through_this_pool_so_the_others_can_fail(small_bouncer, database):
    url = small_bouncer.url(database.name, user="soar_readonly")
    broken = (psycopg.errors.InvalidSqlStatementName, psycopg.errors.DuplicatePreparedStatement)
    with Crowd(url), pytest.raises(broken):
        for _ in range(10):     # the hazard is probabilistic per round, certain over rounds
            _repeat(url, prepare_threshold=1)


def test_every_soar_connection_is_safe_through_the_pool(small_bouncer, database):
    url = small_bouncer.url(database.name, user="soar_readonly")
    with Crowd(url):
        for _ in range(5):
            with db.connect(url) as conn:
                for i in range(ROUNDS):
                    assert conn.execute("SELECT %s::int + count(*) FROM aircraft",
                                        (i,)).fetchone()[0] == i
                    conn.commit()


def _flights(conn, n: int) -> list[uuid.UUID]:
    t0 = datetime.now(UTC) - timedelta(hours=3)
    ids = []
    for k in range(n):
        aid = aircraft_id(2, 0xD00000 + k)
        conn.execute("INSERT INTO aircraft (id, address, address_type) VALUES (%s, %s, 2)",
                     (aid, 0xD00000 + k))
        fid = uuid.uuid4()
        conn.execute("INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time, "
                     "takeoff_latitude, takeoff_longitude, takeoff_enrichment) "
                     "VALUES (%s, %s, 1, %s, %s, 47.83, 11.46, 'failed')",
                     (fid, aid, t0 + timedelta(minutes=k), t0 + timedelta(minutes=k)))
        ids.append(fid)
    conn.commit()
    return ids


def test_backfill_enrichment_runs_through_the_pool(small_bouncer, database, conn):
    made = _flights(conn, ROUNDS + 5)
    conn.execute("SELECT pgmq.purge_queue('flight_enrichment')")
    conn.commit()
    url = small_bouncer.url(database.name, user="soar_worker")
    since, until = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC)
    with Crowd(url), db.connect(url) as c:
        result = enrichment.run(c, since, until, "any", chunk=1)   # one transaction per flight
    assert result.flights == len(made)
    assert result.enqueued == len(made)
    assert conn.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0] == len(made)


def test_readers_run_through_the_pool(small_bouncer, refdb):
    with refdb.connect() as c:
        _flights(c, 3)
    url = small_bouncer.url(refdb.name, user="soar_readonly")
    worker_url = small_bouncer.url(refdb.name, user="soar_worker")
    today = datetime.now(UTC).date()
    with Crowd(url):
        for _ in range(ROUNDS):
            assert len(flights.fetch(url)) == 3
            airfield, rows = logbook.fetch(url, "DE-0066", today)
            assert airfield.ident == "DE-0066" and rows == []
            with db.connect(url) as c:
                assert alerts.active(c) == []
                assert set(queue_health.read(c)) >= {"flight_enrichment"}
                assert queue_health.undelivered(c) == []
                assert statistics.report(c, days=1)["days"] == 1
                c.commit()
            assert retention.prune(worker_url, timedelta(days=3650), dry_run=True).chunks == []
