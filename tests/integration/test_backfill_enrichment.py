"""`soar backfill enrichment`: failed, lost and incomplete flight ends are re-enqueued
once (a re-run adds nothing while they wait), dead letters are replaced rather than
duplicated, a dry run changes nothing, and the worker then completes them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import refdata

SOAR = str(Path(sys.executable).with_name("soar"))


def soar(db, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=db.url(), SOAR_WORKER_DATABASE_URL=db.url("worker"))
    env.pop("PELIAS_URL", None)
    out = subprocess.run([SOAR, *args], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out


def enqueued(out) -> int:
    return int(re.search(r"enqueue[d]? (\d+) message", out.stdout).group(1))


def queues(c) -> tuple[int, int]:
    return (c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0],
            c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment_dead").fetchone()[0])


def test_backfill_requeues_each_damaged_end_once_and_the_worker_repairs_it(refdb, data_dir):
    with refdb.connect() as c:
        a = refdata.add_winch_flight(c, data_dir, "DDEFF7")
        b = refdata.add_winch_flight(c, data_dir, "DDAC7C")
    soar(refdb, "worker", "--drain")
    with refdb.connect() as c:
        assert queues(c) == (0, 0)
        good = c.execute("SELECT takeoff_runway, landing_runway, start_location_id "
                         "FROM flights WHERE id = %s", (b,)).fetchone()
        assert good[0] is not None and good[2] is not None
        # Nothing to do on a healthy database.
        assert enqueued(soar(refdb, "backfill", "enrichment")) == 0
        # Damage: A's landing failed (a dead letter waits); B's takeoff runway is gone
        # (done without it); B's landing message was lost (pending, nothing queued).
        c.execute("UPDATE flights SET landing_enrichment = 'failed' WHERE id = %s", (a,))
        c.execute("SELECT pgmq.send('flight_enrichment_dead', jsonb_build_object("
                  "'flight_id', %s::text, 'event', 'landing', 'error', 'test'))", (a,))
        c.execute("UPDATE flights SET takeoff_runway = NULL, landing_enrichment = 'pending' "
                  "WHERE id = %s", (b,))
        c.commit()
        assert queues(c) == (0, 1)

    dry = soar(refdb, "backfill", "enrichment", "--dry-run")
    assert enqueued(dry) == 3 and "1 dead letter(s) replaced" in dry.stdout
    assert "2 flights looked at" in dry.stdout
    with refdb.connect() as c:
        assert queues(c) == (0, 1)                                  # a dry run changes nothing

    # --missing location: B's missing runway is not asked for; failed and lost ends are.
    assert enqueued(soar(refdb, "backfill", "enrichment", "--missing", "location",
                         "--dry-run")) == 2
    # A range without these flights (2016 and 2019) touches nothing.
    assert "0 flights looked at" in soar(refdb, "backfill", "enrichment", "--since",
                                         "2017-01-01T00:00:00", "--until",
                                         "2019-01-01T00:00:00").stdout

    out = soar(refdb, "backfill", "enrichment")
    assert enqueued(out) == 3
    with refdb.connect() as c:
        assert queues(c) == (3, 0)
        events = sorted(c.execute("SELECT message->>'flight_id', message->>'event' "
                                  "FROM pgmq.q_flight_enrichment").fetchall())
        assert events == sorted([(str(a), "landing"), (str(b), "takeoff"), (str(b), "landing")])
        assert c.execute("SELECT landing_enrichment FROM flights WHERE id = %s",
                         (a,)).fetchone()[0] == "pending"
    # Re-run while they wait: nothing more (never a second message for one end).
    assert enqueued(soar(refdb, "backfill", "enrichment")) == 0
    with refdb.connect() as c:
        assert queues(c) == (3, 0)

    soar(refdb, "worker", "--drain")
    with refdb.connect() as c:
        assert queues(c) == (0, 0)
        assert c.execute("SELECT takeoff_runway, landing_runway, start_location_id FROM flights "
                         "WHERE id = %s", (b,)).fetchone() == good
        assert c.execute("SELECT count(*) FROM flights WHERE takeoff_enrichment <> 'done' "
                         "OR landing_enrichment <> 'done'").fetchone()[0] == 0
    assert enqueued(soar(refdb, "backfill", "enrichment")) == 0
