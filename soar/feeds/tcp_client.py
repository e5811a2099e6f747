"""Reconnecting TCP feed clients: what every streaming receiver feed (Beast, SBS) does
the same way, kept once.

Rule: a client connects with a timeout, sets TCP keepalive (it finds a peer that
vanished without closing), treats a connection silent for `read_timeout` as dead, and
reconnects with exponential backoff (doubling from `backoff_initial` up to
`backoff_max`, each wait drawn from [50 %, 100 %] of the current value so several
clients do not retry in step), reset after a connection that delivered anything. Each
connection gets a fresh stream state: bytes are never joined across connections.
`stop` is noticed within `_POLL_S`, even on a silent feed. Exceptions raised by the
delivery callback are not swallowed; they end `run`.

A subclass says how bytes become items: `_open()` (a connection's stream state),
`_feed(stream, chunk, deliver)` (True if it delivered an item) and `_close(stream,
deliver)` (what is left when the connection ends), and names its `kind` and `log`.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable

# Sockets are polled this often so that stop is noticed promptly even when the
# feed is silent; read_timeout still decides when a silent feed is dead.
_POLL_S = 0.2


class TcpFeedClient:
    kind = "tcp"                                   # the feed's name in log lines
    log = logging.getLogger(__name__)              # the subclass's module logger

    def __init__(self, host: str, port: int, *, read_timeout: float = 60.0,
                 connect_timeout: float = 10.0, backoff_initial: float = 1.0,
                 backoff_max: float = 60.0, chunk_size: int = 65536) -> None:
        self.host = host
        self.port = port
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.chunk_size = chunk_size
        self.connects = 0
        self.bytes = 0

    def run(self, deliver: Callable, stop: threading.Event) -> None:
        backoff = self.backoff_initial
        while not stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port),
                                                timeout=self.connect_timeout)
            except OSError as e:
                self.log.warning("%s %s:%d: connect failed: %s", self.kind, self.host,
                                 self.port, e)
            else:
                self.connects += 1
                self.log.info("%s %s:%d: connected", self.kind, self.host, self.port)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                    if self._session(sock, deliver, stop):
                        backoff = self.backoff_initial
                finally:
                    sock.close()
            if stop.is_set():
                break
            delay = backoff * random.uniform(0.5, 1.0)
            self.log.info("%s %s:%d: reconnecting in %.1f s", self.kind, self.host,
                          self.port, delay)
            stop.wait(delay)
            backoff = min(backoff * 2, self.backoff_max)

    def _session(self, sock: socket.socket, deliver: Callable, stop: threading.Event) -> bool:
        """Read until the connection ends; True if it delivered anything."""
        stream = self._open()
        sock.settimeout(min(_POLL_S, self.read_timeout))
        last_data = time.monotonic()
        delivered = False
        while not stop.is_set():
            try:
                chunk = sock.recv(self.chunk_size)
            except TimeoutError:
                if time.monotonic() - last_data > self.read_timeout:
                    self.log.warning("%s %s:%d: no data for %.0f s, reconnecting",
                                     self.kind, self.host, self.port, self.read_timeout)
                    break
                continue
            except OSError as e:
                self.log.warning("%s %s:%d: read failed: %s", self.kind, self.host,
                                 self.port, e)
                break
            if not chunk:
                self.log.warning("%s %s:%d: connection closed by peer", self.kind,
                                 self.host, self.port)
                break
            last_data = time.monotonic()
            self.bytes += len(chunk)
            if self._feed(stream, chunk, deliver):
                delivered = True
        # The stream ended (the peer, a read timeout, a stop): hand on what is left of
        # it. Not in a `finally`: after a delivery raised, a second call would hide that
        # exception behind its own.
        self._close(stream, deliver)
        return delivered

    def _open(self):
        raise NotImplementedError

    def _feed(self, stream, chunk: bytes, deliver: Callable) -> bool:
        raise NotImplementedError

    def _close(self, stream, deliver: Callable) -> None:
        raise NotImplementedError
