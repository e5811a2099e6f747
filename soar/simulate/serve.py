"""Serving a simulation live on loopback: an APRS-IS server and a Beast server.

The rule: the real clients (soar.feeds.aprs_client, soar.feeds.beast_client) see
what real servers send. The APRS-IS server greets with an `# aprsc` banner, reads
the `user CALL pass -1 vers NAME VER [filter ...]` login, answers `# logresp`,
then streams the lines (with `# aprsc` time lines every 20 s of data time); the
Beast server streams raw frames. Both send each line/frame when the wall clock
reaches its receive time (times `speed`), in tenth-of-a-second slices. Only
127.0.0.1 is bound. A client that cannot keep up (its queue holds more than
`client_queue_s` seconds of data) is disconnected and counted, as aprsc does; the
simulation itself never waits for a client.

Times: lines carry their data time; served at speed 1 from a start of "now", that
is the wall-clock time, as live traffic. At other speeds the data time drifts from
the clock (soar counts such fixes as `future`/`stale`): use recordings for that.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from soar.errors import SoarError
from soar.feeds.beast import MODE_S_LONG, MODE_S_SHORT, Frame, encode_frame
from soar.simulate.engine import Second, SimConfig, Simulation
from soar.simulate.recording import RecordingWriter, metadata

log = logging.getLogger(__name__)

_SLICES = 10                 # sends per second of data
_LOGIN_TIMEOUT_S = 30.0
_BANNER = b"# aprsc 2.1.15-soarsim\r\n"


@dataclass
class _Client:
    sock: socket.socket
    peer: str
    q: queue.Queue
    sent: int = 0
    thread: threading.Thread | None = None


@dataclass
class ServerStats:
    clients: int = 0             # connections accepted
    logins: list = field(default_factory=list)   # APRS-IS login lines received
    dropped_slow: int = 0        # clients disconnected for falling behind
    lines_sent: int = 0          # APRS lines (or frames) handed to clients, summed over clients


class FeedServer:
    """A TCP server on 127.0.0.1 broadcasting byte blocks to its connected clients."""

    def __init__(self, port: int, kind: str, client_queue_blocks: int):
        try:
            self.sock = socket.create_server(("127.0.0.1", port))
        except OSError as exc:
            raise SoarError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}): choose "
                            "another port (0 picks a free one)") from None
        self.port = self.sock.getsockname()[1]
        self.kind = kind
        self.client_queue_blocks = client_queue_blocks
        self.stats = ServerStats()
        self.clients: list[_Client] = []
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._accept, name=f"sim-{kind}-accept", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.closed.is_set():
            try:
                conn, addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            c = _Client(conn, f"{addr[0]}:{addr[1]}", queue.Queue(self.client_queue_blocks))
            self.stats.clients += 1
            c.thread = threading.Thread(target=self._serve, args=(c,), daemon=True,
                                        name=f"sim-{self.kind}-client")
            c.thread.start()

    def handshake(self, c: _Client) -> bool:
        return True

    def _serve(self, c: _Client) -> None:
        try:
            if not self.handshake(c):
                return
            with self.lock:
                self.clients.append(c)
            while True:
                block = c.q.get()
                if block is None:
                    break
                c.sock.sendall(block)
        except OSError as exc:
            log.info("simulate %s: client %s gone (%s)", self.kind, c.peer, exc)
        finally:
            with self.lock:
                if c in self.clients:
                    self.clients.remove(c)
            c.sock.close()

    def broadcast(self, block: bytes, items: int) -> None:
        with self.lock:
            clients = list(self.clients)
        for c in clients:
            try:
                c.q.put_nowait(block)
                self.stats.lines_sent += items
            except queue.Full:
                log.warning("simulate %s: client %s cannot keep up: disconnected", self.kind, c.peer)
                self.stats.dropped_slow += 1
                with self.lock:
                    if c in self.clients:
                        self.clients.remove(c)
                try:
                    c.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        with self.lock:
            clients, self.clients = list(self.clients), []
        for c in clients:
            try:
                c.q.put_nowait(None)
            except queue.Full:
                c.sock.close()
        self.thread.join(timeout=5)
        for c in clients:
            if c.thread is not None:
                c.thread.join(timeout=5)


class AprsIsServer(FeedServer):
    def __init__(self, port: int, client_queue_blocks: int):
        super().__init__(port, "aprs", client_queue_blocks)

    def handshake(self, c: _Client) -> bool:
        c.sock.sendall(_BANNER)
        c.sock.settimeout(_LOGIN_TIMEOUT_S)
        buf = b""
        while b"\n" not in buf:
            chunk = c.sock.recv(1024)
            if not chunk:
                return False
            buf += chunk
            if len(buf) > 4096:
                return False
        c.sock.settimeout(None)
        login = buf.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        self.stats.logins.append(login)
        words = login.split()
        call = words[1] if len(words) > 1 and words[0] == "user" else "N0CALL"
        c.sock.sendall(f"# logresp {call} unverified, server SOARSIM\r\n".encode())
        return True


def _slices(items: list, second: int) -> list[list]:
    out: list[list] = [[] for _ in range(_SLICES)]
    for it in items:
        k = int((it[0] - second) * _SLICES)
        out[k if k < _SLICES else _SLICES - 1].append(it)
    return out


def serve(config: SimConfig, aprs_port: int | None = 0, beast_port: int | None = 0,
          speed: float = 1.0, out_dir: Path | None = None, stop: threading.Event | None = None,
          on_ready: Callable[[dict], None] | None = None, client_queue_s: float = 30.0,
          ahead_s: int = 30) -> dict:
    """Serve the simulation live until its duration is over (or `stop` is set).

    `aprs_port` / `beast_port`: 0 picks a free port, None serves no such feed.
    `on_ready(info)` is called once both servers listen (info: ports, start).
    `out_dir`: also write the recording and truth there (what was generated).
    Returns the recording metadata plus the servers' counters."""
    if speed <= 0:
        raise SoarError("--speed must be positive")
    stop = stop or threading.Event()
    sim = Simulation(config)
    queue_blocks = max(1, round(client_queue_s * _SLICES / speed))
    aprs = AprsIsServer(aprs_port, queue_blocks) if aprs_port is not None else None
    beast = FeedServer(beast_port, "beast", queue_blocks) if beast_port is not None else None
    writer = None
    if out_dir is not None:
        writer = RecordingWriter(Path(out_dir), sim)
    produced: queue.Queue = queue.Queue(max(1, ahead_s))
    info = {"aprs_port": aprs.port if aprs else None, "beast_port": beast.port if beast else None,
            "start": config.start.isoformat()}
    gen_time = [0.0]

    def produce() -> None:
        t0 = time.monotonic()
        try:
            for s in sim.seconds():
                if writer is not None:
                    writer.write(s)
                gen_time[0] = time.monotonic() - t0
                while not stop.is_set():
                    try:
                        produced.put(s, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
                t0 = time.monotonic() - gen_time[0]
        finally:
            while True:              # end of data; the pacer may have stopped already
                try:
                    produced.put(None, timeout=0.2)
                    break
                except queue.Full:
                    if stop.is_set():
                        break

    for server in (aprs, beast):
        if server is not None:
            server.start()
    producer = threading.Thread(target=produce, name="sim-generate", daemon=True)
    producer.start()
    if on_ready is not None:
        on_ready(info)
    wall0 = time.monotonic()
    data0 = sim.t0
    try:
        while not stop.is_set():
            try:
                s: Second | None = produced.get(timeout=0.2)
            except queue.Empty:
                continue
            if s is None:
                break
            aprs_slices = _slices(s.aprs, s.second) if aprs else None
            beast_slices = _slices(s.frames, s.second) if beast else None
            for k in range(_SLICES):
                due = wall0 + (s.second - data0 + k / _SLICES) / speed
                if stop.wait(max(0.0, due - time.monotonic())):
                    break
                if aprs_slices and aprs_slices[k]:
                    aprs.broadcast("".join([raw + "\r\n" for _, raw in aprs_slices[k]]).encode(),
                                   len(aprs_slices[k]))
                if beast_slices and beast_slices[k]:
                    beast.broadcast(b"".join([_beast_frame(fr, sig, rt, data0)
                                              for rt, fr, sig in beast_slices[k]]),
                                    len(beast_slices[k]))
    finally:
        stop.set()
        producer.join(timeout=30)
        for server in (aprs, beast):
            if server is not None:
                server.close()
        if writer is not None:
            meta = writer.close(gen_time[0])
        else:
            meta = metadata(sim, gen_time[0])
    meta["served"] = {"speed": speed, **info}
    if aprs:
        meta["served"]["aprs"] = {"clients": aprs.stats.clients, "logins": aprs.stats.logins,
                                  "lines_sent": aprs.stats.lines_sent,
                                  "dropped_slow_clients": aprs.stats.dropped_slow}
    if beast:
        meta["served"]["beast"] = {"clients": beast.stats.clients,
                                   "frames_sent": beast.stats.lines_sent,
                                   "dropped_slow_clients": beast.stats.dropped_slow}
    return meta


def _beast_frame(frame: bytes, signal: int, rt: float, data0: int) -> bytes:
    return encode_frame(Frame(MODE_S_LONG if len(frame) == 14 else MODE_S_SHORT,
                              round((rt - data0) * 12e6) % (1 << 48), signal, frame))

