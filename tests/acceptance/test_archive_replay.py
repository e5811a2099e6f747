"""The raw archive keeps what a live run received: `soar run --archive` reads the
simulator served on loopback (APRS-IS and Beast) until SIGTERM; the archive holds
every message the ingest counted in, and `soar replay --format archive` of it into a
fresh database gives the same flights row for row (of aircraft heard on one feed: see
FEEDS below) and the same fixes (row for row where the router kept the same copy of an
aircraft's second: see BATCH below)."""

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

from helpers.database import TestDatabase
from helpers.refdata import janitor
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
    """Fixes by (aircraft, second) as JSON, the receiver by name (its id is a sequence's,
    in the order receivers were met), and flights without their row times."""
    with database.connect() as c:
        fixes = c.execute("SELECT to_jsonb(f) - 'receiver_id' || jsonb_build_object("
                          "'receiver', r.name) FROM fixes f "
                          "LEFT JOIN receivers r ON r.id = f.receiver_id").fetchall()
        flights = c.execute("SELECT to_jsonb(f) - 'created_at' - 'updated_at' FROM flights f "
                            "ORDER BY id").fetchall()
    return {(r["aircraft_id"], int(datetime.fromisoformat(r["time"]).timestamp())): r
            for (r,) in fixes}, flights


# FEEDS: live, the router takes each feed's chunks (up to 0.2 s of one feed) in the
# order they were handed over; a replay merges the feeds message by message in receive
# time. For an aircraft heard on both feeds at once (the simulator's ADS-B light
# aircraft that also carry a FLARM) the tracker can so meet the other feed's copy of a
# second first, and decide a start or landing a fix earlier or later: their flights
# are compared by aircraft, everyone else's row for row (docs/ingest.md).


def _both_feeds(cfg: SimConfig) -> set[int]:
    """The aircraft ids the simulation sends on OGN and ADS-B both."""
    return {aircraft_id(a.address_type, a.address)
            for a in Simulation(cfg).aircraft if a.ogn is not None and a.adsb is not None}


def _same_copy(a: dict, b: dict) -> bool:
    return (a["source"], a["receiver"], a["time"]) == (b["source"], b["receiver"], b["time"])


def test_replaying_the_raw_archive_gives_the_live_runs_fixes_and_flights(
        database, replay_database, tmp_path):
    cfg = SimConfig(start=datetime.now(timezone.utc), duration_s=600, aircraft=150,
                    beast_aircraft=30, seed=11, airborne_fraction=0.5, aircraft_per_field=30)
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

    live_fixes, live_flights = _rows(database)
    assert len(live_fixes) == summary["fixes_written"] >= 1000
    with database.connect() as c:
        by_source = dict(c.execute("SELECT source, count(*) FROM fixes GROUP BY 1").fetchall())
    assert by_source.get(1, 0) >= 1000 and by_source.get(2, 0) >= 100, by_source  # OGN, ADS-B
    replayed = _replay(replay_database, archive, position)
    assert replayed["accounting"]["messages_in"] == kept["lines"]
    assert replayed["rejected"] == summary["rejected"]
    replay_fixes, replay_flights = _rows(replay_database)
    both = _both_feeds(cfg)
    assert both, "the simulation sends no aircraft on both feeds: FEEDS compares nothing"
    one = [f for (f,) in live_flights if f["aircraft_id"] not in both]
    assert len(one) >= 10
    assert [f for (f,) in replay_flights if f["aircraft_id"] not in both] == one
    assert replay_fixes.keys() == live_fixes.keys()
    # Where the batches were cut does not matter (tests/integration/test_batch_cuts.py):
    # the fixes of aircraft heard on one feed are the same rows, flight ids included.
    assert {k: r for k, r in replay_fixes.items() if k[0] not in both} == \
        {k: r for k, r in live_fixes.items() if k[0] not in both}
    # On both feeds: another copy of a second can win only where there was a duplicate;
    # where the same copy won, the same row (flight id apart: the flights can differ).
    dual = [k for k in live_fixes if k[0] in both]
    other = {k for k in dual if not _same_copy(live_fixes[k], replay_fixes[k])}
    assert len(other) <= summary["rejected"].get("duplicate", 0)
    assert all({**replay_fixes[k], "flight_id": None} == {**live_fixes[k], "flight_id": None}
               for k in dual if k not in other)
    started = {f["id"]: (f["aircraft_id"], datetime.fromisoformat(f["started_at"]).timestamp())
               for (f,) in live_flights + replay_flights}
    for k in dual:
        for fid in {live_fixes[k]["flight_id"], replay_fixes[k]["flight_id"]} - {None}:
            assert started[fid][0] == k[0] and started[fid][1] <= k[1] + 1, (k, fid)
