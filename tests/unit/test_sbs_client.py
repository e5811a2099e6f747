"""SbsClient against a real TCP server on 127.0.0.1 serving the real SBS stream.

No wall-clock thresholds: tests wait for events with a generous ceiling, and "stops
promptly" means "stops although nothing else could wake it" (no data, a read timeout
and a backoff far longer than the ceiling)."""

from __future__ import annotations

import logging
import threading

import pytest
from test_beast_client import CEILING_S, HOUR_S, Frames, LogRecords, Server, _dead_port, wait_until

from helpers.paths import TEST_DATA
from soar.feeds.sbs_client import SbsClient

REFERENCE = TEST_DATA / "beast" / "ulss7-2018-04-03.reference-sbs.txt"


def run_client(client: SbsClient, stop: threading.Event):
    got = Frames()
    thread = threading.Thread(target=client.run, args=(got.add, stop))
    thread.start()
    return got, thread


@pytest.fixture
def client_log():
    logger = logging.getLogger("soar.feeds.sbs_client")
    handler, old = LogRecords(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


def test_every_line_once_across_reconnects_a_cut_line_handed_on_not_joined():
    text = REFERENCE.read_text()
    lines = [line for line in text.splitlines() if line]
    data = text.replace("\n", "\r\n").encode()          # feeds end lines with CRLF
    cut = len(data) // 3 + 17                           # the first connection ends mid-line
    head = data[:cut].decode()
    first_part = [line for line in head.split("\r\n") if line]
    assert not head.endswith("\r\n")                    # its last line is cut short
    server = Server([(data[:cut], "close"), (data, "close"), (data, "hold")])
    client = SbsClient("127.0.0.1", server.port, read_timeout=HOUR_S, backoff_initial=0.05,
                       backoff_max=0.2)
    stop = threading.Event()
    got, thread = run_client(client, stop)
    try:
        assert server.done.wait(CEILING_S)
        assert got.wait(len(first_part) + 2 * len(lines))
    finally:
        stop.set()            # the last connection stays open and silent: only stop ends it
        thread.join(CEILING_S)
        server.close()
    assert not thread.is_alive()
    # The cut line is handed on as it is (the router counts it), never glued to the
    # next connection's first line.
    assert [line for _, line in got] == first_part + lines + lines
    assert client.connects == 3 and server.accepted == 3
    assert client.lines == len(got) and client.partial_lines == 1
    assert all(at.tzinfo is not None for at, _ in got)


def test_an_endless_line_is_handed_on_in_bounded_pieces():
    data = b"MSG," + b"9" * 10_000 + b"\nMSG,8,1,1,400159,1\n"
    server = Server([(data, "hold")])
    client = SbsClient("127.0.0.1", server.port, read_timeout=HOUR_S, max_line_bytes=1000)
    stop = threading.Event()
    got, thread = run_client(client, stop)
    try:
        assert got.wait(1) and wait_until(lambda: got and got[-1][1] == "MSG,8,1,1,400159,1")
    finally:
        stop.set()
        thread.join(CEILING_S)
        server.close()
    pieces = [line for _, line in got]
    # Every byte arrives, in pieces of at most a bounded size plus one chunk.
    assert "".join(pieces[:-1]) == data.decode().split("\n")[0]
    assert all(len(p) <= 1000 + client.chunk_size for p in pieces)
    assert client.partial_lines == len(pieces) - 2 or client.partial_lines == len(pieces) - 1


def test_non_ascii_bytes_become_replacement_characters():
    server = Server([(b"MSG,\xff\x00,x\r\n", "hold")])
    client = SbsClient("127.0.0.1", server.port, read_timeout=HOUR_S)
    stop = threading.Event()
    got, thread = run_client(client, stop)
    try:
        assert got.wait(1)
    finally:
        stop.set()
        thread.join(CEILING_S)
        server.close()
    assert [line for _, line in got] == ["MSG,\ufffd\x00,x"]


def test_stops_while_connected_and_silent():
    server = Server([(b"", "hold")])
    client = SbsClient("127.0.0.1", server.port, read_timeout=HOUR_S)
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


def test_a_silent_feed_is_dropped_after_the_read_timeout(client_log):
    server = Server([(b"MSG,8\n", "hold"), (b"", "hold")])
    client = SbsClient("127.0.0.1", server.port, read_timeout=0.1, backoff_initial=0.01)
    stop = threading.Event()
    got, thread = run_client(client, stop)
    try:
        assert client_log.wait(lambda msgs: any("no data for" in m for m in msgs))
        assert wait_until(lambda: client.connects == 2)
    finally:
        stop.set()
        thread.join(CEILING_S)
        server.close()
    assert not thread.is_alive()
    assert [line for _, line in got] == ["MSG,8"]


def test_backoff_doubles_with_jitter_up_to_the_cap(client_log):
    client = SbsClient("127.0.0.1", _dead_port(), backoff_initial=0.02, backoff_max=0.16)
    stop = threading.Event()
    _, thread = run_client(client, stop)
    try:
        assert client_log.wait(lambda msgs: sum("reconnecting in" in m for m in msgs) >= 7)
    finally:
        stop.set()
        thread.join(CEILING_S)
    assert not thread.is_alive() and client.connects == 0
    waits = [float(m.rsplit(" in ", 1)[1].split()[0]) for m in client_log.messages
             if "reconnecting in" in m][:7]
    for n, wait in enumerate(waits):
        backoff = min(0.02 * 2 ** n, 0.16)
        assert round(backoff / 2, 1) - 0.05 <= wait <= round(backoff, 1) + 0.05, (n, waits)


def test_stops_while_backing_off(client_log):
    client = SbsClient("127.0.0.1", _dead_port(), backoff_initial=HOUR_S, backoff_max=HOUR_S)
    stop = threading.Event()
    _, thread = run_client(client, stop)
    assert client_log.wait(lambda msgs: any("reconnecting in" in m for m in msgs))
    stop.set()
    thread.join(CEILING_S)
    assert not thread.is_alive()


def test_a_delivery_that_raises_ends_the_client_with_that_error_and_nothing_more():
    # The second line is cut short by the connection: it would be handed on at the
    # end of the stream, but not after the pipeline refused the first one.
    server = Server([(b"MSG,3,1,1,400159,1\r\nMSG,3,1,1,4001", "hold")])
    client = SbsClient("127.0.0.1", server.port, read_timeout=HOUR_S)
    calls = []

    def refuse(at, line):
        calls.append(line)
        raise RuntimeError(f"refused {line}")

    try:
        with pytest.raises(RuntimeError, match="refused MSG,3,1,1,400159,1$"):
            client.run(refuse, threading.Event())
    finally:
        server.close()
    assert calls == ["MSG,3,1,1,400159,1"]
