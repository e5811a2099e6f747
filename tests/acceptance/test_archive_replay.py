"""The raw archive keeps what a live run received: `soar run --archive` reads the
simulator served on loopback (APRS-IS and Beast) until SIGTERM; the archive holds
every message the ingest counted in, and `soar replay --format archive` of it into a
fresh database gives the same fixes and the same flights, row for row, those of
aircraft heard on OGN and ADS-B at once included: the archive's order record keeps
the order the router took the feeds' chunks in, and the replay follows it."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timezone

import pytest

from helpers import rows
from helpers.database import TestDatabase
from helpers.refdata import janitor
from soar.ingest.archive import replay_chunks
from soar.records import aircraft_id
from soar.simulate import SimConfig, serve
from soar.simulate.engine import Simulation

SOAR = [sys.executable, "-m", "soar"]
CEILING_S = 240
STATS = re.compile(r"stats: .*msgs: aprs=(\d+) modes=(\d+)")


@pytest.fixture
def replay_database(pg_cluster, db_template) -> TestDatabase:
    name = f"soar_test_{uuid.uuid4().hex[:10]}"
    with janitor(pg_cluster, name, template_dbname=db_template):
        yield TestDatabase(pg_cluster, name)


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def _live_run(database, archive, cfg: SimConfig, position) -> tuple[dict, str]:
    """`soar run --archive` against the served simulation until it has taken enough of
    both feeds (its stats lines say so), then SIGTERM; its summary and its log."""
    ready, stop = threading.Event(), threading.Event()
    info: dict = {}
    server = threading.Thread(target=serve, args=(cfg, 0, 0, 1.0, None, stop,
                                                  lambda i: (info.update(i), ready.set())),
                              daemon=True)
    server.start()
    assert ready.wait(60)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=database.url(), SOAR_INGEST_DATABASE_URL=database.url("ingest"),
               SOAR_ALLOW_OWNER="1")
    proc = subprocess.Popen(
        [*SOAR, "run", "--ogn", f"127.0.0.1:{info['aprs_port']}", "--ogn-filter", "r/49/8/2000",
         "--beast", f"127.0.0.1:{info['beast_port']}",
         "--beast-position", f"{position[0]},{position[1]}", "--stats-interval", "1",
         "--archive", str(archive)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    log: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_lines, args=(proc.stderr, log), daemon=True)
    reader.start()
    seen = []
    try:
        while (line := log.get(timeout=CEILING_S)) is not None:
            seen.append(line)
            m = STATS.search(line)
            if m and int(m[1]) >= 2000 and int(m[2]) >= 1000:
                break
        proc.send_signal(signal.SIGTERM)
        out = proc.stdout.read()
        proc.wait(timeout=CEILING_S)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.join(timeout=60)
    reader.join(timeout=60)
    seen += [x for x in iter(log.get_nowait, None)]
    err = "".join(seen)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1]), err


def _replay(database, archive, position) -> dict:
    """`soar replay --format archive` of the archive's root folder: its summary."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=database.url(), SOAR_INGEST_DATABASE_URL=database.url("ingest"),
               SOAR_ALLOW_OWNER="1")
    out = subprocess.run([*SOAR, "replay", "--format", "archive", str(archive),
                          "--receiver-position", f"{position[0]},{position[1]}"],
                         capture_output=True, text=True, env=env, timeout=CEILING_S)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rows(database) -> tuple[dict, list]:
    """Fixes by (aircraft, second) and flights, as helpers.rows.stored gives them."""
    with database.connect() as c:
        fixes, flights = rows.stored(c)
    return {(r["aircraft_id"], int(datetime.fromisoformat(r["time"]).timestamp())): r
            for r in fixes}, flights


def _both_feeds(cfg: SimConfig) -> set[int]:
    """The aircraft ids the simulation sends on OGN and ADS-B both: the ones whose
    fixes and flights depend on the order the router met the two feeds' chunks in."""
    return {aircraft_id(a.address_type, a.address)
            for a in Simulation(cfg).aircraft if a.ogn is not None and a.adsb is not None}


def test_replaying_the_raw_archive_gives_the_live_runs_fixes_and_flights(
        database, replay_database, tmp_path):
    cfg = SimConfig(start=datetime.now(timezone.utc), duration_s=600, aircraft=150,
                    beast_aircraft=30, seed=11, airborne_fraction=0.5, aircraft_per_field=30,
                    share_adsb_ga=0.8)   # most ADS-B aircraft on OGN too: the order matters
    s, w, n, e = cfg.region
    position = ((s + n) / 2, (w + e) / 2)
    archive = tmp_path / "archive"
    summary, err = _live_run(database, archive, cfg, position)
    assert "Traceback" not in err
    assert summary["dropped_queue_full"] == 0
    kept = summary["archive"]
    acc = summary["accounting"]
    # Everything the ingest counted in is in the archive, and nothing else.
    assert kept["lines"] == acc["messages_in"] and kept["dropped"] == kept["errors"] == 0
    assert kept["bytes"] == sum(p.stat().st_size for p in archive.rglob("*.zst"))
    # The order record holds an order of the two feeds' messages that a receive-time
    # merge (what a replay did before it) would not give.
    followed = [(m.kind, m.received_at, str(m.payload))
                for chunk in replay_chunks(archive) for m in chunk]
    assert len(followed) == kept["lines"]
    assert followed != sorted(followed, key=lambda k: k[1])

    live_fixes, live_flights = _rows(database)
    assert len(live_fixes) == summary["fixes_written"] >= 1000
    with database.connect() as c:
        by_source = dict(c.execute("SELECT source, count(*) FROM fixes GROUP BY 1").fetchall())
    assert by_source.get(1, 0) >= 1000 and by_source.get(2, 0) >= 100, by_source  # OGN, ADS-B
    replayed = _replay(replay_database, archive, position)
    assert replayed["accounting"]["messages_in"] == kept["lines"]
    assert replayed["rejected"] == summary["rejected"]
    replay_fixes, replay_flights = _rows(replay_database)
    # The order matters only if some aircraft was heard on both feeds in the live run.
    both = _both_feeds(cfg)
    heard_on_both = {a for a in both
                     if {f["source"] for (a2, _), f in live_fixes.items() if a2 == a} == {1, 2}}
    assert heard_on_both, "no aircraft heard on OGN and ADS-B both: the order is not tested"
    assert len(live_flights) >= 10
    assert any(f["aircraft_id"] in heard_on_both for f in live_flights)
    assert replay_flights == live_flights
    assert replay_fixes == live_fixes
