"""The worker's connections never hang (issue 21 item 5): a statement timeout that holds
through PgBouncer in transaction mode (set on the role, sql/schema/160_...), and a
deadline on every pooled borrow (worker.deadline) for a path that accepts bytes and
forwards nothing, which neither TCP keepalives nor the server's timeout can notice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg

from helpers import refdata
from helpers.database import tcp_login
from helpers.refdata import FixRow
from helpers.tcp_proxy import TcpProxy
from helpers.wait import wait_until
from helpers.worker import running_worker
from soar_worker.config import WorkerConfig
from soar_worker.loop import CONNECT_KWARGS, make_pool

T0 = datetime(2024, 7, 6, 12, 0, tzinfo=timezone.utc)


def _config(**kw) -> WorkerConfig:
    base = dict(batch_size=5, visibility_timeout_s=30, poll_interval_s=0.05, listen=False,
                max_attempts=3, backoff_base_s=0.1, backoff_max_s=0.5, defer_delay_s=1,
                max_wait_s=30, pelias_url=None, metrics_interval_s=0, regeocode_batch=0,
                regeocode_interval_s=0, alerts=False)
    base.update(kw)
    return WorkerConfig(**base)


def _airborne_timeout(c, address: int):
    """A flight first heard airborne over Königsdorf and timed out: two messages (its
    start, its timeout end)."""
    aid = refdata.add_aircraft(c, address)
    rows = [FixRow(T0 + timedelta(seconds=10 * i), 47.8287 + i * 0.001, 11.465, 1500.0, 90.0, 0.0)
            for i in range(30)]
    refdata.copy_fixes(c, aid, rows)
    fid = refdata.add_flight(c, aid, started_at=rows[0].time,
                             last=(rows[-1].time, 47.86, 11.465),
                             timed_out_at=rows[-1].time + timedelta(hours=1))
    c.commit()
    return fid


def test_the_worker_role_has_a_statement_timeout_through_pgbouncer(small_bouncer, database):
    """PgBouncer drops the `options` startup parameter; the role's setting is applied by
    the server at each of PgBouncer's logins, so every worker statement has it, in
    autocommit, on whichever server connection it lands."""
    url = small_bouncer.url(database.name, user="soar_worker")
    cfg = _config(db_connections=3)
    pool = make_pool(url, cfg)
    seen = set()
    try:
        for _ in range(20):
            with pool.connection() as conn:
                seen.add(conn.execute("SHOW statement_timeout").fetchone()[0])
    finally:
        pool.close()
    with psycopg.connect(url, **CONNECT_KWARGS) as conn:
        seen.add(conn.execute("SHOW statement_timeout").fetchone()[0])
    assert seen == {"30s"}


def test_a_path_gone_silent_mid_step_frees_its_slot_and_the_message_is_processed_once(
        refdb):
    """The proxy stops forwarding (without closing) at the flight's enrichment write: TCP
    still answers, so keepalives see nothing and the server never sees the statement.
    With one message slot and one pooled connection, a step that waited for ever would
    stop the worker; the step deadline (short here, by configuration) shuts that
    connection down, the message returns after its visibility timeout and is written
    once, like its batch mates."""
    with refdb.connect() as c:
        fids = [_airborne_timeout(c, 0x5A0001 + i) for i in range(2)]
    with refdb.connect() as owner, tcp_login(owner, "soar_worker") as (role, password):
        proxy = TcpProxy("127.0.0.1", refdb.cluster.port).start()
        url = (f"host=127.0.0.1 port={proxy.port} dbname={refdb.name} user={role} "
               f"password={password}")
        cfg = _config(concurrency=1, db_connections=1, db_step_deadline_s=2,
                      visibility_timeout_s=3)
        proxy.stall_at(b"update_flight_takeoff_enrichment")
        try:
            with running_worker(url, cfg) as stats:
                wait_until(lambda: stats.processed == 4, what="all four messages processed")
        finally:
            proxy.close()
    assert proxy.stalled.is_set()
    assert stats.processed == 4 and len(set(stats.committed)) == 4
    assert stats.dead == 0
    with refdb.connect() as c:
        assert c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0] == 0
        archived = c.execute("SELECT message->>'event', read_ct FROM pgmq.a_flight_enrichment "
                             "ORDER BY 1, 2").fetchall()
        # The stalled message was read twice (its first try shut down), the rest once.
        assert sorted(r[1] for r in archived) == [1, 1, 1, 2]
        for fid in fids:
            assert c.execute("SELECT takeoff_enrichment, landing_enrichment FROM flights "
                             "WHERE id = %s", (fid,)).fetchone() == ("done", "done")
