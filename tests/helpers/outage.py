"""The outage scenarios' shared parts (tests/acceptance/test_outage_*.py, issue 22's
first two "done when" tests): a `soar run` with a raw archive, a disk buffer and
metrics against the simulator's feed ports, and the check that what it stored is what
an undisturbed replay of its archive stores (`soar replay --format archive`), with
nothing dropped. Each scenario is its own file (its own cluster), so that the two long
runs can go to different pytest-xdist workers.

The 120 s and 60 s are the scenarios (outage lengths), not waits for an event: every
wait for an event has a ceiling (CEILING_S).

Fixes and flights are compared row for row (the receiver by name: its id is a
sequence's; the fixes through per-aircraft digests of their rows computed in the
server, the differing rows shown when they differ): what is stored depends neither on
the router's wall-clock batch cuts (tests/integration/test_batch_cuts.py) nor on how
the feeds' chunks interleaved (the archive keeps the hand-off order,
tests/acceptance/test_archive_replay.py)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from helpers import rows
from helpers.net import free_port
from helpers.wait import wait_until
from soar.simulate import SimConfig

SOAR = [sys.executable, "-m", "soar"]
CEILING_S = 900          # generous: a shared machine; only a hang reaches it
RATE = 5000              # APRS lines/s
BEAST_AIRCRAFT = 30
DB_DOWN_S = 120
STOPPED_S = 60
# The feed ends once the run has received this many seconds of data (at RATE) after
# the outage: live data that must queue behind the backlog on disk, no more (the
# catch-up, the replay and the comparison grow with every second of feed). The
# outage starts once the first fixes are written.
AFTER_S = 10
# The writer's longest pause between attempts while the database is down (the default
# 30 s would leave the database unused for up to that long after the outage).
RETRY_MAX_S = 2
# Seconds of data the simulator has, a bound only: the feed is stopped after AFTER_S.
DURATION_S = {"db": DB_DOWN_S + 300, "cpu": STOPPED_S + 300}
BANNER = re.compile(r"serving APRS-IS on 127\.0\.0\.1:(\d+), Beast on 127\.0\.0\.1:(\d+)")


def env(cluster, db: str) -> dict:
    """The environment of a `soar` command on database `db`, no SOAR_ setting inherited."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    out.update(SOAR_DATABASE_URL=cluster.url(db), SOAR_ALLOW_OWNER="1",
               SOAR_INGEST_DATABASE_URL=cluster.url(db, user="soar_ingest"))
    return out


def read_lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def wait_for(condition, what: str, proc: subprocess.Popen) -> None:
    def ready():
        assert proc.poll() is None, f"soar run exited while waiting for {what}"
        return condition()
    wait_until(ready, CEILING_S, what=what, poll_s=0.5)


def position() -> tuple[float, float]:
    s, w, n, e = SimConfig(start=datetime.now(timezone.utc)).region
    return (s + n) / 2, (w + e) / 2


