"""`soar run` against live-feed servers on loopback: APRS-IS and Beast TCP, then
SIGTERM: everything received is flushed to the database before the process exits.
No wall-clock thresholds: waits on conditions with a generous ceiling."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from datetime import datetime, timezone

from helpers.net import free_port
from helpers.paths import TEST_DATA
from helpers.wait import wait_until
from soar.feeds.beast import BeastDecoder
from soar.reference import samples

CEILING_S = 300          # generous: only a hang reaches it
ULSS7 = TEST_DATA / "beast" / "ulss7-2018-04-03.beast"
BEAST_FRAMES = len(BeastDecoder().feed(ULSS7.read_bytes())) if ULSS7.exists() else 0


class FeedServer(threading.Thread):
    """Accepts one client, optionally reads its login line, sends `payload`, then
    keeps the connection open until stopped (a live feed does not end)."""

    def __init__(self, payload: bytes, expect_login: bool):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.payload, self.expect_login = payload, expect_login
        self.login = b""
        self.sent = threading.Event()      # the client took every byte
        self.stop = threading.Event()

    def run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            if self.expect_login:
                while not self.login.endswith(b"\n"):
                    self.login += conn.recv(1024)
            conn.sendall(self.payload)
            self.sent.set()
            self.stop.wait(CEILING_S)


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def _aprs_now(lines: list[str]) -> bytes:
    """Real beacons with their hhmmss moved to now, so they are live traffic."""
    now = datetime.now(timezone.utc).strftime("%H%M%S")
    out = ["# aprsc 2.1.5-g8af3cdc 1 Jan 2026 00:00:00 GMT GLIDERN2 1.2.3.4:14580"]
    for line in lines:
        raw = line.split(": ", 1)[1]
        out.append(re.sub(r":/\d{6}h", f":/{now}h", raw, count=1))
    return ("\r\n".join(out) + "\r\n").encode()


def test_run_ingests_live_feeds_and_flushes_on_sigterm(database, conn, data_dir):
    lines = samples.path("oneminute.txt").read_text().splitlines()[2:3002]
    aprs = FeedServer(_aprs_now(lines), expect_login=True)
    beast = FeedServer(ULSS7.read_bytes(), expect_login=False)
    aprs.start()
    beast.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env["SOAR_DATABASE_URL"] = database.url()
    env["SOAR_INGEST_DATABASE_URL"] = database.url("ingest")
    metrics_port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "soar", "run", "--ogn", f"127.0.0.1:{aprs.port}",
         "--ogn-filter", "r/48/11/500", "--beast", f"127.0.0.1:{beast.port}",
         "--stats-interval", "1", "--metrics-port", str(metrics_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # stderr is read as it comes, so the test can wait for the periodic stats line.
    err_lines: list[str] = []
    stats_logged = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            err_lines.append(line)
            if "stats: msgs/s=" in line:
                stats_logged.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        # Every byte sent was read, and every message counted by the pipeline.
        assert aprs.sent.wait(CEILING_S) and beast.sent.wait(CEILING_S)
        metrics = ""

        def routed() -> bool:
            nonlocal metrics
            assert proc.poll() is None
            metrics = _metrics(metrics_port)
            return (_metric(metrics, 'soar_ingest_messages_total{source="aprs"}') == 3001 and
                    _metric(metrics, 'soar_ingest_messages_total{source="modes"}') == BEAST_FRAMES)
        wait_until(routed, CEILING_S, what="every APRS line and Beast frame routed", poll_s=0.1)
        assert stats_logged.wait(CEILING_S)     # the periodic stats line, every second
        proc.send_signal(signal.SIGTERM)
        out = proc.stdout.read()
        proc.wait(timeout=CEILING_S)
        reader.join(CEILING_S)
        err = "".join(err_lines)
    finally:
        aprs.stop.set()
        beast.stop.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert aprs.login.startswith(b"user N0CALL pass -1 vers soar ")
    assert aprs.login.rstrip().endswith(b"filter r/48/11/500")
    assert "stats: msgs/s=" in err             # the periodic stats line
    for name in ('soar_ingest_messages_total{source="aprs"}', "soar_router_queue_depth",
                 "soar_flight_tracker_create_flight_latency_ms_bucket",
                 "soar_flight_tracker_active_aircraft", "soar_ingest_fixes_written_total"):
        assert name in metrics, name
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["messages"] == {"aprs": 3001, "modes": BEAST_FRAMES}
    assert summary["dropped_queue_full"] == 0 and summary["dropped_by_source"] == {}
    assert "dropped=0" in err                  # the stats line shows drops
    stored = conn.execute("SELECT count(*) FILTER (WHERE source = 1), count(*) FILTER "
                          "(WHERE source = 2), count(DISTINCT aircraft_id) FILTER "
                          "(WHERE source = 2) FROM fixes").fetchone()
    # Everything accepted before SIGTERM is in the database: nothing lost at shutdown.
    assert stored[0] + stored[1] == summary["fixes_written"] == summary["fixes_accepted"]
    # The Beast capture arrives within a second, stamped with the time it is received:
    # one fix per aircraft and second is kept, for each of its aircraft with a position.
    assert stored[0] > 1500 and stored[2] >= 8
