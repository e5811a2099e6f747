"""Connections that never hang: a deadline on every borrow of a pooled connection.

TCP keepalives and TCP_USER_TIMEOUT (soar.db.urls.SAFE_CONNECT) notice a peer that
vanished, and the role's statement_timeout (docs/operations.md) a statement the server
runs too long. Neither notices a path that still answers at the TCP level but forwards
nothing: PgBouncer whose server connection went half-open, a proxy or middlebox that
accepts the bytes and drops them. There the worker's `recv` waits for ever, its message
slot and its pooled connection with it. The rule enforced here: a connection borrowed
from the pool is given back within `db_step_deadline_s`, or its socket is shut down
under its user, who gets an OperationalError (its message returns after its visibility
timeout, as for any lost connection) while the pool discards the broken connection.

One watchdog thread per pool sleeps until the earliest deadline; a borrow is
registered and unregistered under one lock, so a connection already given back (and
perhaps lent again) is never shut down for its previous borrower's step."""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)


class Watchdog:
    """Shuts down the socket of a connection held past its deadline (module docstring).
    `expired` counts them."""

    def __init__(self, name: str = "soar-worker-deadline"):
        self.expired = 0
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, psycopg.Connection] = {}
        self._ids = itertools.count()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @contextmanager
    def guard(self, conn: psycopg.Connection, seconds: float) -> Iterator[psycopg.Connection]:
        """Within the block, `conn` is shut down once `seconds` have passed."""
        key = next(self._ids)
        with self._lock:
            self._live[key] = conn
            heapq.heappush(self._heap, (time.monotonic() + seconds, key))
            self._lock.notify()
        try:
            yield conn
        finally:
            with self._lock:
                self._live.pop(key, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()

    def _run(self) -> None:
        with self._lock:
            while not self._closed:
                now = time.monotonic()
                while self._heap and (self._heap[0][1] not in self._live
                                      or self._heap[0][0] <= now):
                    _, key = heapq.heappop(self._heap)
                    conn = self._live.pop(key, None)
                    if conn is not None:
                        self.expired += 1
                        _shut_down(conn)
                self._lock.wait(self._heap[0][0] - now if self._heap else None)


def _shut_down(conn: psycopg.Connection) -> None:
    """End the connection's TCP stream (both ways) without closing its descriptor, which
    its user's thread still holds: the user's wait ends with an error at once."""
    try:
        fd = conn.fileno()
    except psycopg.Error:
        return                                  # already closed
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()
    log.warning("a database connection was held past its step deadline (the path to the "
                "server stopped answering?): shut down, its message returns to the queue")


class DeadlinePool(ConnectionPool):
    """A ConnectionPool whose every borrow is guarded by a Watchdog (step_deadline_s;
    0: no deadline)."""

    def __init__(self, *args, step_deadline_s: float, **kwargs):
        self.step_deadline_s = step_deadline_s
        self.watchdog = Watchdog()
        check = kwargs.get("check")
        if check is not None and step_deadline_s > 0:
            # The pool's check of an idle connection before lending it is a round trip
            # too: one whose path went silent while idle must not hang the borrower.
            def guarded_check(conn: psycopg.Connection) -> None:
                with self.watchdog.guard(conn, step_deadline_s):
                    check(conn)
            kwargs["check"] = guarded_check
        super().__init__(*args, **kwargs)

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        with super().connection(timeout) as conn:
            if self.step_deadline_s <= 0:
                yield conn
                return
            with self.watchdog.guard(conn, self.step_deadline_s):
                yield conn

    def close(self, timeout: float = 5.0) -> None:
        super().close(timeout)
        self.watchdog.close()
