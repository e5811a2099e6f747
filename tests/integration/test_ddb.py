"""OGN device database import and the privacy it carries, through the real pipeline."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading

import pytest

from helpers.paths import FIXTURES
from helpers.pipeline import run
from soar import ingest
from soar.errors import SoarError
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
    run(pipeline, recordings.replay(samples.path("oneminute.txt"), "aprs"))
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
    run(pipeline, recordings.replay(samples.path("oneminute.txt"), "aprs"))
    assert pipeline.failed is None
    for address in (0xDDABFF, 0xDDDAEB):
        assert conn.execute("SELECT count(*) FROM fixes WHERE aircraft_id = %s",
                            (aircraft_id(2, address),)).fetchone()[0] > 0
    with database.connect("readonly") as ro:
        assert ro.execute("SELECT registration FROM aircraft_public WHERE address = %s",
                          (0xDDDAEB,)).fetchone() == ("D-0002",)


DEVICES = (b"#DEVICE_TYPE,DEVICE_ID,AIRCRAFT_MODEL,REGISTRATION,CN,TRACKED,IDENTIFIED\r\n"
           b"'F','DDABFF','Discus 2b','D-0001','X1','Y','Y'\r\n")


@pytest.fixture
def hostile_server():
    """A loopback server that misbehaves as asked: `mode` is oversize (declared or not),
    drip (a byte at a time, never finishing in time) or redirect (to `location`)."""
    state = {"mode": "ok", "location": ""}
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            mode = state["mode"]
            if mode == "redirect":
                self.send_response(302)
                self.send_header("Location", state["location"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            if mode == "oversize-declared":
                self.send_header("Content-Length", str(1 << 30))
                self.end_headers()
                return
            if mode == "oversize":               # no length: refused by what arrives
                self.send_header("Connection", "close")
                self.end_headers()
                block = b"'F','DDABFF','x','y','z','Y','Y'\r\n" * 1000
                try:
                    while not done.is_set():
                        self.wfile.write(block)
                except OSError:
                    pass
                return
            if mode == "drip":
                self.send_header("Content-Length", str(len(DEVICES)))
                self.end_headers()
                try:
                    for byte in DEVICES:
                        if done.wait(0.05):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                except OSError:
                    pass
                return
            self.send_header("Content-Length", str(len(DEVICES)))
            self.end_headers()
            self.wfile.write(DEVICES)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/download/"
    done.set()
    server.shutdown()
    server.server_close()


def _refused(url, limits) -> str:
    with pytest.raises(SoarError) as err:
        ddb.download(url, limits)
    text = str(err.value)
    assert "\n" not in text and "--source" in text
    return text


def test_an_oversize_download_is_refused_declared_or_not(hostile_server):
    state, url = hostile_server
    limits = ddb.DownloadLimits(max_bytes=100_000)
    state["mode"] = "oversize-declared"
    assert "more than 100000 bytes" in _refused(url, limits)
    state["mode"] = "oversize"
    assert "more than 100000 bytes" in _refused(url, limits)
    state["mode"] = "ok"
    assert ddb.download(url, limits) == DEVICES          # the same server, a good answer


def test_a_slow_drip_is_refused_at_the_total_deadline(hostile_server):
    state, url = hostile_server
    state["mode"] = "drip"                                # each byte well within the read timeout
    text = _refused(url, ddb.DownloadLimits(deadline_s=0.5, read_timeout_s=30))
    assert "took longer than 0.5 s" in text
    assert "check the network" in text


def test_a_redirect_to_plain_http_elsewhere_is_refused(hostile_server):
    state, url = hostile_server
    state["mode"], state["location"] = "redirect", "http://10.255.255.1/download/"
    assert "https://" in _refused(url, ddb.DownloadLimits())


def test_the_device_databases_registration_wins_over_an_aprs_reg_token(database, conn,
                                                                         tmp_path):
    """Anyone can transmit `regD-EVIL`: DDABFF's registration stays the DDB's, while an
    aircraft the DDB does not name keeps the one it sends."""
    sample = tmp_path / "ddb.csv"
    sample.write_bytes(DEVICES)
    assert ddb.import_ddb(conn, str(sample)).devices == 1
    conn.commit()
    recording = tmp_path / "reg.txt"
    recording.write_text(
        "2016-03-01T12:00:01Z FLRDDABFF>OGFLR,qAS,EDFS:/120000h4813.00N/01130.00E'090/050/"
        "A=002000 id06DDABFF +100fpm regD-EVIL\n"
        "2016-03-01T12:00:02Z FLRDD0001>OGFLR,qAS,EDFS:/120001h4813.10N/01130.10E'090/050/"
        "A=002000 id06DD0001 +100fpm regD-KXYZ\n")
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats)
    run(pipeline, recordings.replay(recording, "aprs"))
    assert pipeline.failed is None
    regs = dict(conn.execute("SELECT address, registration FROM aircraft").fetchall())
    assert regs == {0xDDABFF: "D-0001", 0xDD0001: "D-KXYZ"}
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == 2   # both stored
