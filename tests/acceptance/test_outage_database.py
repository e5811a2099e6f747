"""PostgreSQL down for two minutes drops nothing (issue 22): `soar run` reads the
simulator's feeds on loopback (5,000 APRS lines/s plus a Beast feed) while its database
is stopped for 120 s. The writer fails, its queue and the router's fill, and live data
waits in the disk buffer until the database is back; then it is routed in order, and
the database ends with what an undisturbed replay of the run's raw archive stores. The
shared parts and the comparison: tests/helpers/outage.py."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

from helpers.database import own_cluster
from helpers.outage import (
    AFTER_S,
    BANNER,
    BEAST_AIRCRAFT,
    CEILING_S,
    DB_DOWN_S,
    DURATION_S,
    RATE,
    SOAR,
    Run,
    read_lines,
    same_as_replay,
    wait_for,
)


@pytest.fixture(scope="module")
def cluster():
    """A cluster of its own: the test stops it. One database per run."""
    with own_cluster("soar-outage-db-", ("live_db", "replay_db")) as c:
        yield c


def test_postgresql_down_for_two_minutes_drops_nothing(cluster, tmp_path):
    sim = subprocess.Popen(
        [*SOAR, "simulate", "--serve", "--rate", str(RATE), "--beast-aircraft",
         str(BEAST_AIRCRAFT), "--duration", str(DURATION_S["db"]), "--seed", "22",
         "--airborne-fraction", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SOAR_")})
    sim_err: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(sim.stderr, sim_err), daemon=True).start()
    run = None
    try:
        banner = sim_err.get(timeout=CEILING_S)
        m = BANNER.search(banner or "")
        assert m, banner
        run = Run(cluster, "live_db", tmp_path, int(m[1]), int(m[2]))
        run.writing()
        cluster.stop()
        try:
            down = time.monotonic()
            # The writer fails, its queue and the router's fill: live data goes to disk.
            wait_for(lambda: run.metric("soar_ingest_overflow_messages") > 0,
                     "live chunks in the disk buffer", run.proc)
            time.sleep(max(0.0, DB_DOWN_S - (time.monotonic() - down)))   # the outage itself
        finally:
            cluster.start()
        # Live data after the outage, queued behind the backlog on disk; then the feed ends.
        run.fed_past(run.received() + AFTER_S * RATE, lambda: sim.poll() is not None)
        if sim.poll() is None:
            sim.send_signal(signal.SIGTERM)
        served = json.loads(sim.communicate(timeout=CEILING_S)[0].strip().splitlines()[-1])
        assert sim.returncode == 0
        assert served["served"]["aprs"]["dropped_slow_clients"] == 0
        run.caught_up(served["served"]["aprs"]["lines_sent"],
                      served["served"]["beast"]["frames_sent"])
        summary, err = run.stop()
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
        if run is not None:
            run.kill()
    summary["_archive"] = str(run.archive)
    same_as_replay(cluster, "live_db", "replay_db", summary, err)
