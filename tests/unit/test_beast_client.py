"""BeastClient against a real TCP server on 127.0.0.1 serving the ulss7 capture."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time

from helpers.paths import SHARED_DATA
from soar.feeds.beast import BeastDecoder, encode_frame
from soar.feeds.beast_client import BeastClient

ULSS7 = SHARED_DATA / "beast" / "ulss7-2018-04-03.beast"


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


def run_client(client: BeastClient, stop: threading.Event):
    got = []
    thread = threading.Thread(target=client.run, args=(lambda at, f: got.append((at, f)), stop))
    thread.start()
    return got, thread


def test_reconnects_and_gets_all_frames():
    data = ULSS7.read_bytes()
    frames = BeastDecoder().feed(data)
    cut = len(data) // 3 + 5            # drop the first connection in mid-frame
    first_part = BeastDecoder().feed(data[:cut])
    assert len(first_part) < len(frames)
    server = Server([(data[:cut], "close"), (data, "close"), (data, "hold")])
    client = BeastClient("127.0.0.1", server.port, read_timeout=5, backoff_initial=0.05, backoff_max=0.2)
    stop = threading.Event()
    got, thread = run_client(client, stop)
    try:
        assert server.done.wait(10)
        deadline = time.monotonic() + 10
        while len(got) < len(first_part) + 2 * len(frames) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        t0 = time.monotonic()
        stop.set()
        thread.join(5)
        server.close()
    assert not thread.is_alive() and time.monotonic() - t0 < 1.0
    # The broken frame at the cut is not glued to the next connection's bytes.
    assert [f for _, f in got] == first_part + frames + frames
    assert client.connects == 3 and server.accepted == 3
    assert client.garbage_bytes == cut - sum(len(encode_frame(f)) for f in first_part)
    assert all(at.tzinfo is not None for at, _ in got)


def test_stop_is_prompt_while_connected_and_silent():
    server = Server([(b"", "hold")])
    client = BeastClient("127.0.0.1", server.port, read_timeout=60)
    stop = threading.Event()
    got, thread = run_client(client, stop)
    try:
        assert server.done.wait(5)
        time.sleep(0.3)
        t0 = time.monotonic()
        stop.set()
        thread.join(5)
        assert not thread.is_alive() and time.monotonic() - t0 < 1.0
    finally:
        server.close()
    assert got == [] and client.connects == 1


def test_backoff_when_nobody_listens_and_prompt_stop(caplog):
    caplog.set_level(logging.WARNING, logger="soar.feeds.beast_client")
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()                        # nothing listens on this port now
    client = BeastClient("127.0.0.1", port, backoff_initial=0.02, backoff_max=0.16)
    stop = threading.Event()
    _, thread = run_client(client, stop)
    time.sleep(1.0)
    t0 = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - t0 < 1.0
    assert client.connects == 0
    # Waits of 10-20, 20-40, 40-80 ms, then 80-160 ms each: about 10 attempts in
    # a second, neither a busy loop nor stuck.
    attempts = sum("connect failed" in r.getMessage() for r in caplog.records)
    assert 5 <= attempts <= 20


def test_silent_connection_is_dropped_after_read_timeout():
    server = Server([(b"", "hold"), (ULSS7.read_bytes()[:5000], "hold")])
    client = BeastClient("127.0.0.1", server.port, read_timeout=0.5, backoff_initial=0.05)
    stop = threading.Event()
    got, thread = run_client(client, stop)
    try:
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(5)
        server.close()
    assert got and client.connects == 2
