"""A real TCP proxy on loopback, for fault tests: it forwards bytes both ways between
clients and a target port, and can be told to lose the server's answer to one chosen
client message (e.g. PostgreSQL's COMMIT): the message reaches the server, the server
answers, the proxy drops the answer and closes both sides. The client then cannot
know whether its commit happened (an ambiguous commit).

It can also be told to stall a connection at a chosen client message (`stall_at`):
from then on it forwards nothing and reads nothing from that client, and never closes
its side, as a path to a server that vanished mid-send; only the client's own TCP
timeouts (TCP_USER_TIMEOUT) can notice. The server's side is closed at once (as its
own keepalives would eventually), so the server rolls back and releases its locks.

The proxy's receive buffer is small from each connection's first byte (set on the
listener, so the window is agreed small at the handshake): a stalled connection then
takes in a few kilobytes and no more, and the rest of what the client sends stays in
its own send queue, unacknowledged, as it would towards a vanished peer. Shrinking the
buffer at the stall is too late: a window the kernel has advertised is never taken
back, and with an autotuned buffer (tcp_rmem's maximum is tens of megabytes) a whole
COPY fits in it, is acknowledged, and the client waits for an answer on a connection
whose keepalive probes the proxy's kernel answers: nothing ever ends it."""

from __future__ import annotations

import selectors
import socket
import threading

# The client side's receive buffer (the kernel doubles it): what a stalled connection
# can still take in; small against a COPY of a few thousand fixes.
RCVBUF_BYTES = 16384


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by the accepted sockets: the window is agreed at the handshake.
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.connections = 0                  # accepted so far
        self.cut = threading.Event()          # set once an answer was dropped
        self.stalled = threading.Event()      # set once a connection was stalled
        self._marker: bytes | None = None
        self._stall_marker: bytes | None = None
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._closed = False
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def drop_answer_to(self, marker: bytes) -> None:
        """Arm: the next client message containing `marker` is forwarded, the server's
        answer to it dropped, and that connection closed (once)."""
        with self._lock:
            self.cut.clear()
            self._marker = marker

    def stall_at(self, marker: bytes) -> None:
        """Arm: the next client message containing `marker` is not forwarded, and its
        connection stalls (module docstring), once: what the client sends next soon
        fills the proxy's small receive buffer and then stays unacknowledged (what
        TCP_USER_TIMEOUT measures)."""
        with self._lock:
            self.stalled.clear()
            self._stall_marker = marker

    def close(self) -> None:
        self._closed = True
        self._closing.set()
        self.listener.close()
        with self._lock:
            for s in self._socks:
                _close(s)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self.connections += 1
                self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _take_marker(self, data: bytes, tail: bytes) -> bool:
        return self._take("_marker", data, tail)

    def _take_stall(self, data: bytes, tail: bytes) -> bool:
        return self._take("_stall_marker", data, tail)

    def _take(self, armed: str, data: bytes, tail: bytes) -> bool:
        """Whether the marker armed in attribute `armed` ends in `data` (it may start
        in `tail`, the end of what the client sent before; a marker wholly in `tail` was
        sent before arming); disarms it when found."""
        with self._lock:
            marker = getattr(self, armed)
            if marker is not None and (tail + data).find(
                    marker, max(0, len(tail) - len(marker) + 1)) >= 0:
                setattr(self, armed, None)
                return True
        return False

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ)
        sel.register(server, selectors.EVENT_READ)
        tail = b""              # a marker may straddle two reads
        dropping = False        # the marked message went out: its answer is dropped
        try:
            while True:
                for key, _ in sel.select():
                    src = key.fileobj
                    data = src.recv(65536)
                    if not data:
                        return
                    if src is client and self._take_stall(data, tail):
                        _close(server)
                        self.stalled.set()
                        self._closing.wait()          # hold the client, read nothing
                        return
                    if src is client:
                        hit = self._take_marker(data, tail)
                        tail = (tail + data)[-64:]
                        server.sendall(data)
                        dropping = dropping or hit
                    elif dropping:
                        # The server has answered (so it has acted on the message):
                        # lose the answer and the connection.
                        self.cut.set()
                        return
                    else:
                        client.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            _close(client)
            _close(server)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
