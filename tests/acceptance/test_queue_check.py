"""`soar queue check`: the exit code an external monitor reads. It fails while no worker
runs and messages age past the threshold, and passes once `soar worker --drain` has
done them; `soar queue status --json` shows the same view."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import refdata

SOAR = str(Path(sys.executable).with_name("soar"))


def soar(db, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=db.url(), SOAR_READONLY_DATABASE_URL=db.url("readonly"),
               SOAR_WORKER_DATABASE_URL=db.url("worker"))
    env.pop("PELIAS_URL", None)
    return subprocess.run([SOAR, *args], env=env, capture_output=True, text=True, timeout=300)


def status(db) -> dict:
    out = soar(db, "queue", "status", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["queues"]


def test_check_fails_while_messages_age_without_a_worker_and_passes_after_a_drain(
        refdb, data_dir):
    assert soar(refdb, "queue", "check", "--max-age", "1", "--max-depth", "10").returncode == 0
    with refdb.connect() as c:
        for address in ("DDEFF7", "DDAC7C"):       # the two real Königsdorf winch launches
            refdata.add_winch_flight(c, data_dir, address)
    q = status(refdb)["flight_enrichment"]
    assert q["depth"] == 4 and q["in_last_minute"] == 4 and q["out_last_minute"] == 0
    # The messages have waited 10 s without a worker (backdated, not waited for).
    with refdb.connect() as c:
        c.execute("UPDATE pgmq.q_flight_enrichment SET enqueued_at = enqueued_at - interval '10 s'")
    assert status(refdb)["flight_enrichment"]["oldest_age_s"] > 9
    out = soar(refdb, "queue", "check", "--max-age", "1")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stdout.startswith("CRITICAL: flight_enrichment: oldest message")
    assert len(out.stdout.strip().splitlines()) == 1
    depth = soar(refdb, "queue", "check", "--max-depth", "3")
    assert depth.returncode == 1 and "4 messages > 3" in depth.stdout
    assert soar(refdb, "queue", "check", "--max-depth", "4").returncode == 0

    drained = soar(refdb, "worker", "--drain")
    assert drained.returncode == 0, drained.stderr
    q = status(refdb)["flight_enrichment"]
    assert (q["depth"], q["out_last_minute"]) == (0, 4)
    ok = soar(refdb, "queue", "check", "--max-age", "1", "--max-depth", "0", "--max-dead", "0")
    assert ok.returncode == 0 and ok.stdout.startswith("OK:"), ok.stdout + ok.stderr


def test_dead_letters_cross_their_own_threshold(refdb):
    with refdb.connect() as c:
        c.execute("SELECT pgmq.send('flight_enrichment_dead', '{\"flight_id\": \"x\"}'::jsonb)")
    out = soar(refdb, "queue", "check", "--max-dead", "0")
    assert out.returncode == 1 and "flight_enrichment_dead: 1 dead letters > 0" in out.stdout
    assert status(refdb)["flight_enrichment_dead"]["depth"] == 1


def test_check_without_a_threshold_names_the_options(refdb):
    out = soar(refdb, "queue", "check")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--max-age" in out.stderr
