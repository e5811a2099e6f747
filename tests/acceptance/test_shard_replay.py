"""`soar replay --shard K/N` as a user runs it: two shard processes replaying one
simulated recording (OGN with aerotows, ADS-B) at the same time into one database
store exactly what one process stores into another: the same flights (every column
ingest writes), the same fixes (none twice, none lost), receivers and aircraft; each
shard's accounting balances, and summed over the shards every outcome but
`other_shard` is the single process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from psycopg import sql
from pytest_postgresql.janitor import DatabaseJanitor

from helpers.database import TestDatabase
from soar.db import embedded
from soar.ingest.shard import shard_of_address
from soar.simulate import Profile, SimConfig, record

# Enough aerotows that several pair a glider and a tow plane of different shards
# (asserted below), short flights so most land within the recording.
SIM = SimConfig(start=datetime(2024, 6, 15, 9, 0, tzinfo=timezone.utc), duration_s=1100,
                aircraft=100, beast_aircraft=8, seed=5, airborne_fraction=0.0,
                gliders_per_tow_plane=2,
                profile=Profile(glider_flight_s=(300.0, 700.0), powered_flight_s=(300.0, 700.0),
                                wait_s=(30.0, 300.0)))

# What ingest writes; not updated_at/created_at (the wall clock of the write) nor the
# enrichment columns (the worker's, not running here).
FLIGHT_COLUMNS = (
    "id", "aircraft_id", "source", "callsign", "started_at", "takeoff_time", "takeoff_latitude",
    "takeoff_longitude", "takeoff_altitude_m", "landing_time", "landing_latitude",
    "landing_longitude", "landing_altitude_m", "last_fix_at", "last_latitude", "last_longitude",
    "timed_out_at", "end_reason", "spurious_reason", "towed_by_flight_id",
    "towed_by_aircraft_id", "tow_release_time", "tow_release_altitude_m")
# Receivers named only by fixes get the wall clock of their first write as first/last
# seen (soar/ingest/writer.py), so those two differ between any two runs.
RECEIVER_COLUMNS = ("name", "latitude", "longitude", "altitude_m", "version", "platform",
                    "status")
# Not first_seen: when an aircraft's row changes twice within one batch (its OGN and
# its ADS-B fix disagree on the type), the batch keeps the later row, whose time
# becomes first_seen: batch timing decides it, in one process too.
AIRCRAFT_COLUMNS = ("id", "address", "address_type", "aircraft_type", "category",
                    "registration", "callsign", "model", "last_seen", "tracked")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("shard-sim")
    record(SIM, out)
    return out


@contextmanager
def _another_database(pg_cluster, db_template):
    name = f"soar_shard_{uuid.uuid4().hex[:10]}"
    with DatabaseJanitor(user=embedded.SUPERUSER, host=str(pg_cluster.rundir),
                         port=pg_cluster.port, dbname=name, template_dbname=db_template):
        yield TestDatabase(pg_cluster, name)


def _replay(database, recording, spool, *shard: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=database.url(), SOAR_INGEST_DATABASE_URL=database.url("ingest"),
               SOAR_SPOOL_DIR=str(spool))
    # A busy machine may take longer than the default 30 s to write the last batches:
    # nothing may be spooled here.
    args = [sys.executable, "-m", "soar", "replay", str(recording), "--format", "sim", "--json",
            "--shutdown-deadline", "600"]
    if shard:
        args += ["--shard", shard[0]]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _summary(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out)


def _rows(conn, query) -> list:
    return conn.execute(query).fetchall()


def _table(table: str, columns: tuple[str, ...]) -> sql.Composed:
    """Every row of `table` (those columns), ordered by the first."""
    return sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table),
        sql.Identifier(columns[0]))


def test_two_shards_store_exactly_what_one_process_stores(
        database, pg_cluster, db_template, recording, tmp_path):
    one = _summary(_replay(database, recording, tmp_path / "spool-one"))
    with _another_database(pg_cluster, db_template) as sharded:
        # Both at the same time, into the same database.
        procs = [_replay(sharded, recording, tmp_path / "spool-shards", f"{k}/2") for k in (0, 1)]
        shards = [_summary(p) for p in procs]
        with database.connect() as a, sharded.connect() as b:
            flights = _table("flights", FLIGHT_COLUMNS)
            fa, fb = _rows(a, flights), _rows(b, flights)
            # By aircraft and second: de-duplication keeps one fix per aircraft per
            # second, the best heard while its batch is open, so which copy (OGN or
            # ADS-B, which receiver) depends on batch timing, in one process too.
            fixes = ("SELECT aircraft_id, date_trunc('second', time), count(*) FROM fixes "
                     "GROUP BY 1, 2 ORDER BY 1, 2")
            xa, xb = _rows(a, fixes), _rows(b, fixes)
            receivers = _table("receivers", RECEIVER_COLUMNS)
            ra, rb = _rows(a, receivers), _rows(b, receivers)
            aircraft = _table("aircraft", AIRCRAFT_COLUMNS)
            aa, ab = _rows(a, aircraft), _rows(b, aircraft)
            tows = _rows(a, "SELECT g.aircraft_id, g.towed_by_aircraft_id FROM flights g "
                            "WHERE g.towed_by_flight_id IS NOT NULL")

    # The recording is what the test needs: aerotows split across the shards, ADS-B.
    split = [(g, t) for g, t in tows
             if shard_of_address(g & 0xFFFFFF, 2) != shard_of_address(t & 0xFFFFFF, 2)]
    assert len(tows) >= 10 and len(split) >= 3, (len(tows), len(split))
    assert one["messages"]["modes"] > 10_000 and any(r[2] == 2 for r in fa)   # ADS-B flights
    assert sum(s["shadow_flight_ops"] for s in shards) >= len(split)

    # The same rows.
    assert len(fa) > 50 and fa == fb
    assert xa == xb and all(n == 1 for *_, n in xb)
    assert sum(n for *_, n in xa) == one["accounting"]["fixes_stored"]
    assert ra == rb and len(ra) > 5
    assert aa == ab

    # Each process's accounting balances; summed over the shards every outcome but the
    # other shards' messages is the single process's.
    acc = [one["accounting"]] + [s["accounting"] for s in shards]
    for a in acc:
        assert a["balanced"] and a["in_flight"] == 0 and a["spooled"] == 0
        assert a["messages_in"] == (a["fixes_stored"] + a["receiver_beacons"] + a["state_only"]
                                    + sum(a["rejected"].values()) + sum(a["dropped"].values()))
    a1, s0, s1 = acc
    assert s0["messages_in"] == s1["messages_in"] == a1["messages_in"]
    for key in ("fixes_stored", "receiver_beacons", "state_only"):
        assert s0[key] + s1[key] == a1[key], key
    assert Counter(s0["rejected"]) + Counter(s1["rejected"]) == Counter(a1["rejected"])
    other = [s["dropped"].pop("other_shard") for s in (s0, s1)]
    assert s0["dropped"] == s1["dropped"] == a1["dropped"] == {}
    # Every message is one shard's: what one shard drops as another's, the other keeps.
    assert other[0] == s1["messages_in"] - other[1] and other[1] == s0["messages_in"] - other[0]
    assert one["flights"] == dict(Counter(shards[0]["flights"]) + Counter(shards[1]["flights"]))
