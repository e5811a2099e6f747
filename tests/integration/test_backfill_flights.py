"""`soar backfill flights`: rebuilding a replayed range from its stored fixes gives the
flights the replay gave (the same tracker code); after damage (flights deleted,
changed or invented, fixes pointing nowhere) it restores exactly those flights and
fixes, touching only what differs; a second run finds nothing to do."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from psycopg import sql

from helpers.pipeline import replay
from soar.backfill import flights as backfill
from soar.reference import samples

SOAR = str(Path(sys.executable).with_name("soar"))
# What a flight is (not its progress marker, see backfill.PROGRESS).
COLUMNS = sql.SQL(", ").join(map(sql.Identifier, ["id", "callsign", *backfill.COMPARED]))


def snapshot(c) -> tuple[dict, dict]:
    rows = {r[0]: r for r in c.execute(
        sql.SQL("SELECT {} FROM flights").format(COLUMNS)).fetchall()}
    tags = dict(((a, t), f) for a, t, f in c.execute(
        "SELECT aircraft_id, time, flight_id FROM fixes").fetchall())
    c.rollback()
    return rows, tags


@pytest.fixture(scope="module")
def part(tmp_path_factory):
    # Ten minutes of the real OGN capture would be too long; its first 40,000 lines
    # are ~25 s of the whole network: hundreds of flights, takeoffs among them.
    lines = samples.path("oneminute.txt").read_text().splitlines()[:40000]
    path = tmp_path_factory.mktemp("rebuild") / "part.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def soar(db, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env["SOAR_DATABASE_URL"] = db.url()
    out = subprocess.run([SOAR, "backfill", "flights", *args], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def numbers(text: str) -> dict:
    keys = ("fixes read", "flights found", "unchanged", "rewritten", "deleted",
            "fixes re-pointed")
    return {k: int(re.search(rf"(\d+) {k}", text).group(1)) for k in keys}


def test_rebuilding_a_replayed_range_gives_the_same_flights_and_repairs_damage(refdb, part):
    stats = replay(refdb, part, "aprs")
    assert stats.fixes_written > 10_000
    with refdb.connect() as c:
        flights, tags = snapshot(c)
        first, last = c.execute("SELECT min(time), max(time) FROM fixes").fetchone()
        c.rollback()
    assert len(flights) > 100
    rng = ["--from", (first - timedelta(minutes=1)).isoformat(),
           "--to", (last + timedelta(minutes=1)).isoformat()]

    # Untouched: the tracker finds exactly the stored flights; no flight is written.
    n = numbers(soar(refdb, *rng))
    assert (n["flights found"], n["unchanged"], n["rewritten"], n["deleted"]) == (
        len(flights), len(flights), 0, 0)
    assert n["fixes read"] == stats.fixes_written
    # Fixes: it re-derives which flight each belongs to, and tags the ones the live
    # path left untagged (a takeoff's confirmation window whose batch was written
    # before the takeoff was confirmed); a few late copies may move to or from a
    # flight's edge. Each new tag is a flight of that aircraft spanning the fix.
    with refdb.connect() as c:
        live_tags, tags = tags, snapshot(c)[1]
        spans = {r[0]: r[1:] for r in c.execute(
            "SELECT id, aircraft_id, started_at, COALESCE(landing_time, timed_out_at) "
            "FROM flights").fetchall()}
    moved = {k: v for k, v in tags.items() if v != live_tags[k]}
    assert len(moved) == n["fixes re-pointed"]
    for (aid, t), fid in moved.items():
        if fid is not None:
            owner, start, end = spans[fid]
            assert owner == aid and start <= t and (end is None or t <= end)

    with refdb.connect() as c:
        with_fixes = [r[0] for r in c.execute(
            "SELECT flight_id FROM fixes WHERE flight_id IS NOT NULL "
            "GROUP BY flight_id ORDER BY flight_id LIMIT 3").fetchall()]
        # The flight whose fixes lose their tag is not written again (its aircraft
        # untouched, no tow), so the re-pointing alone must mend them: a rewritten
        # flight's create tags its untagged window itself.
        hit = [r[0] for r in c.execute(
            "SELECT aircraft_id FROM flights WHERE id = ANY(%s)", (with_fixes,))]
        fourth, fourth_aircraft = c.execute(
            "SELECT f.id, f.aircraft_id FROM flights f WHERE f.aircraft_id <> ALL(%s) "
            "AND f.towed_by_flight_id IS NULL AND EXISTS (SELECT FROM fixes x "
            "WHERE x.flight_id = f.id) ORDER BY f.id LIMIT 1", (hit,)).fetchone()
        with_fixes.append(fourth)
        c.execute("DELETE FROM flights WHERE id = ANY(%s)", (with_fixes[:2],))
        c.execute("UPDATE flights SET last_fix_at = last_fix_at + interval '1 hour', "
                  "end_reason = 'gap' WHERE id = %s", (with_fixes[2],))
        damaged_fixes = c.execute("UPDATE fixes SET flight_id = NULL WHERE flight_id = %s",
                                  (with_fixes[3],)).rowcount
        aid = c.execute("SELECT min(aircraft_id) FROM fixes WHERE aircraft_id <> %s",
                        (fourth_aircraft,)).fetchone()[0]
        # An invented flight (ended, so the aircraft's real active flight stays legal).
        c.execute("INSERT INTO flights (id, aircraft_id, source, started_at, timed_out_at, "
                  "end_reason) VALUES (gen_random_uuid(), %s, 1, %s, %s, 'timeout')",
                  (aid, first + timedelta(seconds=5), first + timedelta(seconds=6)))
        c.commit()

    # An aircraft's flights are written again together: all flights of the four
    # aircraft touched (two deleted, one changed, one given an invented flight).
    owner = 2 + backfill.COMPARED.index("aircraft_id")
    touched = {flights[f][owner] for f in with_fixes[:3]} | {aid}
    rewrite = sum(1 for r in flights.values() if r[owner] in touched)
    dry = numbers(soar(refdb, *rng, "--dry-run"))
    assert (dry["rewritten"], dry["deleted"]) == (rewrite, 1)
    with refdb.connect() as c:
        assert c.execute("SELECT count(*) FROM flights").fetchone()[0] == len(flights) - 1

    done = numbers(soar(refdb, *rng))
    assert (done["unchanged"], done["rewritten"], done["deleted"]) == (
        len(flights) - rewrite, rewrite, 1)
    with refdb.connect() as c:
        after, after_tags = snapshot(c)
    assert after == flights
    assert after_tags == tags
    assert done["fixes re-pointed"] >= damaged_fixes > 0
    # Again: nothing left to do.
    again = numbers(soar(refdb, *rng))
    assert (again["rewritten"], again["deleted"], again["fixes re-pointed"]) == (0, 0, 0)


def test_one_aircraft_only(refdb, part):
    replay(refdb, part, "aprs")
    with refdb.connect() as c:
        aid, fid, first = c.execute(
            "SELECT aircraft_id, id, started_at FROM flights ORDER BY id LIMIT 1").fetchone()
        other = c.execute("SELECT id FROM flights WHERE aircraft_id <> %s LIMIT 1",
                          (aid,)).fetchone()[0]
        c.execute("DELETE FROM flights WHERE id = ANY(%s)", ([fid, other],))
        c.commit()
    address = f"{aid & 0xFFFFFF:06X}"
    out = numbers(soar(refdb, "--from", (first - timedelta(hours=1)).isoformat(),
                       "--to", (first + timedelta(hours=1)).isoformat(), "--aircraft", address))
    assert out["rewritten"] == 1
    with refdb.connect() as c:
        ids = {r[0] for r in c.execute("SELECT id FROM flights").fetchall()}
    assert fid in ids and other not in ids
