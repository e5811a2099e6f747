"""The API's connections: a psycopg_pool of read-only-role connections. Each request
runs in one read-only transaction with a statement timeout (SET LOCAL: it holds through
PgBouncer in transaction mode); database failures become ApiErrors that name the fix,
decided by SQLSTATE class, never by exception class alone."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from soar.db import check_role, redact
from soar.db.urls import SAFE_CONNECT
from soar.errors import SoarError, first_line
from soar.web.config import WebConfig
from soar.web.errors import ApiError

log = logging.getLogger("soar.web")


class Database:
    def __init__(self, url: str, config: WebConfig):
        self.url = url
        self.config = config
        self.pool = ConnectionPool(url, min_size=config.pool_min, max_size=config.pool_max,
                                   timeout=config.pool_timeout_s, open=False,
                                   # No prepared statements, keepalives: safe through
                                   # PgBouncer in transaction mode and half-open links.
                                   kwargs={**SAFE_CONNECT, "application_name": "soar web"},
                                   configure=_checked_login)

    def open(self) -> None:
        # Not waiting: the server starts (and /api/v1/health says why) while the
        # database is down; connections are made when it is back.
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def read(self) -> Iterator[psycopg.Connection]:
        """A connection inside a read-only transaction with the statement timeout."""
        try:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute("SELECT set_config('statement_timeout', %s, true)",
                             (str(self.config.statement_timeout_ms),))
                yield conn
        except PoolTimeout:
            raise ApiError(503, "the database is unreachable or every connection is busy: "
                                "check that PostgreSQL is up (`soar db status`), then retry",
                           {"Retry-After": "5"}) from None
        except psycopg.Error as exc:
            raise _api_error(exc, self.url) from None


def _checked_login(conn: psycopg.Connection) -> None:
    """The pool's check of each new connection: never serve as the owner or a superuser
    (check_role; `soar web` checks at start too, unless the database was down then). A
    refused login fails the connection, the log says why and what to set."""
    try:
        check_role(conn, "readonly")
    except SoarError as exc:
        log.error("%s", exc)
        raise
    conn.commit()


def dicts(conn: psycopg.Connection, query: str, params: dict) -> list[dict]:
    """The rows of `query` as dicts. The pool's connections keep psycopg's tuple rows,
    which the soar.products functions called with them expect."""
    return conn.cursor(row_factory=dict_row).execute(query, params).fetchall()


def _api_error(exc: psycopg.Error, url: str) -> ApiError:
    state = exc.sqlstate or ""
    if state == "57014":            # query_canceled: our statement_timeout
        return ApiError(503, "the query took longer than the statement timeout: ask for a "
                             "smaller box, one day or a smaller page", {"Retry-After": "5"})
    if state in ("42P01", "42883", "42703"):   # undefined table, function, column
        log.error("schema out of date: %s", first_line(exc))
        return ApiError(500, "the database schema is older than this soar: the operator "
                             "should run `soar db upgrade`")
    if state == "42501":            # insufficient_privilege
        log.error("privilege: %s", first_line(exc))
        return ApiError(500, "the web login lacks a privilege of soar_readonly: the operator "
                             "should set SOAR_READONLY_DATABASE_URL to a soar_readonly login "
                             "and run `soar db upgrade`")
    if state[:2] in ("08", "53", "57") or isinstance(exc, psycopg.OperationalError):
        log.warning("database unavailable (%s): %s", redact(url), first_line(exc))
        return ApiError(503, "the database is unavailable: check that PostgreSQL is up "
                             "(`soar db status`), then retry", {"Retry-After": "5"})
    log.error("database error %s: %s", state, first_line(exc))
    return ApiError(500, f"database error {state or 'unknown'}: see the server log")
