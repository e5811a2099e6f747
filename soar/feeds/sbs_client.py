"""TCP client for SBS/BaseStation text feeds (dump1090/readsb port 30003, ADSBHub).

Rule: every non-blank line the socket delivers reaches `on_line` exactly once, good
or not (the router counts what it cannot use); a line is never joined across
connections, and a line without its end (the peer closed mid-line, or longer than
`max_line_bytes`) is still handed on, so the router counts it (a parse error).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime

from soar.units import UTC

log = logging.getLogger(__name__)

# Sockets are polled this often so that stop is noticed promptly even when the
# feed is silent; read_timeout still decides when a silent feed is dead.
_POLL_S = 0.2


class SbsClient:
    """Connects, splits the byte stream into lines and calls ``on_line(received_at, line)``.

    Connect timeout, keepalive, backoff and stop as `soar.feeds.beast_client.BeastClient`:
    reconnects with exponential backoff (doubling from ``backoff_initial`` up to
    ``backoff_max``, each wait drawn from [50 %, 100 %] of the current value so several
    clients do not retry in step), reset after a connection that delivered lines; a
    connection silent for ``read_timeout`` seconds is treated as dead (an SBS feed
    sends lines continuously while it has traffic; TCP keepalive finds a peer that
    vanished without closing). Lines are decoded as ASCII (anything else becomes
    U+FFFD, which no field accepts). Exceptions raised by ``on_line`` are not
    swallowed; they end ``run``.
    """

    def __init__(self, host: str, port: int = 30003, *, read_timeout: float = 60.0,
                 connect_timeout: float = 10.0, backoff_initial: float = 1.0,
                 backoff_max: float = 60.0, chunk_size: int = 65536,
                 max_line_bytes: int = 4096) -> None:
        self.host = host
        self.port = port
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.chunk_size = chunk_size
        # An SBS line is ~100 bytes; a "line" this long is not one (wrong port, binary
        # data): handed on as it is so it is counted, and the buffer stays bounded.
        self.max_line_bytes = max_line_bytes
        self.connects = 0
        self.bytes = 0
        self.lines = 0
        self.partial_lines = 0    # cut by the peer closing, or by max_line_bytes

    def run(self, on_line: Callable[[datetime, str], None], stop: threading.Event) -> None:
        backoff = self.backoff_initial
        while not stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port),
                                                timeout=self.connect_timeout)
            except OSError as e:
                log.warning("sbs %s:%d: connect failed: %s", self.host, self.port, e)
            else:
                self.connects += 1
                log.info("sbs %s:%d: connected", self.host, self.port)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                    if self._session(sock, on_line, stop):
                        backoff = self.backoff_initial
                finally:
                    sock.close()
            if stop.is_set():
                break
            delay = backoff * random.uniform(0.5, 1.0)
            log.info("sbs %s:%d: reconnecting in %.1f s", self.host, self.port, delay)
            stop.wait(delay)
            backoff = min(backoff * 2, self.backoff_max)

    def _session(self, sock: socket.socket, on_line, stop: threading.Event) -> bool:
        """Read until the connection ends; True if it delivered any line."""
        sock.settimeout(min(_POLL_S, self.read_timeout))
        last_data = time.monotonic()
        delivered = False
        rest = b""     # a new stream: never join bytes across connections
        while not stop.is_set():
            try:
                chunk = sock.recv(self.chunk_size)
            except TimeoutError:
                if time.monotonic() - last_data > self.read_timeout:
                    log.warning("sbs %s:%d: no data for %.0f s, reconnecting",
                                self.host, self.port, self.read_timeout)
                    break
                continue
            except OSError as e:
                log.warning("sbs %s:%d: read failed: %s", self.host, self.port, e)
                break
            if not chunk:
                log.warning("sbs %s:%d: connection closed by peer", self.host, self.port)
                break
            last_data = time.monotonic()
            self.bytes += len(chunk)
            data = rest + chunk
            lines = data.split(b"\n")
            rest = lines.pop()
            if len(rest) > self.max_line_bytes:
                lines.append(rest)
                rest = b""
                self.partial_lines += 1
            if lines:
                # One clock reading per chunk: the lines in it arrived together.
                received_at = datetime.now(UTC)
                n = 0
                for raw in lines:
                    line = raw.rstrip(b"\r")
                    if line:
                        on_line(received_at, line.decode("ascii", "replace"))
                        n += 1
                if n:
                    delivered = True
                    self.lines += n
        line = rest.rstrip(b"\r")
        if line:
            # The peer (or a stop) ended the stream mid-line: counted by the router
            # (a short line), not lost.
            self.partial_lines += 1
            self.lines += 1
            on_line(datetime.now(UTC), line.decode("ascii", "replace"))
        return delivered