class Run:
    """`soar run --archive` with a disk buffer and metrics, against the feed ports."""

    def __init__(self, cluster, db: str, tmp: Path, aprs_port: int, beast_port: int):
        self.metrics_port = free_port()
        self.archive = tmp / "archive"
        lat, lon = position()
        self.proc = subprocess.Popen(
            [*SOAR, "run", "--ogn", f"127.0.0.1:{aprs_port}", "--ogn-filter", "r/49/8/2000",
             "--beast", f"127.0.0.1:{beast_port}", "--beast-position", f"{lat},{lon}",
             "--stats-interval", "5", "--metrics-port", str(self.metrics_port),
             "--archive", str(self.archive), "--overflow-dir", str(tmp / "overflow"),
             "--spool-dir", str(tmp / "spool"), "--retry-max", str(RETRY_MAX_S)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(cluster, db))
        self.log: queue.Queue = queue.Queue()
        threading.Thread(target=read_lines, args=(self.proc.stderr, self.log), daemon=True).start()

    def metric(self, name: str) -> float:
        try:
            return metrics(self.metrics_port).get(name, 0.0)
        except OSError:
            return 0.0          # not serving yet

    def received(self) -> float:
        """Lines and frames received (archived), whatever became of them."""
        return self.metric("soar_archive_lines")

    def fed_past(self, lines: float, feed_ended) -> None:
        """Wait until the run has received `lines` (or the feed ended first)."""
        wait_for(lambda: self.received() >= lines or feed_ended(),
                 f"{lines:.0f} lines received", self.proc)

    def writing(self) -> None:
        wait_for(lambda: self.metric("soar_ingest_fixes_written_total") > 0,
                 "the first fixes written", self.proc)

    def caught_up(self, aprs_lines: int, beast_frames: int) -> None:
        """Every line and frame the server sent was routed and nothing waits on disk."""
        def done() -> bool:
            m = metrics(self.metrics_port)
            return (m.get('soar_ingest_messages_total{source="aprs"}', 0) >= aprs_lines
                    and m.get('soar_ingest_messages_total{source="modes"}', 0) >= beast_frames
                    and m.get("soar_ingest_overflow_messages", 1) == 0)
        wait_for(done, "every message sent to be routed", self.proc)

    def stop(self) -> tuple[dict, str]:
        self.proc.send_signal(signal.SIGTERM)
        out = self.proc.stdout.read()
        self.proc.wait(timeout=CEILING_S)
        err = "".join(x for x in iter(self.log.get, None))
        assert self.proc.returncode == 0, err[-3000:]
        return json.loads(out.strip().splitlines()[-1]), err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


def replay(cluster, db: str, archive: Path) -> dict:
    lat, lon = position()
    out = subprocess.run([*SOAR, "replay", "--format", "archive", str(archive),
                          "--receiver-position", f"{lat},{lon}"],
                         capture_output=True, text=True, env=env(cluster, db), timeout=CEILING_S)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def stored_rows(cluster, db: str) -> tuple[dict, dict, list]:
    """Fixes' digests per aircraft (helpers.rows.fix_digests), fixes by source, flights."""
    with psycopg.connect(cluster.conninfo(db)) as c:
        digests = rows.fix_digests(c)
        by_source = dict(c.execute("SELECT source, count(*) FROM fixes GROUP BY 1").fetchall())
        return digests, by_source, rows.stored_flights(c)


def same_fixes(cluster, live_db: str, replay_db: str, digests: dict, r_digests: dict) -> None:
    """The fixes are equal row for row: equal digests, or the differing rows shown."""
    if digests != r_digests:
        differ = sorted(a for a in digests.keys() | r_digests.keys()
                        if digests.get(a) != r_digests.get(a))
        with psycopg.connect(cluster.conninfo(live_db)) as c:
            live = rows.fixes_of(c, differ)
        with psycopg.connect(cluster.conninfo(replay_db)) as c:
            replayed = rows.fixes_of(c, differ)
        assert live == replayed, f"the fixes of {len(differ)} aircraft differ"
        raise AssertionError(f"the fixes of {len(differ)} aircraft differ in their digests only")


def same_as_replay(cluster, live_db: str, replay_db: str, summary: dict, err: str) -> None:
    """The run dropped nothing and stored what a replay of its raw archive stores, row
    for row."""
    assert "Traceback" not in err
    acc = summary["accounting"]
    overflow = summary["overflow"]
    # The outage sent live data to disk, all of it came back, nothing was dropped.
    assert summary["dropped_queue_full"] == 0 and acc["dropped"] == {}, acc
    assert overflow["in"] > 0 and overflow["out"] == overflow["in"]
    assert overflow["refused"] == overflow["messages"] == overflow["damaged"] == 0
    assert acc["balanced"] and acc["buffered"] == acc["in_flight"] == 0, acc
    kept = summary["archive"]
    assert kept["lines"] == acc["messages_in"] and kept["dropped"] == kept["errors"] == 0

    replayed = replay(cluster, replay_db, Path(summary["_archive"]))
    assert replayed["accounting"]["messages_in"] == acc["messages_in"]
    assert replayed["rejected"] == summary["rejected"]
    # Each digest is a server backend's work: the two databases' at once.
    with ThreadPoolExecutor(2) as pool:
        live, again = (pool.submit(stored_rows, cluster, db) for db in (live_db, replay_db))
        (digests, by_source, flights), (r_digests, _, r_flights) = live.result(), again.result()
    count = sum(n for n, _ in digests.values())
    assert count == summary["fixes_written"] == replayed["fixes_written"]
    assert sum(n for n, _ in r_digests.values()) == count
    assert by_source.get(1, 0) >= 10_000 and by_source.get(2, 0) >= 100, by_source  # OGN, ADS-B
    same_fixes(cluster, live_db, replay_db, digests, r_digests)
    assert len(flights) >= 10
    assert flights == r_flights
