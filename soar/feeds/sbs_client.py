"""TCP client for SBS/BaseStation text feeds (dump1090/readsb port 30003, ADSBHub).

Rule: every non-blank line the socket delivers reaches `on_line` exactly once, good
or not (the router counts what it cannot use); a line is never joined across
connections, and a line without its end (the peer closed mid-line, or longer than
`max_line_bytes`) is still handed on, so the router counts it (a parse error).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import NamedTuple

from soar.feeds.tcp_client import TcpFeedClient
from soar.units import UTC


class SbsFeed(NamedTuple):
    """One `soar run --sbs [NAME=]HOST:PORT[@ZONE]` feed."""
    name: str                  # the receiver its fixes name
    host: str
    port: int
    timezone: tzinfo | None    # its generated times' zone; None: the run's default


class _Stream:
    """A connection's bytes after its last complete line."""
    __slots__ = ("rest",)

    def __init__(self) -> None:
        self.rest = b""


class SbsClient(TcpFeedClient):
    """Connects, splits the byte stream into lines and calls ``on_line(received_at, line)``.

    Connect timeout, keepalive, backoff and stop as every feed client
    (soar.feeds.tcp_client); an SBS feed sends lines continuously while it has traffic,
    so a connection silent for ``read_timeout`` is dead. Lines are decoded as ASCII
    (anything else becomes U+FFFD, which no field accepts).
    """

    kind = "sbs"
    log = logging.getLogger(__name__)

    def __init__(self, host: str, port: int = 30003, *, max_line_bytes: int = 4096,
                 **options) -> None:
        super().__init__(host, port, **options)
        # An SBS line is ~100 bytes; a "line" this long is not one (wrong port, binary
        # data): handed on as it is so it is counted, and the buffer stays bounded.
        self.max_line_bytes = max_line_bytes
        self.lines = 0
        self.partial_lines = 0    # cut by the peer closing, or by max_line_bytes

    def run(self, on_line: Callable[[datetime, str], None], stop) -> None:
        super().run(on_line, stop)

    def _open(self) -> _Stream:
        return _Stream()

    def _feed(self, stream: _Stream, chunk: bytes, on_line) -> bool:
        lines = (stream.rest + chunk).split(b"\n")
        stream.rest = lines.pop()
        if len(stream.rest) > self.max_line_bytes:
            lines.append(stream.rest)
            stream.rest = b""
            self.partial_lines += 1
        if not lines:
            return False
        # One clock reading per chunk: the lines in it arrived together.
        received_at = datetime.now(UTC)
        n = 0
        for raw in lines:
            line = raw.rstrip(b"\r")
            if line:
                on_line(received_at, line.decode("ascii", "replace"))
                n += 1
        self.lines += n
        return n > 0

    def _close(self, stream: _Stream, on_line) -> None:
        line = stream.rest.rstrip(b"\r")
        if line:
            # The peer (or a stop) ended the stream mid-line: counted by the router
            # (a short line), not lost.
            self.partial_lines += 1
            self.lines += 1
            on_line(datetime.now(UTC), line.decode("ascii", "replace"))
