"""OGN device database import and the privacy it carries, through the real pipeline."""

from __future__ import annotations

import subprocess
import sys
import threading

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
