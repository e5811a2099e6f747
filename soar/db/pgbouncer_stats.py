"""`soar pgbouncer stats`: pool use and client wait time, from PgBouncer's console.

The console (the virtual database `pgbouncer`) speaks only the simple query protocol,
so it is read with a `ClientCursor` in autocommit; a login listed in `stats_users`
(setup-pgbouncer lists the read-only role) may read it.
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from soar.db.urls import redact
from soar.errors import SoarError, last_line


class Pool(NamedTuple):
    database: str
    user: str
    clients_active: int
    clients_waiting: int
    servers_active: int
    servers_idle: int
    servers_used: int
    max_wait_s: float          # the oldest waiting client's wait, now
    pool_mode: str


class DatabaseStats(NamedTuple):
    database: str
    transactions: int          # since PgBouncer started
    queries: int
    wait_total_s: float        # clients' time waiting for a server connection, in all
    wait_avg_ms: float         # per transaction, over the last stats period (60 s)
    transaction_avg_ms: float
    query_avg_ms: float


def console_url(url: str) -> str:
    """The same login and address, on PgBouncer's console database."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise SoarError("invalid PgBouncer URL; fix --url / SOAR_READONLY_DATABASE_URL") from None
    params["dbname"] = "pgbouncer"
    return make_conninfo(**params)


def _rows(conn: psycopg.Connection, command: str) -> list[dict]:
    cur = psycopg.ClientCursor(conn, row_factory=dict_row)
    return cur.execute(command).fetchall()


def read(url: str) -> tuple[list[Pool], list[DatabaseStats]]:
    target = console_url(url)
    try:
        with psycopg.connect(target, autocommit=True, connect_timeout=10) as conn:
            pools, stats = _rows(conn, "SHOW POOLS"), _rows(conn, "SHOW STATS")
    except psycopg.Error as exc:
        raise SoarError(f"cannot read PgBouncer's console ({redact(target)}): {last_line(exc)}; "
                        "the login must be in stats_users and the URL point at PgBouncer") from None
    out_pools = [Pool(p["database"], p["user"], int(p["cl_active"]), int(p["cl_waiting"]),
                      int(p["sv_active"]), int(p["sv_idle"]), int(p["sv_used"]),
                      int(p["maxwait"]) + int(p.get("maxwait_us") or 0) / 1e6, p["pool_mode"])
                 for p in pools if p["database"] != "pgbouncer"]
    out_stats = [DatabaseStats(s["database"], int(s["total_xact_count"]),
                               int(s["total_query_count"]), int(s["total_wait_time"]) / 1e6,
                               int(s["avg_wait_time"]) / 1e3, int(s["avg_xact_time"]) / 1e3,
                               int(s["avg_query_time"]) / 1e3)
                 for s in stats if s["database"] != "pgbouncer"]
    return out_pools, out_stats


class PgBouncerCollector:
    """Prometheus collector: PgBouncer's pools, read from its console at each scrape
    (a scrape that cannot reach it yields `soar_pgbouncer_up 0` and nothing else, so a
    dashboard shows the gap instead of stale numbers)."""

    def __init__(self, url: str):
        self.url = url

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("soar_pgbouncer_up", "1 when PgBouncer's console answered")
        try:
            pools, dbs = read(self.url)
        except SoarError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        labels = ["database", "user"]
        families = {
            "clients_active": "Client connections linked to a server connection",
            "clients_waiting": "Client connections waiting for a server connection",
            "servers_active": "Server connections linked to a client",
            "servers_idle": "Server connections idle and ready",
            "servers_used": "Server connections idle, to be checked before reuse",
        }
        for field, text in families.items():
            g = GaugeMetricFamily(f"soar_pgbouncer_{field}", text, labels=labels)
            for p in pools:
                g.add_metric([p.database, p.user], getattr(p, field))
            yield g
        wait = GaugeMetricFamily("soar_pgbouncer_max_wait_seconds",
                                 "How long the oldest waiting client has waited",
                                 labels=labels)
        for p in pools:
            wait.add_metric([p.database, p.user], p.max_wait_s)
        yield wait
        avg = GaugeMetricFamily("soar_pgbouncer_wait_avg_ms",
                                "Average client wait per transaction over the last stats "
                                "period", labels=["database"])
        for d in dbs:
            avg.add_metric([d.database], d.wait_avg_ms)
        yield avg
