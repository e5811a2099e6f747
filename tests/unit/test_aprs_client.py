"""soar.feeds.aprs_client.AprsClient against a real TCP server on 127.0.0.1 (no mocks).

No wall-clock thresholds: tests wait for events with a generous ceiling (CEILING_S),
and "stops promptly" means "stops although nothing else could wake it" (no data,
a read timeout and a backoff far longer than the ceiling)."""

from __future__ import annotations

import logging
import queue
import socket
import threading
from datetime import datetime, timezone

import pytest

import soar
from helpers.wait import wait_until
from soar.feeds.aprs_client import AprsClient

CEILING_S = 60.0        # only a hang reaches it
HOUR_S = 3600.0         # longer than any wait here: the client can only notice `stop`
BANNER = b"# aprsc 2.1.5-g8af3cdc\r\n"
BEACON = ("FLRDD89C9>OGFLR,qAS,LIDH:/115054h4543.22N/01132.84E'260/072/A=002542 "
          "!W10! id06DD89C9 +198fpm -0.8rot 7.0dB 0e +0.7kHz gps2x3")


class Server:
    """A scripted APRS-IS stand-in: one handler thread per accepted connection.

    `handler(conn, index, server)` talks to the client; every line the client sends
    is recorded in `server.received[index]`.
    """

    def __init__(self, handler):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.02)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.received: list[list[str]] = []
        self.eof: set[int] = set()                 # connections the client closed
        self.closing = threading.Event()
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while not self.closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append([])
            t = threading.Thread(target=self._serve, args=(conn, len(self.received) - 1),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn, index):
        with conn:
            conn.settimeout(0.02)
            reader = threading.Thread(target=self._read, args=(conn, index), daemon=True)
            reader.start()
            self.handler(conn, index, self)

    def _read(self, conn, index):
        buf = b""
        while not self.closing.is_set():
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                self.eof.add(index)
                return
            buf += chunk
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                self.received[index].append(line.decode())

    def wait_for(self, predicate, timeout=CEILING_S) -> bool:
        return bool(wait_until(predicate, timeout, what="the server's condition"))

    def close(self):
        self.closing.set()
        self.sock.close()
        for t in [self.acceptor, *self.threads]:
            t.join(timeout=CEILING_S)


def hold_open(conn, index, server):
    """Send the banner, then nothing: the connection idles until the test ends."""
    conn.sendall(BANNER)
    server.closing.wait()


