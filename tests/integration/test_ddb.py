"""OGN device database import and the privacy it carries, through the real pipeline."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading

import pytest

from helpers.paths import FIXTURES
from soar import ingest
from soar.feeds import recordings
from soar.ingest.stats import IngestStats
from soar.products.flights import fetch
from soar.records import aircraft_id
from soar.reference import ddb, samples

SAMPLE = FIXTURES / "ddb-sample.csv"


def test_not_tracked_is_not_stored_and_not_identified_is_not_shown(database, conn):
    env = {"SOAR_DATABASE_URL": database.url(), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "soar", "import", "ddb", "--source", str(SAMPLE)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "6 devices (1 not tracked, 1 not identified, 2 skipped)" in out.stdout
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats)
    pipeline.start()
    ingest.feed(pipeline, recordings.replay(samples.path("oneminute.txt"), "aprs"), threading.Event())
    pipeline.close()
    assert stats.rejected[("aprs", "no_tracking")] >= 1
    untracked, shown = aircraft_id(2, 0xDDABFF), aircraft_id(2, 0xDDDAEB)
    assert conn.execute("SELECT count(*) FROM fixes WHERE aircraft_id = %s",
                        (untracked,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM fixes WHERE aircraft_id = %s",
                        (shown,)).fetchone()[0] > 0
    # Re-import is an update in place; the registration stays, hidden where asked.
    assert ddb.import_ddb(conn, str(SAMPLE)).devices == 6
    assert conn.execute("SELECT registration FROM aircraft WHERE id = %s",
                        (shown,)).fetchone()[0] == "D-0002"
    with database.connect("readonly") as ro:
        hidden = ro.execute("SELECT registration FROM aircraft_flight_totals WHERE address = 'DDDAEB'"
                            ).fetchall()
    assert hidden == [(None,)]                      # it flew, its registration is not shown
    [flight] = [f for f in fetch(database.url("readonly"), address=0xDDDAEB)]
    assert flight["registration"] is None


def test_bad_source_is_a_one_line_error(database, tmp_path):
    bad = tmp_path / "not-ddb.csv"
    bad.write_text("hello,world\n")
    env = {"SOAR_DATABASE_URL": database.url(), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "soar", "import", "ddb", "--source", str(bad)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "no DDB device lines" in out.stderr


@pytest.fixture
def ddb_server():
    """OGN's /download served over HTTP on loopback, CRLF lines as the real server sends."""
    body: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = body.get(self.path)
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Type", 'text/plain; charset="UTF-8"')
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    yield body, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_empty_tracked_and_identified_mean_yes_end_to_end(database, conn, ddb_server):
    """DDABFF with an empty TRACKED, DDDAEB with an empty IDENTIFIED: both OGN's default,
    so DDABFF's fixes are stored and DDDAEB's registration is shown (before, an empty
    flag read as N: positions dropped, registration hidden)."""
    body, base = ddb_server
    body["/download/"] = (
        b"#DEVICE_TYPE,DEVICE_ID,AIRCRAFT_MODEL,REGISTRATION,CN,TRACKED,IDENTIFIED,IDTYPE,"
        b"DEVACTIVE,ACFTACTIVE\r\n"
        b"'F','DDABFF','Discus 2b','D-0001','X1','','Y','Internal','Y','Y','1'\r\n"
        b"'F','DDDAEB','ASK 21','D-0002','X2','Y','','Internal','Y','Y','2'\r\n")
    result = ddb.import_ddb(conn, f"{base}/download/")
    assert (result.devices, result.untracked, result.unidentified, result.skipped) == (2, 0, 0, 0)
    conn.commit()
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats)
    pipeline.start()
    ingest.feed(pipeline, recordings.replay(samples.path("oneminute.txt"), "aprs"), threading.Event())
    pipeline.close()
    assert pipeline.failed is None
    for address in (0xDDABFF, 0xDDDAEB):
        assert conn.execute("SELECT count(*) FROM fixes WHERE aircraft_id = %s",
                            (aircraft_id(2, address),)).fetchone()[0] > 0
    with database.connect("readonly") as ro:
        assert ro.execute("SELECT registration FROM aircraft_public WHERE address = %s",
                          (0xDDDAEB,)).fetchone() == ("D-0002",)
