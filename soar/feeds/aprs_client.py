"""APRS-IS TCP client for the live OGN feed.

Delivers every received line (server `#` lines included: the caller reads the server
time from them) with its receive time, and keeps reconnecting until told to stop.
A line longer than the cap (`_MAX_LINE` bytes; APRS-IS lines have at most 512) is
delivered as the text of TOO_LONG in place of it (soar.records.as_payload), once per
line, so the router counts it; the rest of it, up to its newline, is discarded.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from soar import __version__
from soar.records import TOO_LONG, as_payload
from soar.units import UTC

log = logging.getLogger(__name__)

_POLL_S = 0.2          # socket wait slice: how quickly `stop` is noticed while idle
_MAX_LINE = 65536      # a "line" longer than this is garbage, not APRS


class AprsClient:
    def __init__(self, host: str, port: int, callsign: str = "N0CALL",
                 filter: str | None = None, read_timeout: float = 60.0,
                 keepalive_interval: float = 240.0, connect_timeout: float = 10.0,
                 backoff_base: float = 1.0, backoff_max: float = 60.0):
        self.host, self.port = host, port
        self.callsign, self.filter = callsign, filter
        self.read_timeout = read_timeout          # no byte for this long: reconnect
        self.keepalive_interval = keepalive_interval
        self.connect_timeout = connect_timeout
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.connections = 0                      # successful connects, for tests/metrics

    def login_line(self) -> str:
        line = f"user {self.callsign} pass -1 vers soar {__version__}"
        return f"{line} filter {self.filter}" if self.filter else line

    def run(self, on_line: Callable[[datetime, str], None], stop: threading.Event) -> None:
        """Call on_line(receive_time_utc, line) for every line until `stop` is set."""
        for received_at, line in self.lines(stop):
            on_line(received_at, line)

    def lines(self, stop: threading.Event | None = None) -> Iterator[tuple[datetime, str]]:
        """(receive time, line) pairs, reconnecting with backoff, until `stop` is set.

        `stop` is noticed within ~0.2 s while connected or backing off; a connect in
        progress can take up to connect_timeout (plus DNS) before it is noticed.
        """
        stop = stop or threading.Event()
        failures = 0
        while not stop.is_set():
            delivered = False
            try:
                for item in self._session(stop):
                    delivered = True
                    yield item
            except OSError as e:
                log.warning("APRS-IS %s:%d: %s", self.host, self.port, e)
            if stop.is_set():
                break
            # A session that delivered data was healthy: start the backoff over.
            failures = 0 if delivered else failures + 1
            delay = self.backoff_delay(failures)
            log.info("APRS-IS reconnecting in %.1f s", delay)
            stop.wait(delay)

    def backoff_delay(self, failures: int) -> float:
        """Wait before the next connect after `failures` failed attempts in a row."""
        # The exponent is capped: after a long outage 2**n would overflow a float.
        delay = min(self.backoff_max, self.backoff_base * 2 ** min(max(failures - 1, 0), 32))
        return delay * random.uniform(0.5, 1.0)   # jitter: clients don't retry in lockstep

    def _session(self, stop: threading.Event) -> Iterator[tuple[datetime, str]]:
        log.info("APRS-IS connecting to %s:%d", self.host, self.port)
        with socket.create_connection((self.host, self.port),
                                      timeout=self.connect_timeout) as sock:
            self.connections += 1
            sock.settimeout(_POLL_S)
            self._send(sock, self.login_line())
            log.info("APRS-IS connected to %s:%d as %s, filter %r",
                     self.host, self.port, self.callsign, self.filter)
            last_rx = last_tx = time.monotonic()
            buf = b""
            skipping = False          # inside a line over the cap, already delivered
            while not stop.is_set():
                now = time.monotonic()
                if now - last_tx >= self.keepalive_interval:
                    self._send(sock, f"# soar {__version__} keepalive")
                    last_tx = now
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    if time.monotonic() - last_rx > self.read_timeout:
                        log.warning("APRS-IS: nothing received for %.0f s", self.read_timeout)
                        return
                    continue
                if not chunk:
                    log.warning("APRS-IS: server closed the connection")
                    return
                last_rx = time.monotonic()
                received_at = datetime.now(UTC)
                *complete, buf = (buf + chunk).split(b"\n")
                for raw in complete:
                    if skipping:              # the end of a line already counted
                        skipping = False
                        continue
                    if len(raw) > _MAX_LINE:
                        yield received_at, as_payload(TOO_LONG)
                        continue
                    line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
                    if line:
                        yield received_at, line
                if len(buf) > _MAX_LINE:
                    if not skipping:
                        log.warning("APRS-IS: a line longer than %d bytes, counted as %s",
                                    _MAX_LINE, TOO_LONG)
                        yield received_at, as_payload(TOO_LONG)
                        skipping = True
                    buf = b""

    @staticmethod
    def _send(sock: socket.socket, line: str) -> None:
        sock.sendall(line.encode("utf-8") + b"\r\n")