@pytest.fixture
def serve():
    servers = []

    def start(handler):
        servers.append(Server(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def run_client():
    """Start client.run() in a thread; stop and join it at the end of the test."""
    started = []

    def start(client):
        lines: queue.Queue = queue.Queue()
        stop = threading.Event()
        t = threading.Thread(target=client.run, args=(lambda ts, ln: lines.put((ts, ln)), stop),
                             daemon=True)
        t.start()
        started.append((t, stop))
        return lines, stop, t

    yield start
    for t, stop in started:
        stop.set()
        t.join(timeout=CEILING_S)
        assert not t.is_alive()


class LogEvent(logging.Handler):
    """Sets `event` when the client logs a message containing `text`."""

    def __init__(self, text: str):
        super().__init__()
        self.text, self.event = text, threading.Event()

    def emit(self, record):
        if self.text in record.getMessage():
            self.event.set()


@pytest.fixture
def client_log():
    logger = logging.getLogger("soar.feeds.aprs_client")
    handlers = []

    def on(text: str) -> threading.Event:
        h = LogEvent(text)
        logger.addHandler(h)
        handlers.append(h)
        return h.event

    old = logger.level
    logger.setLevel(logging.INFO)
    yield on
    logger.setLevel(old)
    for h in handlers:
        logger.removeHandler(h)


def take(lines: queue.Queue, n: int, timeout=CEILING_S) -> list[tuple[datetime, str]]:
    return [lines.get(timeout=timeout) for _ in range(n)]


def test_login_line_and_lines_delivered(serve, run_client):
    got_logresp = threading.Event()

    def handler(conn, index, server):
        conn.sendall(BANNER)
        server.wait_for(lambda: server.received[index])       # after the login
        # A line split across packets: its first half goes with the logresp line, the
        # rest once the client has delivered that line (so it read the half alone).
        half = len(BEACON) // 2
        conn.sendall(b"# logresp TEST unverified, server GLIDERN2\r\n" + BEACON[:half].encode())
        got_logresp.wait(CEILING_S)
        conn.sendall(BEACON[half:].encode() + b"\r\n")
        conn.sendall(b"bad \xff\xfe bytes\nlast\r\n")
        server.closing.wait()

    server = serve(handler)
    client = AprsClient("127.0.0.1", server.port, callsign="TEST", filter="r/47/11/100")
    before = datetime.now(timezone.utc)
    lines, _, _ = run_client(client)
    got = take(lines, 2)
    got_logresp.set()
    got += take(lines, 3)
    after = datetime.now(timezone.utc)
    assert [ln for _, ln in got] == [
        "# aprsc 2.1.5-g8af3cdc", "# logresp TEST unverified, server GLIDERN2", BEACON,
        "bad \ufffd\ufffd bytes", "last"]
    assert all(ts.tzinfo == timezone.utc for ts, _ in got)
    assert all(before <= ts <= after for ts, _ in got)           # the receive time
    assert got[2][0] > got[1][0]                                 # stamped on arrival
    assert server.received[0][0] == f"user TEST pass -1 vers soar {soar.__version__} " \
                                    "filter r/47/11/100"


def test_login_line_without_filter():
    assert AprsClient("h", 1).login_line() == f"user N0CALL pass -1 vers soar {soar.__version__}"


def test_backoff_is_exponential_capped_and_jittered():
    client = AprsClient("h", 1, backoff_base=1.0, backoff_max=20.0)
    cases = [(0, 1), (1, 1), (2, 2), (3, 4), (5, 16), (6, 20), (30, 20), (5000, 20)]
    for failures, ceiling in cases:
        delays = [client.backoff_delay(failures) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (failures, min(delays))
        assert len(set(delays)) > 100                             # jittered, not fixed


def test_keepalive_sent_when_configured_short(serve, run_client):
    server = serve(hold_open)
    client = AprsClient("127.0.0.1", server.port, keepalive_interval=0.05)
    lines, _, _ = run_client(client)
    take(lines, 1)
    assert server.wait_for(lambda: len(server.received[0]) >= 3)
    login, *keepalives = server.received[0]
    assert login.startswith("user N0CALL pass -1")
    assert all(k.startswith("#") for k in keepalives)


def test_no_keepalive_before_interval(serve, run_client):
    delivered: queue.Queue = queue.Queue()

    def trickle(conn, index, server):
        conn.sendall(BANNER)
        for i in range(20):                  # the client's loop turns many times...
            delivered.get(timeout=CEILING_S)   # (each line read on its own)
            conn.sendall(f"# tick {i}\r\n".encode())
        server.closing.wait()

    server = serve(trickle)
    client = AprsClient("127.0.0.1", server.port, keepalive_interval=HOUR_S)
    lines, _, _ = run_client(client)
    got = []
    for _ in range(21):
        got += take(lines, 1)
        delivered.put(None)
    assert got[-1][1] == "# tick 19"
    assert server.wait_for(lambda: server.received[0])
    assert server.received[0][0].startswith("user ")
    assert len(server.received[0]) == 1             # ...and sends nothing but the login


def test_reconnects_after_server_drops_connection(serve, run_client):
    def handler(conn, index, server):
        conn.sendall(BANNER + f"{BEACON} conn{index}\r\n".encode())
        if index == 0:
            server.wait_for(lambda: server.received[index])      # logged in ...
            return                                                # ... then closed
        server.closing.wait()

    server = serve(handler)
    client = AprsClient("127.0.0.1", server.port, backoff_base=0.05, backoff_max=0.2)
    lines, _, _ = run_client(client)
    got = [ln for _, ln in take(lines, 4)]
    assert got == ["# aprsc 2.1.5-g8af3cdc", f"{BEACON} conn0",
                   "# aprsc 2.1.5-g8af3cdc", f"{BEACON} conn1"]
    assert server.wait_for(lambda: len(server.received) == 2 and server.received[1])
    assert server.received[1][0].startswith("user N0CALL pass -1 vers soar")
    assert client.connections == 2


def test_read_timeout_forces_reconnect(serve, run_client):
    server = serve(hold_open)
    client = AprsClient("127.0.0.1", server.port, read_timeout=0.1,
                        backoff_base=0.05, backoff_max=0.1)
    lines, _, _ = run_client(client)
    assert server.wait_for(lambda: len(server.received) >= 2)
    assert [ln for _, ln in take(lines, 2)] == ["# aprsc 2.1.5-g8af3cdc"] * 2


def test_stops_while_connected_and_silent(serve, run_client):
    # Nothing but `stop` can end the session: no data, no read timeout, no keepalive
    # within the ceiling.
    server = serve(hold_open)
    lines, stop, thread = run_client(AprsClient("127.0.0.1", server.port, read_timeout=HOUR_S,
                                                keepalive_interval=HOUR_S))
    take(lines, 1)
    stop.set()
    thread.join(timeout=CEILING_S)
    assert not thread.is_alive()
    assert server.wait_for(lambda: server.eof == {0})            # and it hung up


def test_stops_while_backing_off(run_client, client_log):
    with socket.socket() as s:                                   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waiting = client_log("reconnecting in")
    # The first wait is half an hour or more: only `stop` can end it.
    client = AprsClient("127.0.0.1", port, backoff_base=HOUR_S, backoff_max=HOUR_S)
    _, stop, thread = run_client(client)
    assert waiting.wait(CEILING_S)                                # refused, now waiting
    assert thread.is_alive() and client.connections == 0
    stop.set()
    thread.join(timeout=CEILING_S)
    assert not thread.is_alive()


def test_lines_generator(serve):
    def handler(conn, index, server):
        conn.sendall(BANNER + BEACON.encode() + b"\r\n")
        server.closing.wait()

    server = serve(handler)
    stop = threading.Event()
    gen = AprsClient("127.0.0.1", server.port).lines(stop)
    assert next(gen)[1] == "# aprsc 2.1.5-g8af3cdc"
    assert next(gen)[1] == BEACON
    assert not server.eof
    gen.close()                                                   # closes the socket
    assert server.wait_for(lambda: server.eof == {0})


def test_a_line_over_the_cap_is_delivered_once_as_too_long_and_the_next_line_intact(
        serve, run_client):
    from soar.feeds import aprs_client
    from soar.records import TOO_LONG
    huge = b"X" * (aprs_client._MAX_LINE * 3)          # spans many packets, no newline

    def handler(conn, index, server):
        conn.sendall(BANNER)
        conn.sendall(huge)
        conn.sendall(b"tail of the huge line\r\n" + BEACON.encode() + b"\r\n")
        conn.sendall(b"Y" * (aprs_client._MAX_LINE + 10) + b"\r\nlast\r\n")   # in one go
        server.closing.wait()

    server = serve(handler)
    lines, _, _ = run_client(AprsClient("127.0.0.1", server.port))
    got = [ln for _, ln in take(lines, 5)]
    assert got == ["# aprsc 2.1.5-g8af3cdc", TOO_LONG, BEACON, TOO_LONG, "last"]
    assert type(got[1]) is str              # plain text: it may cross the disk buffer
