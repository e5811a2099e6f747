"""Ingest without CPU for a minute drops nothing (issue 22): `soar run` reads the
simulator's feeds on loopback (5,000 APRS lines/s plus a Beast feed) and is stopped
(SIGSTOP) for 60 s, then continued. It wakes with a socket full of data, more than the
router queue holds: the rest waits in the disk buffer and comes back in order, and the
database ends with what an undisturbed replay of the run's raw archive stores.

A SIGSTOP takes the CPU away completely and for exactly that long, while the feed server
keeps sending into the socket (and its own client queue), as a starved host's feeds do.
A competing busy process pinned to the same cores would take only a share the scheduler
decides on a shared machine: it may not starve ingest at all, so the test would not
show that the buffer took the overflow. The shared parts and the comparison:
tests/helpers/outage.py."""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime, timezone

import pytest

from helpers.database import new_database
from helpers.outage import (
    AFTER_S,
    BEAST_AIRCRAFT,
    CEILING_S,
    DURATION_S,
    RATE,
    STOPPED_S,
    Run,
    same_as_replay,
    wait_for,
)
from soar.simulate import SimConfig, serve


@pytest.fixture
def live_and_replay(pg_cluster, db_template):
    """One database per run, on the session's cluster (this scenario stops ingest, not
    the server; the database scenario's own cluster is another)."""
    with new_database(pg_cluster, db_template, "soar_outage_live") as live, \
            new_database(pg_cluster, db_template, "soar_outage_replay") as replayed:
        yield live.name, replayed.name


def test_ingest_without_cpu_for_a_minute_drops_nothing(pg_cluster, live_and_replay, tmp_path):
    live_db, replay_db = live_and_replay
    cfg = SimConfig(start=datetime.now(timezone.utc), duration_s=DURATION_S["cpu"], rate=RATE,
                    beast_aircraft=BEAST_AIRCRAFT, seed=23, airborne_fraction=0.5)
    ready, stop = threading.Event(), threading.Event()
    info: dict = {}
    served: dict = {}
    # The server keeps a client's unsent data for longer than the stop (the command's
    # default keeps 30 s, as APRS-IS cuts a client that far behind).
    server = threading.Thread(
        target=lambda: served.update(serve(cfg, 0, 0, 1.0, None, stop,
                                           lambda i: (info.update(i), ready.set()),
                                           client_queue_s=STOPPED_S * 3)),
        daemon=True)
    server.start()
    assert ready.wait(CEILING_S)
    run = Run(pg_cluster, live_db, tmp_path, info["aprs_port"], info["beast_port"])
    try:
        run.writing()
        before = run.received()
        run.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(STOPPED_S)                                   # the starvation itself
        finally:
            run.proc.send_signal(signal.SIGCONT)
        # Woken with a socket full of data: more than the router queue holds at once.
        wait_for(lambda: run.metric("soar_ingest_overflow_in_total") > 0,
                 "live chunks in the disk buffer", run.proc)
        # The data of the stop, then live data after it; then the feed ends.
        run.fed_past(before + (STOPPED_S + AFTER_S) * RATE, lambda: not server.is_alive())
        stop.set()
        server.join(CEILING_S)
        assert not server.is_alive()
        assert served["served"]["aprs"]["dropped_slow_clients"] == 0
        run.caught_up(served["served"]["aprs"]["lines_sent"],
                      served["served"]["beast"]["frames_sent"])
        summary, err = run.stop()
    finally:
        stop.set()
        run.kill()
    summary["_archive"] = str(run.archive)
    same_as_replay(pg_cluster, live_db, replay_db, summary, err)
