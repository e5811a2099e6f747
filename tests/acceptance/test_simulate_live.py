"""The simulator served live on loopback (an APRS-IS server and a Beast server) and the
real `soar run` reading both, until SIGTERM: the simulated aircraft's fixes are stored,
everything the ingest accepted is in the database, and the clients logged in as
APRS-IS clients do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone

from helpers.wait import wait_until
from soar.simulate import SimConfig, serve

SOAR = [sys.executable, "-m", "soar"]


def test_soar_run_ingests_the_served_simulation(database, conn, tmp_path):
    cfg = SimConfig(start=datetime.now(timezone.utc), duration_s=300, aircraft=150,
                    beast_aircraft=10, seed=9, airborne_fraction=0.5, aircraft_per_field=30)
    ready = threading.Event()
    stop = threading.Event()
    info: dict = {}
    result: dict = {}

    def on_ready(i: dict) -> None:
        info.update(i)
        ready.set()

    server = threading.Thread(target=lambda: result.update(
        serve(cfg, 0, 0, 1.0, tmp_path, stop, on_ready)), daemon=True)
    server.start()
    assert ready.wait(60)
    s, w, n, e = cfg.region            # the Beast receiver's position: the region's centre
    position = [(s + n) / 2, (w + e) / 2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=database.url(), SOAR_INGEST_DATABASE_URL=database.url("ingest"),
               SOAR_ALLOW_OWNER="1")
    proc = subprocess.Popen(
        [*SOAR, "run", "--ogn", f"127.0.0.1:{info['aprs_port']}", "--ogn-filter", "r/49/8/2000",
         "--beast", f"127.0.0.1:{info['beast_port']}",
         "--beast-position", f"{position[0]},{position[1]}", "--stats-interval", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        counts = (0, 0)

        def stored() -> bool:
            nonlocal counts
            if proc.poll() is not None:
                return True                   # exited: the checks below say how
            with database.connect() as c:
                counts = c.execute("SELECT count(*) FILTER (WHERE source = 1), "
                                   "count(*) FILTER (WHERE source = 2) FROM fixes").fetchone()
            return counts[0] >= 1000 and counts[1] >= 100
        wait_until(stored, 240, what="1000 APRS and 100 Beast fixes stored", poll_s=0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        server.join(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert counts[0] >= 1000 and counts[1] >= 100, (counts, err[-2000:])
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["messages"]["aprs"] > 1000 and summary["messages"]["modes"] > 100
    assert summary["dropped_queue_full"] == 0
    stored = conn.execute("SELECT count(*) FROM fixes").fetchone()[0]
    assert stored == summary["fixes_written"] == summary["fixes_accepted"]
    # Only the simulated aircraft, and nothing turned away but repeats, pending CPR, and
    # surveillance replies (DF4/DF5) of aircraft the decoder has not heard yet (a client
    # joins a live feed at any moment).
    truth = [json.loads(x) for x in (tmp_path / "truth.jsonl").read_text().splitlines()]
    simulated = {(r["address_type"], int(r["address"], 16)) for r in truth if r["event"] == "aircraft"}
    stored_ids = {(a >> 24, a & 0xFFFFFF) for (a,) in conn.execute(
        "SELECT DISTINCT aircraft_id FROM fixes")}
    assert stored_ids and stored_ids <= simulated
    rejected = summary["rejected"]
    assert set(rejected) <= {"duplicate", "server_comment", "no_position", "bad_crc"}, rejected
    assert rejected.get("bad_crc", 0) < 0.01 * summary["messages"]["modes"]
    served = result["served"]
    assert served["aprs"]["logins"][0].startswith("user N0CALL pass -1 vers soar ")
    assert served["aprs"]["logins"][0].endswith("filter r/49/8/2000")
    assert served["aprs"]["dropped_slow_clients"] == 0 and served["beast"]["clients"] >= 1
