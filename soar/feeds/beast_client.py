"""TCP client for the Beast output of readsb/dump1090 (port 30005); connection,
keepalive, backoff and stop as every feed client (soar.feeds.tcp_client)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from soar.feeds.beast import BeastDecoder, Frame
from soar.feeds.tcp_client import TcpFeedClient
from soar.units import UTC


class BeastClient(TcpFeedClient):
    """Connects, frames the byte stream and calls ``on_frame(received_at, frame)``
    (readsb sends frames continuously while it has traffic: a silent connection is
    dead after ``read_timeout``)."""

    kind = "beast"
    log = logging.getLogger(__name__)

    def __init__(self, host: str, port: int = 30005, **options) -> None:
        super().__init__(host, port, **options)
        self.frames = 0
        self.garbage_bytes = 0

    def run(self, on_frame: Callable[[datetime, Frame], None], stop) -> None:
        super().run(on_frame, stop)

    def _open(self) -> BeastDecoder:
        return BeastDecoder()

    def _feed(self, framer: BeastDecoder, chunk: bytes, on_frame) -> bool:
        frames = framer.feed(chunk)
        if not frames:
            return False
        self.frames += len(frames)
        # One clock reading per chunk: the frames in it arrived together.
        received_at = datetime.now(UTC)
        for frame in frames:
            on_frame(received_at, frame)
        return True

    def _close(self, framer: BeastDecoder, on_frame) -> None:
        self.garbage_bytes += framer.garbage_bytes + framer.buffered
