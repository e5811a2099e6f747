"""A fake Pelias: a real HTTP server (http.server in a thread, on 127.0.0.1) serving
the recorded /v1/reverse responses of shared/data/pelias/ (geocode.earth, 2025), and
able to misbehave: slow (longer than the client's timeout), HTTP 500, malformed JSON.

The response for a point is the recorded one nearest to it, cut to `size` features.
Every request is recorded (path and query) so tests can count calls.
"""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse


class FakePelias:
    def __init__(self, responses_dir: Path):
        self.recorded: list[tuple[float, float, dict]] = []
        for p in sorted(Path(responses_dir).glob("*.json")):
            doc = json.loads(p.read_text(encoding="utf-8"))
            q = doc["geocoding"]["query"]
            self.recorded.append((float(q["point.lat"]), float(q["point.lon"]), doc))
        if not self.recorded:
            raise RuntimeError(f"no recorded Pelias responses in {responses_dir}")
        self.mode = "ok"            # ok | error (500) | malformed | empty | notfound (404)
        self.delay_s = 0.0          # wait this long before answering (slow: > client timeout)
        self.fail_first = 0         # answer this many requests with HTTP 500 first
        self.override: dict | None = None   # serve this document instead of a recorded one
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakePelias:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):     # quiet
                pass

            def do_GET(self):                 # noqa: N802 - http.server's name
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fake-pelias")
        self._thread.start()
        return self

    def stop(self) -> None:
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
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    # -- behaviour ------------------------------------------------------------------------

    def nearest(self, lat: float, lon: float) -> dict:
        def dist(r):
            dlat = math.radians(r[0] - lat)
            dlon = math.radians(r[1] - lon) * math.cos(math.radians(lat))
            return dlat * dlat + dlon * dlon
        return min(self.recorded, key=dist)[2]

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(h.path)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        with self._lock:
            self.requests.append({"path": parsed.path, **query})
            n = len(self.requests)
            mode, delay, fail_first = self.mode, self.delay_s, self.fail_first
        if delay:
            time.sleep(delay)
        if parsed.path != "/v1/reverse" or "point.lat" not in query or "point.lon" not in query:
            return self._send(h, 400, json.dumps({"geocoding": {"errors": ["bad request"]}}))
        if n <= fail_first or mode == "error":
            return self._send(h, 500, json.dumps({"geocoding": {"errors": ["internal error"]}}))
        if mode == "notfound":
            return self._send(h, 404, "{}")
        if mode == "malformed":
            return self._send(h, 200, '{"type": "FeatureCollection", "features": [{"prop')
        if mode == "empty":
            return self._send(h, 200, json.dumps({"type": "FeatureCollection", "features": []}))
        doc = self.override or self.nearest(float(query["point.lat"]), float(query["point.lon"]))
        size = int(query.get("size", 10))
        doc = dict(doc, features=doc["features"][:size])
        return self._send(h, 200, json.dumps(doc))

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: str) -> None:
        data = body.encode("utf-8")
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass                       # the client gave up (timeout): fine
