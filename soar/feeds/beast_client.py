"""TCP client for the Beast output of readsb/dump1090 (port 30005)."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime

from soar.feeds.beast import BeastDecoder, Frame
from soar.units import UTC

log = logging.getLogger(__name__)

# Sockets are polled this often so that stop is noticed promptly even when the
# feed is silent; read_timeout still decides when a silent feed is dead.
_POLL_S = 0.2


class BeastClient:
    """Connects, frames the byte stream and calls ``on_frame(received_at, frame)``.

    Reconnects with exponential backoff (doubling from ``backoff_initial`` up to
    ``backoff_max``, each wait drawn from [50 %, 100 %] of the current value so
    several clients do not retry in step). The backoff resets after a connection
    that delivered frames. A connection silent for ``read_timeout`` seconds is
    treated as dead: readsb sends frames continuously while it has traffic.
    Exceptions raised by ``on_frame`` are not swallowed; they end ``run``.
    """

    def __init__(self, host: str, port: int = 30005, *, read_timeout: float = 60.0,
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
        self.frames = 0
        self.garbage_bytes = 0

    def run(self, on_frame: Callable[[datetime, Frame], None], stop: threading.Event) -> None:
        backoff = self.backoff_initial
        while not stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port),
                                                timeout=self.connect_timeout)
            except OSError as e:
                log.warning("beast %s:%d: connect failed: %s", self.host, self.port, e)
            else:
                self.connects += 1
                log.info("beast %s:%d: connected", self.host, self.port)
                try:
                    if self._session(sock, on_frame, stop):
                        backoff = self.backoff_initial
                finally:
                    sock.close()
            if stop.is_set():
                break
            delay = backoff * random.uniform(0.5, 1.0)
            log.info("beast %s:%d: reconnecting in %.1f s", self.host, self.port, delay)
            stop.wait(delay)
            backoff = min(backoff * 2, self.backoff_max)

    def _session(self, sock: socket.socket, on_frame, stop: threading.Event) -> bool:
        """Read until the connection ends; True if it delivered any frame."""
        framer = BeastDecoder()   # a new stream: never join bytes across connections
        sock.settimeout(min(_POLL_S, self.read_timeout))
        last_data = time.monotonic()
        delivered = False
        try:
            while not stop.is_set():
                try:
                    chunk = sock.recv(self.chunk_size)
                except TimeoutError:
                    if time.monotonic() - last_data > self.read_timeout:
                        log.warning("beast %s:%d: no data for %.0f s, reconnecting",
                                    self.host, self.port, self.read_timeout)
                        break
                    continue
                except OSError as e:
                    log.warning("beast %s:%d: read failed: %s", self.host, self.port, e)
                    break
                if not chunk:
                    log.warning("beast %s:%d: connection closed by peer", self.host, self.port)
                    break
                last_data = time.monotonic()
                self.bytes += len(chunk)
                frames = framer.feed(chunk)
                if frames:
                    delivered = True
                    self.frames += len(frames)
                    # One clock reading per chunk: the frames in it arrived together.
                    received_at = datetime.now(UTC)
                    for frame in frames:
                        on_frame(received_at, frame)
        finally:
            self.garbage_bytes += framer.garbage_bytes + framer.buffered
        return delivered
