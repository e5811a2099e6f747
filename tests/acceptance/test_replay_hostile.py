"""`soar replay` of a real recording with hostile-length lines in front (issue 21's
"done when"): every good fix is stored, exactly as in the undisturbed run, and each
hostile line is counted with its reason (rejected, or stored with the over-long text
dropped or cut), so messages in equal the file's lines."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid

import pytest

from helpers.database import TestDatabase, _janitor
from soar.reference import samples

LINES = 6000                      # the first lines of the real one-minute capture
STAMP = "2020-05-30 11:04:52.431806: "
HOSTILE_ADDRESSES = (0xDDFFF1, 0xDDFFF2)


def long_text(rng: random.Random, n: int | None = None) -> str:
    """Incompressible: random letters and digits, 4,000-6,000 of them."""
    return "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                               k=n or rng.randint(4000, 6000)))


def hostile_lines(rng: random.Random) -> list[tuple[str, str]]:
    """(line, what it must count as)."""
    pos = "/110444h5109.77N\\00740.38E^353/052/A=007810"
    rx = "/110452h4827.52NI01155.89E&/A=001397"
    return [
        # the line: a receiver name of 6,000 characters (btree row limit: 54000)
        (f"{STAMP}FLRD0058A>APRS,qAS,{long_text(rng, 6000)}:{pos} id22D0058A +653fpm",
         "too_long"),
        (f"{STAMP}{long_text(rng)}>APRS,TCPIP*,qAC,GLIDERN1:{rx} v0.2.8.RPI-GPU CPU:0.3",
         "too_long"),
        (f"{STAMP}{long_text(rng)}>APRS,TCPIP*,qAC,GLIDERN1:>110452h v0.2.8.RPI-GPU CPU:0.3",
         "too_long"),
        # names of an aircraft the recording does not have: stored without them
        (f"{STAMP}FLRDDFFF1>APRS,qAS,EDKW:{pos} id06DDFFF1 +100fpm reg{long_text(rng)}",
         "stored"),
        (f"{STAMP}FLRDDFFF2>APRS,qAS,EDKW:{pos} id06DDFFF2 model{long_text(rng)} "
         f"fn{long_text(rng)}", "stored"),
        # a receiver's own texts: the beacon stored with them cut
        (f"{STAMP}HOSTILE1>APRS,TCPIP*,qAC,GLIDERN1:{rx} v0{long_text(rng)} "
         f"RF:{long_text(rng)} {long_text(rng)}", "beacon"),
        # a line of junk with a readable time, and lines without one
        (f"{STAMP}{long_text(rng)}", "parse_error"),
        (long_text(rng), "unreadable"),
        ("no time prefix here", "unreadable"),
    ]


@pytest.fixture
def other_database(pg_cluster, db_template):
    name = f"soar_test_{uuid.uuid4().hex[:10]}"
    with _janitor(pg_cluster, name, template_dbname=db_template):
        yield TestDatabase(pg_cluster, name)


def replay(database, path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=database.url(), SOAR_INGEST_DATABASE_URL=database.url("ingest"))
    out = subprocess.run([sys.executable, "-m", "soar", "replay", str(path), "--format", "aprs",
                          "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return json.loads(out.stdout)


def test_hostile_length_lines_in_front_of_a_real_recording_cost_no_good_fix(
        database, other_database, tmp_path):
    with open(samples.path("oneminute.txt"), encoding="utf-8") as f:
        good = [next(f) for _ in range(LINES)]
    clean = tmp_path / "clean.txt"
    clean.write_text("".join(good))
    hostile = hostile_lines(random.Random(21))
    poisoned = tmp_path / "poisoned.txt"
    poisoned.write_text("".join(line + "\n" for line, _ in hostile) + "".join(good))

    undisturbed = replay(database, clean)
    result = replay(other_database, poisoned)
    a0, a = undisturbed["accounting"], result["accounting"]
    assert a0["balanced"] and a["balanced"] and a["in_flight"] == 0
    assert a["messages_in"] == LINES + len(hostile)           # every line counted
    assert a0["messages_in"] == LINES

    def fixes(db, hostile_only: bool):
        with db.connect() as c:
            return c.execute(
                "SELECT count(*) FROM fixes f JOIN aircraft a ON a.id = f.aircraft_id"
                " WHERE (a.address = ANY(%s)) = %s", (list(HOSTILE_ADDRESSES), hostile_only)
            ).fetchone()[0]

    stored = fixes(database, False)
    assert stored > 3000 and stored == a0["fixes_stored"]
    assert fixes(other_database, False) == stored             # every good fix, exactly
    assert fixes(other_database, True) == 2                   # the two hostile aircraft's
    assert a["fixes_stored"] == stored + 2
    expected = {}
    for _, what in hostile:
        if what not in ("stored", "beacon"):
            expected[what] = expected.get(what, 0) + 1
    for reason, n in expected.items():
        assert a["rejected"].get(reason, 0) - a0["rejected"].get(reason, 0) == n, (reason, a)
    assert a["receiver_beacons"] == a0["receiver_beacons"] + 1
    cleaned = result["cleaned"]
    for field in ("registration_too_long", "model_too_long", "callsign_too_long",
                  "version_truncated", "rf_truncated", "comment_truncated"):
        assert any(field in key for key in cleaned), (field, cleaned)
    with other_database.connect() as c:
        assert c.execute("SELECT registration, model, callsign FROM aircraft"
                         " WHERE address = ANY(%s)", (list(HOSTILE_ADDRESSES),)).fetchall() == [
            (None, None, None)] * 2
        version, status = c.execute("SELECT version, status FROM receivers"
                                    " WHERE name = 'HOSTILE1'").fetchone()
        assert len(version) == 32 and len(status["rf"]) == 256 and len(status["comment"]) == 256
        assert c.execute("SELECT count(*) FROM ingest_quarantine").fetchone()[0] == 0
