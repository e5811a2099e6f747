"""SBS/BaseStation as a user runs it: `soar run --sbs` against two SBS TCP servers on
loopback (the real dump1090 stream, its times moved to now), then SIGTERM; `soar
replay --format sbs`; and a bad `--sbs-timezone` refused in one line. No wall-clock
thresholds: waits on conditions with a generous ceiling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from datetime import datetime, timedelta, timezone

from test_run_live import CEILING_S, FeedServer

from helpers.net import free_port
from helpers.paths import TEST_DATA
from helpers.wait import wait_until

REFERENCE = TEST_DATA / "beast" / "ulss7-2018-04-03.reference-sbs.txt"
LINES = [line for line in REFERENCE.read_text().splitlines() if line]     # 8,624
# What the reference stream gives (tests/integration/test_sbs_ingest.py derives them
# from the file): fixes after one per aircraft and second, position lines, state-only.
STORED, POSITIONS, STATE_ONLY, NO_POSITION, PARSE_ERRORS = 449, 1456, 7124, 42, 2


def _env(database) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=database.url(), SOAR_INGEST_DATABASE_URL=database.url("ingest"))
    return env


FMT = "%Y/%m/%d %H:%M:%S.%f"


def _shift_to_now() -> timedelta:
    """What moves the reference lines' times so the last is now: live traffic, neither
    stale nor in the future. Whole seconds: each aircraft's fixes fall in the same
    seconds as in the recording, so one per aircraft and second keeps as many (at most
    0.5 s in the future: within the 10 s a clock may be ahead). Computed once for
    every copy of the stream: copies a second apart would not be duplicates."""
    last = max(datetime.strptime(f"{f[6]} {f[7]}", FMT)
               for f in (line.split(",") for line in LINES) if len(f) == 22)
    return timedelta(seconds=round(
        (datetime.now(timezone.utc).replace(tzinfo=None) - last).total_seconds()))


def _now_lines(shift: timedelta, utc_offset: timedelta = timedelta(0)) -> bytes:
    """The reference lines with their generated (and logged) times moved by `shift`,
    written as the local time of a zone `utc_offset` ahead of UTC. Comment lines
    unchanged."""
    out = []
    for line in LINES:
        f = line.split(",")
        if len(f) == 22:
            for d, t in ((6, 7), (8, 9)):
                moved = datetime.strptime(f"{f[d]} {f[t]}", FMT) + shift + utc_offset
                f[d], f[t] = moved.strftime("%Y/%m/%d"), moved.strftime("%H:%M:%S.%f")[:12]
        out.append(",".join(f))
    return ("\r\n".join(out) + "\r\n").encode()


def _metric(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return None


def test_run_reads_two_sbs_feeds_each_a_receiver_and_flushes_on_sigterm(database, conn):
    """One feed sends Moscow time (UTC+3 all year) and says so (`@Europe/Moscow`), the
    other UTC: the same positions, so the counts are one stream's. Were the zone not
    applied, the Moscow copies would be 3 h in the future (rejected `future`)."""
    shift = _shift_to_now()
    feeds = [FeedServer(_now_lines(shift, timedelta(hours=3)), expect_login=False),
             FeedServer(_now_lines(shift), expect_login=False)]
    for f in feeds:
        f.start()
    metrics_port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "soar", "run", "--sbs",
         f"north=127.0.0.1:{feeds[0].port}@Europe/Moscow",
         "--sbs", f"127.0.0.1:{feeds[1].port}", "--stats-interval", "1",
         "--metrics-port", str(metrics_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(database))
    err_lines: list[str] = []
    stats_logged = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            err_lines.append(line)
            if "stats: msgs/s=" in line and "sbs=" in line:
                stats_logged.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert all(f.sent.wait(CEILING_S) for f in feeds)
        def routed() -> bool:
            assert proc.poll() is None
            return _metric(metrics_port, 'soar_ingest_messages_total{source="sbs"}') \
                == 2 * len(LINES)
        wait_until(routed, CEILING_S, what="every SBS line routed", poll_s=0.1)
        assert stats_logged.wait(CEILING_S)     # the stats line counts SBS apart
        proc.send_signal(signal.SIGTERM)
        out = proc.stdout.read()
        proc.wait(timeout=CEILING_S)
        reader.join(CEILING_S)
        err = "".join(err_lines)
    finally:
        for f in feeds:
            f.stop.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["messages"] == {"sbs": 2 * len(LINES)}
    a = summary["accounting"]
    assert a["balanced"] and a["in_flight"] == 0 and a["dropped"] == {}
    # Exactly what the stream holds, whichever feed's copy arrived first: one fix per
    # aircraft and second, the other copies duplicates.
    assert a["fixes_stored"] == STORED
    assert a["state_only"] == 2 * STATE_ONLY
    assert a["rejected"] == {"no_position": 2 * NO_POSITION, "parse_error": 2 * PARSE_ERRORS,
                             "duplicate": 2 * POSITIONS - STORED}
    assert conn.execute("SELECT count(*), min(source), max(source) FROM fixes").fetchone() == (
        STORED, 3, 3)
    # Each feed is a receiver of its own name.
    names = {n for (n,) in conn.execute(
        "SELECT DISTINCT r.name FROM fixes f JOIN receivers r ON r.id = f.receiver_id")}
    assert names <= {"north", f"sbs:127.0.0.1:{feeds[1].port}"} and names
    assert conn.execute("SELECT count(DISTINCT aircraft_id) FROM fixes").fetchone()[0] == 11


def test_replay_format_sbs_accounts_for_every_line(database, conn):
    out = subprocess.run([sys.executable, "-m", "soar", "replay", str(REFERENCE), "--format",
                          "sbs", "--receiver", "ulss7", "--text"],
                         capture_output=True, text=True, env=_env(database), timeout=600)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith(f"{REFERENCE}: 8624 messages in ") and line.endswith("; balanced")
    assert f"{STORED} fixes stored" in line and f"{STATE_ONLY} state-only" in line
    assert conn.execute("SELECT count(*) FROM fixes WHERE source = 3").fetchone()[0] == STORED


def test_replay_in_a_time_zone_moves_the_times(database, conn):
    """The same recording read as Moscow time (UTC+3 in 2018): every fix 3 h earlier."""
    out = subprocess.run([sys.executable, "-m", "soar", "replay", str(REFERENCE), "--format",
                          "sbs", "--sbs-timezone", "Europe/Moscow"],
                         capture_output=True, text=True, env=_env(database), timeout=600)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["accounting"]["fixes_stored"] == STORED
    assert conn.execute("SELECT min(time) FROM fixes").fetchone()[0] == datetime(
        2018, 4, 3, 16, 2, 28, 951000, tzinfo=timezone.utc)


def test_bad_sbs_options_are_one_line_errors(database):
    for args, words in (
            (["replay", str(REFERENCE), "--format", "sbs", "--sbs-timezone", "Mars/Olympus"],
             "--sbs-timezone 'Mars/Olympus': not a time zone; give an IANA name"),
            (["replay", str(REFERENCE), "--format", "aprs", "--sbs-timezone", "Europe/Berlin"],
             "--sbs-timezone applies to --format sbs only"),
            (["run", "--sbs", "127.0.0.1"], "--sbs '127.0.0.1': give HOST:PORT"),
            (["run", "--sbs", "a=127.0.0.1:1", "--sbs", "a=127.0.0.1:2"], "given twice")):
        out = subprocess.run([sys.executable, "-m", "soar", *args], capture_output=True,
                             text=True, env=_env(database), timeout=600)
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
        assert words in out.stderr, out.stderr
