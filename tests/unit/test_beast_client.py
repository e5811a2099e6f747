"""BeastClient against a real TCP server on 127.0.0.1 serving the ulss7 capture.

No wall-clock thresholds: tests wait for events with a generous ceiling (CEILING_S),
and "stops promptly" means "stops although nothing else could wake it" (no data,
a read timeout and a backoff far longer than the ceiling)."""

from __future__ import annotations

import logging
import random
import socket
import threading

import pytest

from helpers.paths import TEST_DATA
from helpers.wait import wait_until
from soar.feeds.beast import BeastDecoder, encode_frame
from soar.feeds.beast_client import BeastClient

ULSS7 = TEST_DATA / "beast" / "ulss7-2018-04-03.beast"
CEILING_S = 60.0        # only a hang reaches it
HOUR_S = 3600.0         # longer than any wait here: the client can only notice `stop`


class Server:
    """Serves one script entry per accepted connection: bytes to send, then
    'close' (drop the connection) or 'hold' (stay connected and silent)."""

    def __init__(self, script: list[tuple[bytes, str]]) -> None:
        self.script = script
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        rng = random.Random(3)
        for data, then in self.script:
            conn, _ = self.sock.accept()
            self.accepted += 1
            with conn:
                pos = 0
                while pos < len(data):
                    n = rng.choice((1, 2, 3, 7, 13, 61, 509, 1021, 4093))
                    conn.sendall(data[pos:pos + n])
                    pos += n
                if then == "hold":
                    self.done.set()
                    conn.recv(1)   # until the client hangs up
        self.done.set()

    def close(self) -> None:
        self.sock.close()


class Frames(list):
    """Frames received, with `wait(n)`: until n have arrived (or the ceiling)."""

    def __init__(self):
        super().__init__()
        self.changed = threading.Condition()

    def add(self, at, frame):
        with self.changed:
            self.append((at, frame))
            self.changed.notify_all()

    def wait(self, n: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self) >= n, CEILING_S)


def run_client(client: BeastClient, stop: threading.Event):
    got = Frames()
    thread = threading.Thread(target=client.run, args=(got.add, stop))
    thread.start()
    return got, thread


class LogRecords(logging.Handler):
    """The client's log messages, with `wait(predicate)` on them."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []
        self.changed = threading.Condition()

    def emit(self, record):
        with self.changed:
            self.messages.append(record.getMessage())
            self.changed.notify_all()

    def wait(self, predicate) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self.messages), CEILING_S)


@pytest.fixture
def client_log():
    logger = logging.getLogger("soar.feeds.beast_client")
    handler, old = LogRecords(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


def test_reconnects_and_gets_all_frames():
    data = ULSS7.read_bytes()
    frames = BeastDecoder().feed(data)
    cut = len(data) // 3 + 5            # drop the first connection in mid-frame
    first_part = BeastDecoder().feed(data[:cut])
    assert len(first_part) < len(frames)
    server = Server([(data[:cut], "close"), (data, "close"), (data, "hold")])
    client = BeastClient("127.0.0.1", server.port, read_timeout=HOUR_S, backoff_initial=0.05,
                         backoff_max=0.2)
    stop = threading.Event()
    got, thread = run_client(client, stop)
    try:
        assert server.done.wait(CEILING_S)
        assert got.wait(len(first_part) + 2 * len(frames))
    finally:
        stop.set()            # the last connection stays open and silent: only stop ends it
        thread.join(CEILING_S)
        server.close()
    assert not thread.is_alive()
    # The broken frame at the cut is not glued to the next connection's bytes.
    assert [f for _, f in got] == first_part + frames + frames
    assert client.connects == 3 and server.accepted == 3
    assert client.garbage_bytes == cut - sum(len(encode_frame(f)) for f in first_part)
    assert all(at.tzinfo is not None for at, _ in got)


def test_stops_while_connected_and_silent():
    # Nothing but `stop` can end the session: no data and no read timeout within the
    # ceiling.
    server = Server([(b"", "hold")])
    client = BeastClient("127.0.0.1", server.port, read_timeout=HOUR_S)
    stop = threading.Event()
    got, thread = run_client(client, stop)
    try:
        assert server.done.wait(CEILING_S)
        assert wait_until(lambda: client.connects == 1)
        stop.set()
        thread.join(CEILING_S)
        assert not thread.is_alive()
    finally:
        server.close()
    assert got == [] and client.connects == 1


def _dead_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()                        # nothing listens on this port now
    return port


def test_backoff_doubles_with_jitter_up_to_the_cap(client_log):
    client = BeastClient("127.0.0.1", _dead_port(), backoff_initial=0.02, backoff_max=0.16)
    stop = threading.Event()
    _, thread = run_client(client, stop)
    try:
        assert client_log.wait(lambda msgs: sum("reconnecting in" in m for m in msgs) >= 7)
    finally:
        stop.set()
        thread.join(CEILING_S)
    assert not thread.is_alive() and client.connects == 0
    # Each wait is drawn from [50 %, 100 %] of a backoff that doubles from 20 ms and
    # stops at 160 ms: neither a busy loop nor stuck. (Logged with one decimal.)
    waits = [float(m.rsplit(" in ", 1)[1].split()[0]) for m in client_log.messages
             if "reconnecting in" in m][:7]
    for n, wait in enumerate(waits):
        backoff = min(0.02 * 2 ** n, 0.16)
        assert round(backoff / 2, 1) - 0.05 <= wait <= round(backoff, 1) + 0.05, (n, waits)
    assert sum("connect failed" in m for m in client_log.messages) >= 7


def test_stops_while_backing_off(client_log):
    # The first wait is half an hour or more: only `stop` can end it.
    client = BeastClient("127.0.0.1", _dead_port(), backoff_initial=HOUR_S, backoff_max=HOUR_S)
    stop = threading.Event()
    _, thread = run_client(client, stop)
    assert client_log.wait(lambda msgs: any("reconnecting in" in m for m in msgs))
    stop.set()
    thread.join(CEILING_S)
    assert not thread.is_alive() and client.connects == 0


def test_silent_connection_is_dropped_after_read_timeout():
    server = Server([(b"", "hold"), (ULSS7.read_bytes()[:5000], "hold")])
    client = BeastClient("127.0.0.1", server.port, read_timeout=0.1, backoff_initial=0.05)
    stop = threading.Event()
    got, thread = run_client(client, stop)
    try:
        assert got.wait(1)
    finally:
        stop.set()
        thread.join(CEILING_S)
        server.close()
    assert got and client.connects == 2
