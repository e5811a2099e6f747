"""A webhook receiver for the overdue-alert tests: a real HTTP server (http.server in a
thread, on 127.0.0.1) that records every POST (path, headers, JSON body) and can
misbehave: answer the first `fail_first` requests (or all, with `fail_always`) with
`fail_status`, or answer only after `delay_s` (longer than the client's deadline: a
slow receiver). `wait_for(n)` waits until n requests have arrived."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeWebhook:
    def __init__(self, path: str = "/hook/s3cr3t-token"):
        self.path = path
        self.fail_first = 0            # answer this many requests with fail_status first
        self.fail_always = False
        self.fail_status = 500
        self.delay_s = 0.0             # wait this long before answering
        self.requests: list[dict] = []     # every request: path, headers, body, status
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> FakeWebhook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):     # quiet
                pass

            def do_POST(self):                # noqa: N802 - http.server's name
                hook._handle(self)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass                          # a client that gave up on a slow answer

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one (0.5 s by default).
        threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True,
                         name="fake-webhook").start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}?key=hunter2"

    @property
    def count(self) -> int:
        with self._changed:
            return len(self.requests)

    def bodies(self, status: int | None = 200) -> list[dict]:
        """The JSON bodies received (answered with `status`; None: all)."""
        with self._changed:
            return [r["body"] for r in self.requests if status is None or r["status"] == status]

    def wait_for(self, n: int, timeout_s: float = 120.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.requests) >= n, timeout_s)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        with self._changed:
            n = len(self.requests)
            failing = self.fail_always or n < self.fail_first
            status = self.fail_status if failing else 200
            delay = self.delay_s
        if delay:
            time.sleep(delay)
        with self._changed:
            self.requests.append({"path": h.path, "headers": dict(h.headers), "body": body,
                                  "status": status})
            self._changed.notify_all()
        data = b'{"ok": true}' if status == 200 else b'{"error": "test"}'
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass                              # the client's deadline passed first
