"""Outages drop nothing (issue 22, the first two "done when" tests): `soar run` reads
the simulator served on loopback (5,000 APRS lines/s plus a Beast feed) while
(a) PostgreSQL is stopped for 120 s in the middle, or (b) the ingest process gets no
CPU for 60 s. What does not fit in memory waits in the disk buffer and is routed, in
order, once there is room; after the feed ends the database holds the same fixes and
flights as an undisturbed replay of what the run received (its raw archive, `soar
replay --format archive`), and nothing was dropped.

The starvation is a SIGSTOP of the `soar run` process for 60 s, then SIGCONT: it takes
the CPU away completely and for exactly that long, while the feed server keeps sending
into the socket (and its own client queue), as a starved host's feeds do. A competing
busy process pinned to the same cores would take only a share the scheduler decides on
a shared machine: it may not starve ingest at all, so the test would not show that the
buffer took the overflow. The 120 s and 60 s are the scenario (outage lengths), not
waits for an event: every wait for an event has a ceiling.

Fixes and flights are compared row for row (the receiver by name: its id is a
sequence's): what is stored depends neither on the router's wall-clock batch cuts
(tests/integration/test_batch_cuts.py) nor on how the feeds' chunks interleaved (the
archive keeps the hand-off order, tests/acceptance/test_archive_replay.py)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time

import pytest

from helpers.database import own_cluster
from helpers.outage import (
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
