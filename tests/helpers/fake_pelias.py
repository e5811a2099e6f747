"""A fake Pelias: a real HTTP server (http.server in a thread, on 127.0.0.1) serving
the recorded /v1/reverse responses of shared/data/pelias/ (geocode.earth, 2025), and
able to misbehave: slow (longer than the client's timeout, for every point or some),
HTTP 500, malformed JSON, down (the connection closed without an answer), trickling
the body or the headers a byte at a time, a huge body (with or without a length),
deeply nested JSON, redirects to another host or (under /old/) to itself. It can be
stopped and started again on the same port (a real outage: connections refused).

The response for a point is the recorded one nearest to it, cut to `size` features.
Every request is recorded (path and query) so tests can count calls; `cut` is set
when the client closed a connection while the fake was still sending (the proof
that a client gave up on a trickle or a huge body).

`keep_alive=True` answers HTTP/1.1 on persistent connections (a real Pelias does;
bench/worker.py uses it), only in the well-behaved modes.

Concurrency: `in_flight` / `max_in_flight` count requests being answered at once;
`hold()` keeps every request waiting until `release()` (a test can see how many
calls a client has in flight at once); `latency` (a function of the query) sets a
delay per request, on top of `delay_s`.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse


class FakePelias:
    def __init__(self, responses_dir: Path, keep_alive: bool = False):
        # HTTP/1.1 with persistent connections, as a real Pelias (Express) answers;
        # off by default: the misbehaving modes are written for one answer per connection.
        self.keep_alive = keep_alive
        self.recorded: list[tuple[float, float, dict]] = []
        for p in sorted(Path(responses_dir).glob("*.json")):
            doc = json.loads(p.read_text(encoding="utf-8"))
            q = doc["geocoding"]["query"]
            self.recorded.append((float(q["point.lat"]), float(q["point.lon"]), doc))
        if not self.recorded:
            raise RuntimeError(f"no recorded Pelias responses in {responses_dir}")
        # ok | error (500) | malformed | empty | notfound (404) | down (closed, no answer)
        # | trickle (body) | trickle_headers | huge | huge_unsized | nested | redirect
        self.mode = "ok"
        self.delay_s = 0.0          # wait this long before answering (slow: > client timeout)
        self.slow_points: list[tuple[float, float, float]] = []   # (lat, lon, delay_s)
        self.fail_first = 0         # answer this many requests with HTTP 500 first
        self.override: dict | None = None   # serve this document instead of a recorded one
        self.redirect_to: str | None = None  # mode redirect: send the client there
        self.trickle_interval_s = 0.1        # a byte this often (trickle modes)
        self.huge_bytes = 2 << 20            # mode huge: body size (huge_unsized: endless)
        self.latency: Callable[[dict], float] | None = None   # per request: query -> delay_s
        self.requests: list[dict] = []
        self.in_flight = 0                   # requests being answered now
        self.max_in_flight = 0               # the most at once since start (or reset)
        self._gate = threading.Event()       # cleared by hold(): requests wait for it
        self._gate.set()
        self._changed = threading.Condition()
        self.cut = threading.Event()         # the client closed while we were sending
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0                       # kept across stop/start

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakePelias:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if self.keep_alive else "HTTP/1.0"
            # Headers and body are separate writes: without TCP_NODELAY a kept-alive
            # connection waits on the client's delayed ACK (40 ms) for the body.
            disable_nagle_algorithm = self.keep_alive

            def log_message(self, *args):     # quiet
                pass

            def do_GET(self):                 # noqa: N802 - http.server's name
                fake._handle(self)

        class Server(ThreadingHTTPServer):
            # A client opening dozens of connections at once must not overflow the
            # listen backlog (a dropped SYN costs it a 1 s retransmission).
            request_queue_size = 1024

            def handle_error(self, request, client_address):
                # A client that gave up on a slow answer (its timeout) is what the slow
                # modes are for, not an error worth a traceback.
                if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self._server = Server(("127.0.0.1", self._port), Handler)
        self._port = self._server.server_address[1]
        self._server.daemon_threads = True
        # shutdown() waits up to one poll interval (0.5 s by default) for the loop
        # to notice: a short one keeps each test's teardown short.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,),
                                        daemon=True, name="fake-pelias")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._gate.set()                     # let held requests go
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        """The same while stopped (a stopped fake refuses connections there)."""
        assert self._port, "start the fake first"
        return f"http://127.0.0.1:{self._port}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    # -- concurrency ----------------------------------------------------------------------

    def hold(self) -> None:
        """Keep every request (those arriving from now on) waiting until release()."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def wait_in_flight(self, n: int, timeout_s: float) -> bool:
        """Until at least n requests are being answered at once (True), or timeout_s."""
        with self._changed:
            return self._changed.wait_for(lambda: self.in_flight >= n, timeout_s)

    def reset_max_in_flight(self) -> None:
        with self._changed:
            self.max_in_flight = self.in_flight

    # -- behaviour ------------------------------------------------------------------------

    def nearest(self, lat: float, lon: float) -> dict:
        def dist(r):
            dlat = math.radians(r[0] - lat)
            dlon = math.radians(r[1] - lon) * math.cos(math.radians(lat))
            return dlat * dlat + dlon * dlon
        return min(self.recorded, key=dist)[2]

    def _delay_for(self, query: dict) -> float:
        try:
            lat, lon = float(query["point.lat"]), float(query["point.lon"])
        except (KeyError, ValueError):
            return 0.0
        for plat, plon, seconds in self.slow_points:
            if abs(plat - lat) < 0.01 and abs(plon - lon) < 0.01:
                return seconds
        return 0.0

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(h.path)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        with self._lock:
            self.requests.append({"path": parsed.path, **query})   # counted on arrival
            n = len(self.requests)
        with self._changed:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._changed.notify_all()
        try:
            self._gate.wait()
            return self._answer(h, parsed, query, n)
        finally:
            with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    def _answer(self, h: BaseHTTPRequestHandler, parsed, query: dict, n: int) -> None:
        with self._lock:
            mode, delay, fail_first = self.mode, self.delay_s, self.fail_first
        delay = max(delay, self._delay_for(query))
        if self.latency is not None:
            delay += self.latency(query)
        if delay:
            time.sleep(delay)
        if mode == "down":
            h.close_connection = True          # no status line: the connection just closes
            return None
        if parsed.path.startswith("/old/"):    # moved on this host
            return self._redirect(h, parsed.path[len("/old"):] + "?" + parsed.query)
        if mode == "redirect":
            return self._redirect(h, self.redirect_to + parsed.path + "?" + parsed.query)
        if parsed.path != "/v1/reverse" or "point.lat" not in query or "point.lon" not in query:
            return self._send(h, 400, json.dumps({"geocoding": {"errors": ["bad request"]}}))
        if n <= fail_first or mode == "error":
            return self._send(h, 500, json.dumps({"geocoding": {"errors": ["internal error"]}}))
        if mode == "notfound":
            return self._send(h, 404, "{}")
        if mode == "malformed":
            return self._send(h, 200, '{"type": "FeatureCollection", "features": [{"prop')
        if mode == "nested":
            return self._send(h, 200, "[" * 100_000 + "]" * 100_000)
        if mode == "huge":
            pad = "x" * self.huge_bytes
            return self._send(h, 200, f'{{"type": "FeatureCollection", "features": [], '
                                      f'"pad": "{pad}"}}')
        if mode == "huge_unsized":
            return self._endless(h)
        if mode == "empty":
            return self._send(h, 200, json.dumps({"type": "FeatureCollection", "features": []}))
        doc = self.override or self.nearest(float(query["point.lat"]), float(query["point.lon"]))
        size = int(query.get("size", 10))
        doc = dict(doc, features=doc["features"][:size])
        if mode == "trickle":
            return self._trickle_body(h, json.dumps(doc).encode("utf-8"))
        if mode == "trickle_headers":
            return self._trickle_headers(h)
        return self._send(h, 200, json.dumps(doc))

    def _redirect(self, h: BaseHTTPRequestHandler, location: str) -> None:
        try:
            h.send_response(302)
            h.send_header("Location", location)
            h.send_header("Content-Length", "0")
            h.end_headers()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _trickle_body(self, h: BaseHTTPRequestHandler, data: bytes) -> None:
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.flush()
            for i in range(len(data)):
                h.wfile.write(data[i:i + 1])
                h.wfile.flush()
                time.sleep(self.trickle_interval_s)
        except (BrokenPipeError, ConnectionResetError):
            self.cut.set()

    def _endless(self, h: BaseHTTPRequestHandler) -> None:
        """No length, and more than any socket buffer holds: only a client that
        stops reading and closes ends it."""
        chunk = b"x" * 65536
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.end_headers()
            h.wfile.write(b'{"type": "FeatureCollection", "features": [], "pad": "')
            for _ in range(16384):                      # 1 GiB at most
                h.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.cut.set()

    def _trickle_headers(self, h: BaseHTTPRequestHandler) -> None:
        try:
            h.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
            for _ in range(100_000):
                h.wfile.write(b"a")
                h.wfile.flush()
                time.sleep(self.trickle_interval_s)
        except (BrokenPipeError, ConnectionResetError):
            self.cut.set()

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: str, length: bool = True) -> None:
        data = body.encode("utf-8")
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            if length:
                h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.cut.set()             # the client gave up (timeout, too large)
