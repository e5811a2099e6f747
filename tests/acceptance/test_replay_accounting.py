"""`soar replay` as a user runs it: its JSON accounts for every message of the real
one-minute OGN capture (the issue's "done when")."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from soar.reference import samples


def test_replay_json_accounts_for_every_message(database, conn):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=database.url(), SOAR_INGEST_DATABASE_URL=database.url("ingest"))
    out = subprocess.run([sys.executable, "-m", "soar", "replay", str(samples.path("oneminute.txt")),
                          "--format", "aprs", "--json"], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    a = json.loads(out.stdout)["accounting"]
    assert a["messages_in"] == 88565 and a["balanced"] and a["in_flight"] == 0
    assert a["messages_in"] == (a["fixes_stored"] + a["receiver_beacons"] + a["state_only"]
                                + sum(a["rejected"].values()) + sum(a["dropped"].values()))
    assert a["fixes_stored"] == conn.execute("SELECT count(*) FROM fixes").fetchone()[0] > 60_000


def test_replay_text_summary_says_whether_it_balanced(database, data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=database.url(), SOAR_INGEST_DATABASE_URL=database.url("ingest"))
    beast = data_dir / "beast" / "ulss7-2018-04-03.beast"
    out = subprocess.run([sys.executable, "-m", "soar", "replay", str(beast), "--format", "beast",
                          "--text"], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith(f"{beast}: 13954 messages in ") and line.endswith("; balanced"), line
    assert "fixes stored" in line and "{" not in line.split(":", 1)[0]
